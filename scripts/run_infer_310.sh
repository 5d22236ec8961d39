#!/usr/bin/env bash
# Usage: bash scripts/run_infer_310.sh MINDIR_PATH DATASET_PATH NEED_PREPROCESS DEVICE_TARGET
#        [DEVICE_ID] [--key value ...]
# The model zoo's offline inference flow on the exported MINDIR:
#   0. the MINDIR must have been exported for DEVICE_TARGET from this run (its vocabulary):
#      python -m src.inference.mindir checks the record export.py wrote into it;
#   1. preprocess.py (NEED_PREPROCESS y): the test set of DATASET_PATH as .bin batches
#      (00_data ids, 01_length, 02_label) in INFER_DIR/preprocess_Result;
#   2. inference: DEVICE_TARGET CPU or GPU runs MindSpore's own MINDIR loader
#      (python -m src.inference.infer_310); Ascend builds and runs the C++ app of ascend310_infer/ against
#      MindSpore Lite (MS_LITE_HOME, or LITE_HOME, is the unpacked
#      mindspore-lite-VERSION-linux-ARCH package; the Ascend toolkit's set_env.sh is sourced
#      from ASCEND_HOME, default /usr/local/Ascend, when present); logits go to
#      INFER_DIR/result_Files;
#   3. postprocess.py: accuracy into INFER_DIR/result_Files/acc.log.
# Pass the training run's settings (vocabulary, max_len, batch_size of the export) with
# --config_path RUN_DIR/config.yaml. INFER_DIR defaults to ./infer_310. DRY_RUN=1 prints the
# environment and the commands of every step instead of running them.
set -euo pipefail
source "$(dirname "$0")/common.sh"

[ $# -ge 4 ] || fail "usage: bash scripts/run_infer_310.sh MINDIR_PATH DATASET_PATH NEED_PREPROCESS DEVICE_TARGET [DEVICE_ID] [--key value ...]"
need_path "MINDIR path" "$1"
need_path "dataset path" "$2"
model="$(realpath "$1")"
dataset="$(realpath "$2")"
need_preprocess="$3"
device_target="$4"
shift 4
device_id="${DEVICE_ID:-0}"
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
  device_id="$1"
  shift
fi
[[ "$need_preprocess" == y || "$need_preprocess" == n ]] || fail "NEED_PREPROCESS must be y or n, got '$need_preprocess'"
[[ "$device_target" =~ ^(CPU|GPU|Ascend)$ ]] || fail "DEVICE_TARGET must be CPU, GPU or Ascend, got '$device_target'"
[[ "$device_id" =~ ^[0-9]+$ ]] || fail "DEVICE_ID must be a number, got '$device_id'"

infer_dir="${INFER_DIR:-$PWD/infer_310}"
mkdir -p "$infer_dir" 2>/dev/null || fail "cannot create $infer_dir; set INFER_DIR to a writable folder"
infer_dir="$(realpath "$infer_dir")"
common=(--device_target "$device_target" --device_id "$device_id" --aclimdb_path "$dataset"
        --result_path "$infer_dir/preprocess_Result" --result_dir "$infer_dir/result_Files" "$@")
echo "mindir: $model; dataset: $dataset; device: $device_target $device_id; output: $infer_dir"

lite_environment() {  # the environment MindSpore Lite's cloud-side C++ quick start sets
  local lite="${MS_LITE_HOME:-${LITE_HOME:-}}"
  [ -n "$lite" ] || fail "Ascend inference builds ascend310_infer/ against MindSpore Lite; export MS_LITE_HOME=/path/to/mindspore-lite-VERSION-linux-ARCH"
  [ -d "$lite/runtime/lib" ] || fail "MS_LITE_HOME $lite has no runtime/lib; point it at the unpacked MindSpore Lite cloud inference package"
  export MS_LITE_HOME="$lite"
  export LD_LIBRARY_PATH="$lite/runtime/lib:$lite/runtime/third_party/dnnl:$lite/tools/converter/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local toolkit="${ASCEND_HOME:-/usr/local/Ascend}/ascend-toolkit/set_env.sh"
  if [ -f "$toolkit" ]; then
    # shellcheck disable=SC1090
    source "$toolkit"
  fi
}

run_logged "$infer_dir/check.log" -m src.inference.mindir --mindir_path "$model" "${common[@]}"
if [ "$need_preprocess" == y ]; then
  run_logged "$infer_dir/preprocess.log" preprocess.py "${common[@]}"
fi
if ! dry_run; then
  [ -d "$infer_dir/preprocess_Result/00_data" ] || fail "no $infer_dir/preprocess_Result/00_data; run with NEED_PREPROCESS y"
  rm -rf "$infer_dir/result_Files"
  mkdir -p "$infer_dir/result_Files"
fi

if [ "$device_target" == Ascend ]; then
  lite_environment
  main=(--mindir_path "$model" --input0_path "$infer_dir/preprocess_Result/00_data"
        --input1_path "$infer_dir/preprocess_Result/01_length"
        --result_path "$infer_dir/result_Files" --device_id "$device_id")
  if dry_run; then
    echo "env: MS_LITE_HOME=$MS_LITE_HOME"
    echo "env: LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    echo "run: bash $ROOT/ascend310_infer/build.sh"
    echo "run: $ROOT/ascend310_infer/out/main ${main[*]}"
  else
    bash "$ROOT/ascend310_infer/build.sh" > "$infer_dir/build.log" 2>&1 || fail "building ascend310_infer failed; see $infer_dir/build.log"
    echo "running ascend310_infer/out/main (log: $infer_dir/infer.log)"
    status=0
    "$ROOT/ascend310_infer/out/main" "${main[@]}" > "$infer_dir/infer.log" 2>&1 || status=$?
    [ "$status" -eq 0 ] || fail_in_log "ascend310_infer/out/main" "$infer_dir/infer.log" "$status"
  fi
else
  run_logged "$infer_dir/infer.log" -m src.inference.infer_310 --mindir_path "$model" "${common[@]}"
fi

run_logged "$infer_dir/postprocess.log" postprocess.py "${common[@]}"
if ! dry_run; then
  echo "$(cat "$infer_dir/result_Files/acc.log") (in $infer_dir/result_Files/acc.log)"
fi
