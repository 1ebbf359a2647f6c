#!/usr/bin/env bash
# Planning a million files: wall time and rank 0's peak memory.
#
#   bash bench/plan_scale.sh [WORKDIR] [FILES] [scenes|one]
#
# Makes FILES empty files (default 1,000,000) in 10,000 folders: 100 scenes
# of 100 folders (scenes, the default), or all in one scene (one: the case
# a plan dealt by scene leaves to one rank).  Then times `ferry plan`
# against an empty destination (every file must be planned for transfer,
# the worst case for rank 0's memory) and against a full copy (every file
# compared and unchanged), with 1 and 2 ranks.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
layout=${3:-scenes}
case $layout in
  scenes|one) ;;
  *) echo "usage: $0 [WORKDIR] [FILES] [scenes|one]" >&2; exit 2 ;;
esac
work=${1:-/var/tmp/ferry-bench-plan}/$layout
files=${2:-1000000}
ferry=${FERRY_BIN:-$top/build/ferry}
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

if [ ! -f "$work/.made-$files" ]; then
  rm -rf "$work"
  mkdir -p "$work"
  python3 - "$work/src" "$files" "$layout" <<'PY'
import os, sys
root, n, layout = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(n):
    if layout == "one":
        d = os.path.join(root, "scene", f"d{i % 10000:04d}")
    else:
        d = os.path.join(root, f"scene_{i % 100:03d}", f"d{(i // 100) % 100:02d}")
    if i < 10000:
        os.makedirs(d, exist_ok=True)
    open(os.path.join(d, f"file_{i:07d}.dat"), "w").close()
PY
  cp -a "$work/src" "$work/copy"
  touch "$work/.made-$files"
fi

# measure LABEL NP ARGS...: wall time of the whole command and the peak
# resident memory of the largest ferry process (rank 0 holds the plan).
measure() {
  local label=$1 np=$2
  shift 2
  local start end peak
  start=$(date +%s.%N)
  if [ "$np" -eq 0 ]; then
    peak=$( { /usr/bin/time -f "%M" "$ferry" "$@" >/dev/null; } 2>&1 | tail -1)
  else
    # One file per rank: lines of ranks sharing a stderr pipe can interleave.
    rm -f "$work"/.peak.*
    mpirun -np "$np" --oversubscribe sh -c \
      '/usr/bin/time -f "%M" -o "$0.$OMPI_COMM_WORLD_RANK" "$@"' "$work/.peak" \
      "$ferry" "$@" >/dev/null 2>&1
    peak=$(cat "$work"/.peak.* | sort -n | tail -1)
  fi
  end=$(date +%s.%N)
  printf '| %s | %.1f s | %d MiB |\n' "$label" "$(echo "$end - $start" | bc -l)" $((peak / 1024))
}

echo "| case ($files files, $layout) | wall | peak RSS of the largest ferry process |"
echo "|---|---|---|"
measure "plan, empty destination, 1 process" 0 plan -q "$work/src" "$work/empty"
measure "plan, full copy, 1 process" 0 plan -q "$work/src" "$work/copy"
measure "plan, empty destination, mpirun -np 2" 2 plan -q "$work/src" "$work/empty"
measure "plan, full copy, mpirun -np 2" 2 plan -q "$work/src" "$work/copy"
