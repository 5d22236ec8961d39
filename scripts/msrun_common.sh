# Shared by run_distribute_train_{cpu,gpu}.sh: data-parallel train.py under MindSpore's msrun.
# Needs common.sh sourced first (ROOT, PYTHON, fail, need_path, find_glove).

free_port() {  # a TCP port nobody listens on right now
  "$PYTHON" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0))
print(s.getsockname()[1])"
}

first_error() {  # first_error LOG_DIR: the first 'error: ...' line of any worker log
  grep -h -m1 '^error:' "$1"/worker_*.log 2>/dev/null | head -n 1
}

# run_msrun DEVICE CONFIG WORKERS ACLIMDB_PATH [GLOVE_PATH] [--key value ...]
run_msrun() {
  local device="$1" config="$2" workers="${3:-}" data="${4:-}"
  shift 3; shift || true
  [[ "$workers" =~ ^[1-9][0-9]*$ ]] || fail "WORKER_NUM must be a positive number, got '$workers'"
  need_path "aclImdb path" "$data"
  take_glove "$@"
  shift "$GLOVE_WORDS"
  local run_dir="${RUN_DIR:-$ROOT/train_distribute_${device,,}}"
  local log_dir="$run_dir/logs" port="${MASTER_PORT:-$(free_port)}"
  mkdir -p "$log_dir" 2>/dev/null || fail "cannot create $log_dir; set RUN_DIR to a writable place"
  # msrun starts every worker with the `python` found first on PATH: make it the project's.
  export PATH="$(dirname "$PYTHON"):$PATH"
  export GLOG_v="${GLOG_v:-3}"
  echo "running train.py on $workers $device workers (logs: $log_dir/worker_*.log, port $port)"
  if ! (cd "$ROOT" && msrun --worker_num="$workers" --local_worker_num="$workers" \
        --master_port="$port" --log_dir="$log_dir" --join=True \
        train.py --config_path "$ROOT/$config" --run_distribute True --device_num "$workers" \
        --device_target "$device" --aclimdb_path "$(realpath "$data")" --ckpt_path "$run_dir" \
        "${GLOVE[@]}" "$@") > "$log_dir/msrun.log" 2>&1; then
    local err
    err="$(first_error "$log_dir")"
    echo "${err:-error: distributed training failed; see $log_dir/worker_*.log and msrun.log}" >&2
    exit 2
  fi
  grep -h 'weights digest' "$log_dir"/worker_*.log || true
  echo "checkpoints (rank 0): $run_dir; logs: $log_dir"
}
