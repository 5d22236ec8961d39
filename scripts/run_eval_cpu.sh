#!/usr/bin/env bash
# Usage: bash scripts/run_eval_cpu.sh DATA [GLOVE_PATH] CHECKPOINT_PATH [--key value ...]
# Test accuracy of a checkpoint on CPU; log in eval.log beside the checkpoint. DATA: the
# aclImdb folder / archive, or a preprocessed folder. The run's config.yaml beside the
# checkpoint supplies its settings (--config_path FILE overrides).
set -euo pipefail
source "$(dirname "$0")/common.sh"
run_eval CPU default_config.yaml "$@"
