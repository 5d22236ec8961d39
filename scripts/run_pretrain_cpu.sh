#!/usr/bin/env bash
# Usage: bash scripts/run_pretrain_cpu.sh ACLIMDB_PATH UNLABELLED_PATH [--key value ...]
# Pretrains the encoder as a language model on the training reviews and the unlabelled ones
# (aclImdb/train/unsup) into ./pretrain_cpu (or $RUN_DIR); log in pretrain.log there. Then:
#   bash scripts/run_train_cpu.sh ... --encoder_checkpoint pretrain_cpu/encoder.ckpt
set -euo pipefail
source "$(dirname "$0")/common.sh"

run_pretrain CPU default_config.yaml "$@"
