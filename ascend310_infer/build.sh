#!/usr/bin/env bash
# Build the Ascend inference app into out/main. Needs MS_LITE_HOME (MindSpore Lite cloud-side
# inference package) and the Ascend toolkit environment (set_env.sh) on an Ascend host.
set -euo pipefail
cd "$(dirname "$0")"
MS_LITE_HOME="${MS_LITE_HOME:-${LITE_HOME:-}}"
if [ -z "$MS_LITE_HOME" ]; then
  echo "error: MS_LITE_HOME is not set; unpack mindspore-lite-VERSION-linux-ARCH.tar.gz and" \
       "export MS_LITE_HOME=/path/to/it" >&2
  exit 2
fi
export MS_LITE_HOME
rm -rf build out
mkdir -p build out
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"
cp build/main out/main
echo "built $(pwd)/out/main"
