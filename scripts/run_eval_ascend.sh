#!/usr/bin/env bash
# Usage: bash scripts/run_eval_ascend.sh DEVICE_ID DATA [GLOVE_PATH] CHECKPOINT_PATH [--key value ...]
# Test accuracy of a checkpoint on Ascend; log in eval.log beside the checkpoint. As the
# original's DEVICE_ID PREPROCESS_DIR CKPT_FILE: DATA may be the preprocessed folder training
# wrote (PREPROCESS_PATH/<hash>, holding meta.json) or the aclImdb folder / archive. The run's
# config.yaml beside the checkpoint supplies its settings (--config_path FILE overrides).
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ $# -gt 0 ] || fail "missing DEVICE_ID; see the usage line at the top of the script"
select_device Ascend "$1"; shift
run_eval Ascend config_ascend.yaml "$@"
