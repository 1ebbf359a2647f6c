#!/usr/bin/env bash
# Configure and build ferry into build/ (warnings are errors, as in CI).
#   bash tests/build.sh asan    the same into build-asan/ with ASan and UBSan
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=build options=()
if [ "${1:-}" = asan ]; then
  dir=build-asan options=(-DFERRY_SANITIZE=ON)
fi
cmake -S "$top" -B "$top/$dir" -DFERRY_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "${options[@]}" >/dev/null
cmake --build "$top/$dir" -j"$(nproc)"
