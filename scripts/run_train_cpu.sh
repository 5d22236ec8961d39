#!/usr/bin/env bash
# Usage: bash scripts/run_train_cpu.sh ACLIMDB_PATH [GLOVE_PATH] [--key value ...]
# Trains on CPU with default_config.yaml into ./train_cpu (or $RUN_DIR); log in train.log there.
# GLOVE_PATH (a glove*.txt(.gz) file or its folder) is optional: without it the embeddings are
# word2vec vectors trained on the reviews.
set -euo pipefail
source "$(dirname "$0")/common.sh"
run_train CPU default_config.yaml "$@"
