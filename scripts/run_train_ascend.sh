#!/usr/bin/env bash
# Usage: bash scripts/run_train_ascend.sh DEVICE_ID ACLIMDB_PATH [GLOVE_PATH] [--key value ...]
# Trains on Ascend with config_ascend.yaml into ./train_ascend (or $RUN_DIR); log in train.log there.
# GLOVE_PATH (a glove*.txt(.gz) file or its folder) is optional: without it the embeddings are
# word2vec vectors trained on the reviews.
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ $# -gt 0 ] || fail "missing DEVICE_ID; see the usage line at the top of the script"
select_device Ascend "$1"; shift
run_train Ascend config_ascend.yaml "$@"
