#!/usr/bin/env bash
# Usage: bash scripts/run_distribute_train_cpu.sh WORKER_NUM ACLIMDB_PATH [GLOVE_PATH] [--key value ...]
# Data-parallel training on this host's CPU with msrun: WORKER_NUM processes, each reading its
# shard of the training data, gradients averaged. Rank 0 writes checkpoints and metrics into
# ./train_distribute_cpu (or $RUN_DIR); every worker logs to RUN_DIR/logs/worker_N.log.
# --batch_size is per worker: the global batch is WORKER_NUM x batch_size.
# MASTER_PORT picks msrun's port (default: a free one).
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/msrun_common.sh"
run_msrun CPU default_config.yaml "$@"
