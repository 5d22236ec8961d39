#!/usr/bin/env bash
# Usage: bash scripts/run_distribute_train_gpu.sh DEVICE_NUM ACLIMDB_PATH [GLOVE_PATH] [--key value ...]
# Data-parallel training on DEVICE_NUM GPUs of this host with msrun (one worker per GPU, each
# on the GPU msrun exports as DEVICE_ID; restrict with CUDA_VISIBLE_DEVICES). Rank 0 writes
# checkpoints into ./train_distribute_gpu (or $RUN_DIR); logs in RUN_DIR/logs/worker_N.log.
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/msrun_common.sh"
run_msrun GPU default_config.yaml "$@"
