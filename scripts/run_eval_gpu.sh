#!/usr/bin/env bash
# Usage: bash scripts/run_eval_gpu.sh DEVICE_ID DATA [GLOVE_PATH] CHECKPOINT_PATH [--key value ...]
# Test accuracy of a checkpoint on GPU DEVICE_ID (exported as CUDA_VISIBLE_DEVICES, as the
# original does, unless a scheduler set CUDA_VISIBLE_DEVICES: then DEVICE_ID counts among
# those); log in eval.log beside the checkpoint. DATA: the aclImdb folder / archive, or a
# preprocessed folder. The run's config.yaml beside the checkpoint supplies its settings.
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ $# -gt 0 ] || fail "missing DEVICE_ID; see the usage line at the top of the script"
select_device GPU "$1"; shift
run_eval GPU default_config.yaml "$@"
