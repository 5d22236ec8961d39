#!/usr/bin/env bash
# Usage: bash scripts/run_train_gpu.sh DEVICE_ID ACLIMDB_PATH [GLOVE_PATH] [--key value ...]
# Trains on GPU DEVICE_ID (exported as CUDA_VISIBLE_DEVICES, as the original does, unless a
# scheduler set CUDA_VISIBLE_DEVICES: then DEVICE_ID counts among those) with
# default_config.yaml into ./train_gpu (or $RUN_DIR); log in train.log there.
# GLOVE_PATH (a glove*.txt(.gz) file or its folder) is optional: without it the embeddings are
# word2vec vectors trained on the reviews.
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ $# -gt 0 ] || fail "missing DEVICE_ID; see the usage line at the top of the script"
select_device GPU "$1"; shift
run_train GPU default_config.yaml "$@"
