#!/usr/bin/env bash
# ferry -np 2 against cp -r and rsync -a, one after another in one run, on the
# same disk: (a) 20,000 files of 16 KiB, (b) 4 files of 1 GiB.
#
#   bash bench/local_copy.sh [WORKDIR]      (default: a folder under /var/tmp)
#
# Each tool copies into an empty destination; the page cache is dropped before
# each copy where we may (root), and every copy ends with `sync`, so the
# figures are copy + write-back, not copy into memory.  Prints a Markdown table.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/var/tmp/ferry-bench-copy}
ferry=${FERRY_BIN:-$top/build/ferry}
reps=${REPS:-5}
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$work"

make_small() {
  [ -d "$work/small" ] && return
  python3 - "$work/small" <<'PY'
import os, random, sys
root = sys.argv[1]; rng = random.Random(1)
for i in range(20000):
    d = os.path.join(root, f"scene_{i % 20:02d}", f"{i // 1000:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:06d}.bin"), "wb") as f:
        f.write(rng.randbytes(16384))
PY
}

make_large() {
  [ -d "$work/large" ] && return
  mkdir -p "$work/large/scene"
  for i in 1 2 3 4; do
    head -c 1G /dev/urandom > "$work/large/scene/big_$i.bin"
  done
}

drop_caches() {
  sync
  echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  sleep 1   # let write-back of the last run settle
}

# One timed copy: prints seconds.
timed() {
  local dst=$1; shift
  rm -rf "$dst"
  drop_caches
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  sync
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

# Rounds in turn (cp, rsync, ferry, then again), so that the disk's and the
# page cache's moods fall on every tool alike; report the median and the best.
row() {
  local name=$1 src=$2 bytes files
  bytes=$(du -sb --exclude=.ferry "$src" | cut -f1)
  files=$(find "$src" -type f | wc -l)
  declare -A times=()
  for _ in $(seq "$reps"); do
    times[cp]+="$(timed "$work/out" cp -r "$src" "$work/out") "
    times[rsync]+="$(timed "$work/out" rsync -a "$src/" "$work/out/") "
    times[ferry]+="$(timed "$work/out" mpirun -np 2 --oversubscribe "$ferry" get --yes -q \
                     --progress never "$src" "$work/out") "
  done
  for tool in cp rsync ferry; do
    read -r median best < <(echo "${times[$tool]}" | tr ' ' '\n' | grep . | sort -g |
                            awk '{a[NR]=$1} END {print a[int((NR+1)/2)], a[1]}')
    printf '| %s | %s | %d | %.2f | %.2f | %.0f |\n' "$name" "$tool" "$files" "$median" "$best" \
      "$(echo "$bytes / $median / 1048576" | bc -l)"
  done
}

make_small
make_large
echo "| case | tool | files | median s ($reps runs) | best s | MiB/s (median) |"
echo "|---|---|---|---|---|---|"
row "(a) 20,000 x 16 KiB" "$work/small"
row "(b) 4 x 1 GiB" "$work/large"
rm -rf "$work/out"
