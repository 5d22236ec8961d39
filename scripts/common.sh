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

# DRY_RUN=1: print the device environment and each command instead of running it.
dry_run() { [ "${DRY_RUN:-0}" = 1 ]; }

print_command() {  # print_command COMMAND ARGS...: what a dry run shows
  local name
  for name in CUDA_VISIBLE_DEVICES DEVICE_ID RANK_ID RANK_TABLE_FILE; do
    if [ -n "${!name:-}" ]; then echo "env: $name=${!name}"; fi
  done
  echo "run: $*"
}

run_logged() {  # run_logged LOG_FILE SCRIPT ARGS...: run, log everything, echo where
  local log="$1" status=0; shift
  if dry_run; then print_command "$PYTHON" "$@"; return 0; fi
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

select_device() {  # select_device DEVICE DEVICE_ID: sets DEVICE_INDEX, the --device_id to pass
  [[ "$2" =~ ^[0-9]+$ ]] || fail "DEVICE_ID must be a number, got '$2'"
  DEVICE_INDEX="$2"
  if [ "$1" = GPU ]; then
    # As the original: the process sees only GPU DEVICE_ID. When a scheduler already chose
    # the GPUs (CUDA_VISIBLE_DEVICES set), DEVICE_ID counts among those instead.
    if [ -z "${CUDA_VISIBLE_DEVICES:-}" ]; then
      export CUDA_VISIBLE_DEVICES="$2"
      DEVICE_INDEX=0
    fi
  elif [ "$1" = Ascend ]; then
    export DEVICE_ID="$2"
  fi
}

run_train() {  # run_train DEVICE CONFIG ACLIMDB_PATH [GLOVE_PATH] [--key value ...]
  local device="$1" config="$2" data="${3:-}"
  shift 2; shift || true
  need_path "aclImdb path" "$data"
  take_glove "$@"
  shift "$GLOVE_WORDS"
  local run_dir="${RUN_DIR:-$ROOT/train_${device,,}}"
  run_logged "$run_dir/train.log" train.py --config_path "$ROOT/$config" \
    --device_target "$device" --device_id "${DEVICE_INDEX:-0}" \
    --aclimdb_path "$(realpath "$data")" --run_dir "$run_dir" ${GLOVE[@]+"${GLOVE[@]}"} "$@"
}

# run_eval DEVICE CONFIG DATA [GLOVE_PATH] CHECKPOINT [--key value ...]
# DATA is the aclImdb folder (or archive), or a preprocessed folder of preprocess_path (one
# holding meta.json: the original's PREPROCESS_DIR). The training run's config.yaml beside
# the checkpoint supplies its settings (vocabulary, max_len, network); --config_path wins.
run_eval() {
  local device="$1" config="$2" data="${3:-}"
  shift 2; shift || true
  need_path "dataset path" "$data"
  if [ $# -gt 1 ] && [ "${2#--}" = "$2" ]; then
    shift  # the GloVe path: the checkpoint already holds the embeddings
  fi
  local checkpoint="${1:-}"
  need_path "checkpoint" "$checkpoint"
  shift
  checkpoint="$(realpath "$checkpoint")"
  local settings="$ROOT/$config" source=(--aclimdb_path "$(realpath "$data")")
  [ -f "$(dirname "$checkpoint")/config.yaml" ] && settings="$(dirname "$checkpoint")/config.yaml"
  [ -f "$data/meta.json" ] && source=(--preprocess_path "$(realpath "$data")")
  run_logged "$(dirname "$checkpoint")/eval.log" eval.py --config_path "$settings" \
    --device_target "$device" --device_id "${DEVICE_INDEX:-0}" "${source[@]}" \
    --checkpoint_file "$checkpoint" "$@"
}

run_pretrain() {  # run_pretrain DEVICE CONFIG ACLIMDB_PATH UNLABELLED_PATH [--key value ...]
  local device="$1" config="$2" data="${3:-}" unlabelled="${4:-}"
  shift 2; shift || true; shift || true
  need_path "aclImdb path" "$data"
  need_path "unlabelled reviews folder" "$unlabelled"
  local run_dir="${RUN_DIR:-$ROOT/pretrain_${device,,}}"
  run_logged "$run_dir/pretrain.log" pretrain.py --config_path "$ROOT/$config" \
    --device_target "$device" --device_id "${DEVICE_INDEX:-0}" \
    --aclimdb_path "$(realpath "$data")" --unlabelled_path "$(realpath "$unlabelled")" \
    --pretrain_dir "$run_dir" "$@"
}

# -h or --help as the first argument of a run_*.sh script (common.sh is sourced with its
# arguments): its header comment, the usage line first, and exit 0 before anything runs.
case "${1:-}" in
  -h|--help)
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
    exit 0 ;;
esac
