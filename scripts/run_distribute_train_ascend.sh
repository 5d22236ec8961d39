#!/usr/bin/env bash
# Usage: bash scripts/run_distribute_train_ascend.sh RANK_TABLE_FILE DEVICE_NUM ACLIMDB_PATH [GLOVE_PATH] [--key value ...]
#   e.g. bash scripts/run_distribute_train_ascend.sh /path/hccl_8p.json 8 ./aclImdb ./glove
# As the original: one train.py per device with RANK_TABLE_FILE, RANK_SIZE, RANK_ID=i and
# DEVICE_ID=i exported, config_ascend_8p.yaml. Pass RANK_TABLE_FILE "msrun" to start the
# workers with msrun instead (no rank table; NODE_NUM / NODE_RANK / MASTER_ADDR / MASTER_PORT
# as in run_distribute_train_cpu.sh for several hosts).
# Rank 0 writes checkpoints into ./train_parallel (or $RUN_DIR); rank N logs to
# RUN_DIR/logs/train_rank_N.log. When one rank fails, the others are stopped (they would wait
# in HCCL for it forever) and its last error line is printed.
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/msrun_common.sh"
[ $# -ge 3 ] || fail "need RANK_TABLE_FILE DEVICE_NUM ACLIMDB_PATH; see the usage line"
TABLE="$1"; DEVICE_NUM="$2"; shift 2
[[ "$DEVICE_NUM" =~ ^[1-9][0-9]*$ ]] || fail "DEVICE_NUM must be a positive number, got '$DEVICE_NUM'"
if [ "$TABLE" = "msrun" ]; then
  RUN_DIR="${RUN_DIR:-$ROOT/train_parallel}" run_msrun Ascend config_ascend_8p.yaml "$DEVICE_NUM" "$@"
  exit 0
fi
need_path "RANK_TABLE_FILE" "$TABLE"
DATA="${1:-}"; shift || true
need_path "aclImdb path" "$DATA"
take_glove "$@"
shift "$GLOVE_WORDS"
RUN_DIR="${RUN_DIR:-$ROOT/train_parallel}"
mkdir -p "$RUN_DIR/logs" 2>/dev/null || fail "cannot create $RUN_DIR/logs; set RUN_DIR to a writable place"
export RANK_TABLE_FILE="$(realpath "$TABLE")" RANK_SIZE="$DEVICE_NUM"

PIDS=()
stop_ranks() {  # SIGTERM to every rank still running, SIGKILL after 10 s
  local pid
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 20); do
    local alive=0
    for pid in ${PIDS[@]+"${PIDS[@]}"}; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.5
  done
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do wait "$pid" 2>/dev/null || true; done
}
trap 'stop_ranks; exit 130' INT TERM

for ((i = 0; i < DEVICE_NUM; i++)); do
  (cd "$ROOT" && RANK_ID="$i" DEVICE_ID="$i" exec "$PYTHON" train.py \
    --config_path "$ROOT/config_ascend_8p.yaml" --run_distribute True --device_num "$DEVICE_NUM" \
    --device_target Ascend --aclimdb_path "$(realpath "$DATA")" --run_dir "$RUN_DIR" \
    ${GLOVE[@]+"${GLOVE[@]}"} "$@") > "$RUN_DIR/logs/train_rank_$i.log" 2>&1 &
  PIDS+=($!)
  echo "rank $i on device $i: log $RUN_DIR/logs/train_rank_$i.log"
done

# Poll rather than `wait -n` (bash 4.3+): the first rank to fail stops all the others.
running=$DEVICE_NUM
declare -a DONE
# bash reports a rank killed by a signal ("... Killed  (cd ...)") on stderr: keep that notice
# out while polling, so a failure is the one line of fail_in_log.
exec 3>&2 2>/dev/null
while [ "$running" -gt 0 ]; do
  for ((i = 0; i < DEVICE_NUM; i++)); do
    [ -n "${DONE[$i]:-}" ] && continue
    kill -0 "${PIDS[$i]}" 2>/dev/null && continue
    status=0
    wait "${PIDS[$i]}" || status=$?
    DONE[$i]=1
    running=$((running - 1))
    if [ "$status" -ne 0 ]; then
      exec 2>&3
      stop_ranks
      fail_in_log "rank $i" "$RUN_DIR/logs/train_rank_$i.log" "$status"
    fi
  done
  sleep 0.5
done
exec 2>&3
echo "checkpoints (rank 0): $RUN_DIR"
