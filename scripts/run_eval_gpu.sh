#!/usr/bin/env bash
# Usage: bash scripts/run_eval_gpu.sh DEVICE_ID ACLIMDB_PATH [GLOVE_PATH] CHECKPOINT_PATH [--key value ...]
# Test accuracy of a checkpoint on GPU; log in eval.log beside the checkpoint. Pass the
# training run's settings too, e.g. --config_path RUN_DIR/config.yaml.
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ $# -gt 0 ] || fail "missing DEVICE_ID; see the usage line at the top of the script"
DEVICE_ID="$1"; shift
export DEVICE_ID
run_eval GPU default_config.yaml "$@"
