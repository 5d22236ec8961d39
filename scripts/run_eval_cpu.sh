#!/usr/bin/env bash
# Usage: bash scripts/run_eval_cpu.sh ACLIMDB_PATH [GLOVE_PATH] CHECKPOINT_PATH [--key value ...]
# Test accuracy of a checkpoint on CPU; log in eval.log beside the checkpoint. Pass the
# training run's settings too, e.g. --config_path RUN_DIR/config.yaml.
set -euo pipefail
source "$(dirname "$0")/common.sh"
run_eval CPU default_config.yaml "$@"
