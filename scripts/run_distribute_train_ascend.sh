#!/usr/bin/env bash
# Usage: bash scripts/run_distribute_train_ascend.sh DEVICE_NUM VISIBLE_DEVICES RANK_TABLE_FILE ACLIMDB_PATH [GLOVE_PATH] [--key value ...]
#   e.g. bash scripts/run_distribute_train_ascend.sh 8 0,1,2,3,4,5,6,7 /path/hccl_8p.json ./aclImdb ./glove
# As the original: one train.py per device with RANK_TABLE_FILE, RANK_ID, DEVICE_ID exported,
# config_ascend_8p.yaml. Pass RANK_TABLE_FILE "msrun" to start the workers with msrun instead.
# Rank 0 writes checkpoints into ./train_parallel (or $RUN_DIR); rank N logs to
# RUN_DIR/logs/train_rank_N.log.
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/msrun_common.sh"
[ $# -ge 4 ] || fail "need DEVICE_NUM VISIBLE_DEVICES RANK_TABLE_FILE ACLIMDB_PATH; see the usage line"
DEVICE_NUM="$1"; VISIBLE="$2"; TABLE="$3"; shift 3
[[ "$DEVICE_NUM" =~ ^[1-9][0-9]*$ ]] || fail "DEVICE_NUM must be a positive number, got '$DEVICE_NUM'"
IFS=',' read -r -a DEVICES <<< "$VISIBLE"
[ "${#DEVICES[@]}" -ge "$DEVICE_NUM" ] || fail "VISIBLE_DEVICES '$VISIBLE' lists fewer than $DEVICE_NUM devices"
if [ "$TABLE" = "msrun" ]; then
  export ASCEND_RT_VISIBLE_DEVICES="$VISIBLE"
  run_msrun Ascend config_ascend_8p.yaml "$DEVICE_NUM" "$@"
  exit 0
fi
need_path "RANK_TABLE_FILE" "$TABLE"
DATA="${1:-}"; shift || true
need_path "aclImdb path" "$DATA"
GLOVE=()
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
  need_path "GloVe path" "$1"
  GLOVE=(--embedding glove --glove_path "$(find_glove "$1")") || exit 2
  shift
fi
RUN_DIR="${RUN_DIR:-$ROOT/train_parallel}"
mkdir -p "$RUN_DIR/logs" 2>/dev/null || fail "cannot create $RUN_DIR/logs; set RUN_DIR to a writable place"
export RANK_TABLE_FILE="$(realpath "$TABLE")" RANK_SIZE="$DEVICE_NUM"
PIDS=()
for ((i = 0; i < DEVICE_NUM; i++)); do
  (cd "$ROOT" && RANK_ID="$i" DEVICE_ID="${DEVICES[$i]}" "$PYTHON" train.py \
    --config_path "$ROOT/config_ascend_8p.yaml" --run_distribute True --device_num "$DEVICE_NUM" \
    --device_target Ascend --aclimdb_path "$(realpath "$DATA")" --ckpt_path "$RUN_DIR" \
    "${GLOVE[@]}" "$@") > "$RUN_DIR/logs/train_rank_$i.log" 2>&1 &
  PIDS+=($!)
  echo "rank $i on device ${DEVICES[$i]}: log $RUN_DIR/logs/train_rank_$i.log"
done
STATUS=0
for pid in "${PIDS[@]}"; do wait "$pid" || STATUS=2; done
if [ "$STATUS" -ne 0 ]; then
  ERR="$(grep -h -m1 '^error:' "$RUN_DIR"/logs/train_rank_*.log | head -n 1)"
  echo "${ERR:-error: a rank failed; see $RUN_DIR/logs/train_rank_*.log}" >&2
  exit 2
fi
echo "checkpoints (rank 0): $RUN_DIR"
