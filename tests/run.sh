#!/usr/bin/env bash
# The test command: install what is missing, build, run every test.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/tests/deps.sh"
bash "$top/tests/build.sh"
cd "$top/build"
ctest --output-on-failure -j1 "$@"
