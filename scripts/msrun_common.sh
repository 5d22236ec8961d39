# Shared by run_distribute_train_{cpu,gpu}.sh: data-parallel train.py under MindSpore's msrun,
# on one host or several (one msrun per node).
# Needs common.sh sourced first (ROOT, PYTHON, fail, need_path, take_glove, fail_in_log).
#
# Several nodes: run the same command on every node with
#   NODE_NUM     nodes in the job (default 1)
#   NODE_RANK    this node's index, 0 .. NODE_NUM-1 (default 0); node 0 runs the scheduler
#   MASTER_ADDR  node 0's address, reachable from every node (default 127.0.0.1)
#   MASTER_PORT  a free port on node 0, the same on every node (required with NODE_NUM > 1)
# CLUSTER_TIME_OUT (seconds, default 600) bounds how long the workers wait for each other.
# Each node starts WORKERS workers (msrun --local_worker_num), NODE_NUM x WORKERS in all
# (--worker_num); worker ranks are NODE_RANK x WORKERS + 0 .. WORKERS-1.

free_port() {  # a TCP port nobody listens on right now
  "$PYTHON" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0))
print(s.getsockname()[1])"
}

# failed_log LOG_DIR: the log of the process that failed first. msrun names the worker's PID
# ("Worker process PID exit with exception"); train.py's first line is "worker pid PID".
failed_log() {
  local pid log
  pid="$(grep -o -m1 'Worker process [0-9]* exit with exception' "$1/msrun.log" 2>/dev/null \
         | grep -o '[0-9][0-9]*' || true)"
  if [ -n "$pid" ]; then
    log="$(grep -l -E "^worker pid $pid\$" "$1"/worker_*.log 2>/dev/null | head -n 1 || true)"
    if [ -n "$log" ]; then echo "$log"; return; fi
  fi
  for log in "$1"/worker_*.log "$1/scheduler.log"; do
    if [ -n "$(last_error "$log")" ]; then echo "$log"; return; fi
  done
  echo "$1/msrun.log"
}

# report_msrun_failure LOG_DIR: one line (which process, its last error, its log); exit 2
report_msrun_failure() {
  local log who
  log="$(failed_log "$1")"
  case "$(basename "$log")" in
    worker_*.log) who="worker $(basename "$log" .log | cut -d_ -f2)" ;;
    scheduler.log) who="the msrun scheduler" ;;
    *) who="msrun" ;;
  esac
  fail_in_log "$who" "$log"
}

# run_msrun DEVICE CONFIG WORKERS ACLIMDB_PATH [GLOVE_PATH] [--key value ...]
run_msrun() {
  local device="$1" config="$2" workers="${3:-}" data="${4:-}"
  shift 3; shift || true
  [[ "$workers" =~ ^[1-9][0-9]*$ ]] || fail "WORKER_NUM must be a positive number, got '$workers'"
  need_path "aclImdb path" "$data"
  take_glove "$@"
  shift "$GLOVE_WORDS"
  local nodes="${NODE_NUM:-1}" node="${NODE_RANK:-0}" master="${MASTER_ADDR:-127.0.0.1}"
  [[ "$nodes" =~ ^[1-9][0-9]*$ ]] || fail "NODE_NUM must be a positive number, got '$nodes'"
  [[ "$node" =~ ^[0-9]+$ ]] && [ "$node" -lt "$nodes" ] \
    || fail "NODE_RANK must be 0 .. $((nodes - 1)) (NODE_NUM is $nodes), got '$node'"
  if [ "$nodes" -gt 1 ] && [ -z "${MASTER_PORT:-}" ]; then
    fail "NODE_NUM is $nodes but MASTER_PORT is unset; export the same free port of node 0 on every node"
  fi
  local run_dir="${RUN_DIR:-$ROOT/train_distribute_${device,,}}"
  local log_dir="$run_dir/logs" port="${MASTER_PORT:-$(free_port)}"
  [ "$nodes" -gt 1 ] && log_dir="$run_dir/logs/node_$node"
  mkdir -p "$log_dir" 2>/dev/null || fail "cannot create $log_dir; set RUN_DIR to a writable place"
  export NODE_RANK="$node"  # train.py in msrun's scheduler role serves on node 0 only
  # msrun starts every worker with the `python` found first on PATH: make it the project's.
  export PATH="$(dirname "$PYTHON"):$PATH"
  export GLOG_v="${GLOG_v:-3}"
  echo "running train.py on $workers $device workers of node $node/$nodes" \
       "(scheduler $master:$port; logs: $log_dir/worker_*.log)"
  if ! (cd "$ROOT" && msrun --worker_num="$((nodes * workers))" --local_worker_num="$workers" \
        --master_addr="$master" --master_port="$port" --node_rank="$node" \
        --log_dir="$log_dir" --join=True --cluster_time_out="${CLUSTER_TIME_OUT:-600}" \
        train.py --config_path "$ROOT/$config" --run_distribute True \
        --device_num "$((nodes * workers))" --device_target "$device" \
        --aclimdb_path "$(realpath "$data")" --run_dir "$run_dir" \
        ${GLOVE[@]+"${GLOVE[@]}"} "$@") > "$log_dir/msrun.log" 2>&1; then
    report_msrun_failure "$log_dir"
  fi
  grep -h 'weights digest' "$log_dir"/worker_*.log || true
  echo "checkpoints (rank 0): $run_dir; logs: $log_dir"
}
