#!/usr/bin/env bash
# Usage: bash scripts/run_pretrain_gpu.sh DEVICE_ID ACLIMDB_PATH UNLABELLED_PATH [--key value ...]
# Pretrains the encoder as a language model on the training reviews and the unlabelled ones
# (aclImdb/train/unsup) into ./pretrain_gpu (or $RUN_DIR); log in pretrain.log there. Then:
#   bash scripts/run_train_gpu.sh ... --encoder_checkpoint pretrain_gpu/encoder.ckpt
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ $# -gt 0 ] || fail "missing DEVICE_ID; see the usage line at the top of the script"
select_device GPU "$1"; shift
run_pretrain GPU default_config.yaml "$@"
