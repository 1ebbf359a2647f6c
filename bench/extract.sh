#!/usr/bin/env bash
# ferry extract -np 2 against GNU tar and bsdtar (one archive after another,
# as a script would run them), in one run, on the same disk: 16 archives of
# 256 MiB, (a) 8 with many small entries (8,192 of 32 KiB each), (b) 8 with a
# few large ones (4 of 64 MiB each); and dd's write rate on that disk.
# Entries are hex text of random bytes (gzip makes them about half).
#
#   bash bench/extract.sh [WORKDIR]       (default: a folder under /var/tmp)
#   REPS=3 COMPRESS=gz bash bench/extract.sh    (tar.gz archives instead of tar)
#
# The archives are read once before each run, so they come from the page
# cache (as right after a download) and the disk only writes; each tool
# extracts into an empty folder and every run ends with `sync`, so the
# figures include write-back.  Prints a Markdown table.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/bench/benchlib.sh"
work=${1:-/var/tmp/ferry-bench-extract}${COMPRESS:+-$COMPRESS}
ferry=${FERRY_BIN:-$top/build/ferry}
reps=${REPS:-3}
compress=${COMPRESS:-}
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
need_tools bsdtar:libarchive-tools bc:bc
mkdir -p "$work"
suffix=.tar${compress:+.$compress}

# make_archives KIND ENTRIES SIZE: 8 archives of ENTRIES entries of SIZE bytes each.
make_archives() {
  local kind=$1 entries=$2 size=$3
  [ -f "$work/$kind/done" ] && return
  rm -rf "$work/$kind"
  mkdir -p "$work/$kind"
  python3 - "$work/$kind" "$entries" "$size" "$compress" <<'PY'
import io, os, sys, tarfile
out, entries, size, compress = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
for a in range(8):
    name = os.path.join(out, f"shard_{a:02d}.tar" + (f".{compress}" if compress else ""))
    with tarfile.open(name, "w:" + compress) as t:
        for i in range(entries):
            info = tarfile.TarInfo(f"shard_{a:02d}/{i // 1024:02d}/e{i:06d}.bin")
            info.size, info.mtime, info.mode = size, 1700000000, 0o644
            t.addfile(info, io.BytesIO(os.urandom(size // 2).hex().encode()))
PY
  touch "$work/$kind/done"
}

# One timed extraction of the archives in DIR into an empty $work/out:
# prints seconds.
run_timed() {
  local dir=$1
  shift
  rm -rf "$work/out"
  mkdir -p "$work/out"
  sync
  cat "$dir"/*"$suffix" > /dev/null
  sleep 1
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || { echo "benchmark step failed: $*" >&2; return 1; }
  sync
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

each() {      # each TOOL DIR: every archive in DIR, one after another
  local tool=$1 dir=$2 a
  for a in "$dir"/*"$suffix"; do
    "$tool" -xf "$a" -C "$work/out"
  done
}

disk_rate() {   # dd of 4 GiB with fdatasync: MiB/s
  sync
  dd if=/dev/zero of="$work/dd.bin" bs=1M count=4096 conv=fdatasync 2>&1 |
    sed -n 's/.* s, \(.*\) \([MG]\)B\/s/\1 \2/p' |
    awk '{ print ($2 == "G" ? $1 * 1000 : $1) * 1000000 / 1048576 }'
  rm -f "$work/dd.bin"
}

row() {
  local name=$1 dir=$2 bytes entries
  bytes=$(du -sb "$dir" | cut -f1)
  entries=$(( $3 * 8 ))
  declare -A times=()
  for _ in $(seq "$reps"); do
    times[tar]+="$(run_timed "$dir" each tar "$dir") "
    times[bsdtar]+="$(run_timed "$dir" each bsdtar "$dir") "
    times[ferry]+="$(run_timed "$dir" mpirun -np 2 --oversubscribe "$ferry" extract -q --progress never \
                     "$dir" -C "$work/out") "
  done
  local tar_median
  tar_median=$(median_best "${times[tar]}" | cut -d' ' -f1)
  for tool in tar bsdtar ferry; do
    read -r median best < <(median_best "${times[$tool]}")
    printf '| %s | %s | %d | %.2f | %.2f | %.0f | %.2f |\n' "$name" "$tool" "$entries" "$median" \
      "$best" "$(echo "$bytes / $median / 1048576" | bc -l)" "$(echo "$tar_median / $median" | bc -l)"
  done
}

make_archives small 8192 32768
make_archives large 4 $((64 << 20))
echo "disk write rate (dd 4 GiB, fdatasync), before: $(disk_rate | xargs printf '%.0f') MiB/s"
echo
echo "| case | tool | entries | median s ($reps runs) | best s | MiB/s (median) | × tar |"
echo "|---|---|---|---|---|---|---|"
row "(a) 8 x 256 MiB, 32 KiB entries" "$work/small" 8192
row "(b) 8 x 256 MiB, 64 MiB entries" "$work/large" 4
rm -rf "$work/out"
echo
echo "disk write rate (dd 4 GiB, fdatasync), after: $(disk_rate | xargs printf '%.0f') MiB/s"
