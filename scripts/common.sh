# Shared by the run_*.sh scripts: argument checks, then an entry script run into a log file.
# Words starting with -- after the positional arguments go to the entry script unchanged
# (e.g. --num_epochs 3).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3

fail() {
  echo "error: $1" >&2
  exit 2
}

need_path() {  # need_path WHAT PATH
  [ -n "$2" ] || fail "missing $1; see the usage line at the top of the script"
  [ -e "$2" ] || fail "$1 $2 does not exist; pass an existing path"
}

find_glove() {  # find_glove FILE_OR_DIR: prints the GloVe file to use
  if [ -d "$1" ]; then
    local found
    found=$(ls "$1"/glove*.txt "$1"/glove*.txt.gz 2>/dev/null | head -n 1)
    [ -n "$found" ] || fail "no glove*.txt(.gz) in $1; pass the GloVe file itself"
    echo "$found"
  else
    echo "$1"
  fi
}

take_glove() {  # take_glove [GLOVE_PATH] [--key ...]: sets GLOVE (train.py words), GLOVE_WORDS
  GLOVE=() GLOVE_WORDS=0
  if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
    need_path "GloVe path" "$1"
    GLOVE=(--embedding glove --glove_path "$(find_glove "$1")") || exit 2
    GLOVE_WORDS=1
  fi
}

# last_error LOG: the last line of LOG that reads as an error, our own 'error: ...' lines or a
# Python traceback's last line ('RuntimeError: ...'); empty if there is none.
last_error() {
  grep -E '^(error: |([A-Za-z_][A-Za-z0-9_]*\.)*[A-Za-z_][A-Za-z0-9_]*(Error|Exception|Interrupt|Exit)(: |$))' \
    "$1" 2>/dev/null | tail -n 1 || true
}

# fail_in_log WHO LOG [EXIT_CODE]: one line naming WHO, its last error line and LOG; exit 2.
fail_in_log() {
  local line
  line="$(last_error "$2")"
  line="${line#error: }"
  if [ -z "$line" ]; then
    line="it wrote no error line${3:+ (exit code $3)}; killed, or out of memory?"
  fi
  echo "error: $1 failed: $line; see $2" >&2
  exit 2
}

run_logged() {  # run_logged LOG_FILE SCRIPT ARGS...: run, log everything, echo where
  local log="$1" status=0; shift
  mkdir -p "$(dirname "$log")" 2>/dev/null || fail "cannot create the folder of $log; pick a writable place"
  echo "running $1 (log: $log)"
  (cd "$ROOT" && "$PYTHON" "$@") > "$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    # our scripts' own one-line errors are shown as they are
    grep -m1 '^error:' "$log" >&2 || fail_in_log "$1" "$log" "$status"
    exit 2
  fi
  tail -n 2 "$log"
  echo "log: $log"
}

run_train() {  # run_train DEVICE CONFIG ACLIMDB_PATH [GLOVE_PATH] [--key value ...]
  local device="$1" config="$2" data="${3:-}"
  shift 2; shift || true
  need_path "aclImdb path" "$data"
  take_glove "$@"
  shift "$GLOVE_WORDS"
  local run_dir="${RUN_DIR:-$ROOT/train_${device,,}}"
  run_logged "$run_dir/train.log" train.py --config_path "$ROOT/$config" \
    --device_target "$device" --device_id "${DEVICE_ID:-0}" --aclimdb_path "$(realpath "$data")" \
    --ckpt_path "$run_dir" "${GLOVE[@]}" "$@"
}

run_eval() {  # run_eval DEVICE CONFIG ACLIMDB_PATH [GLOVE_PATH] CHECKPOINT [--key value ...]
  local device="$1" config="$2" data="${3:-}"
  shift 2; shift || true
  need_path "aclImdb path" "$data"
  if [ $# -gt 1 ] && [ "${2#--}" = "$2" ]; then
    shift  # the GloVe path: the checkpoint already holds the embeddings
  fi
  local checkpoint="${1:-}"
  need_path "checkpoint" "$checkpoint"
  shift
  run_logged "$(dirname "$(realpath "$checkpoint")")/eval.log" eval.py \
    --config_path "$ROOT/$config" --device_target "$device" --device_id "${DEVICE_ID:-0}" \
    --aclimdb_path "$(realpath "$data")" --checkpoint_path "$(realpath "$checkpoint")" "$@"
}
