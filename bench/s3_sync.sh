#!/usr/bin/env bash
# ferry against `aws s3 sync` (Debian's awscli) and `rclone sync` (Debian's
# rclone) on one S3 server: s3rver (tests/s3, pinned) on 127.0.0.1, spoken to
# directly (S3_DIRECT), not through the SigV4-checking Python proxy, which
# would be every tool's bottleneck.  Cases, each up (local -> a fresh prefix)
# and down (a seeded prefix -> an empty local folder):
#   small  N_SMALL (5000) files of 16 KiB in 50 folders
#   big    N_BIG (2) files of BIG_MIB (2048) MiB
# and, after each up run, the same sync up again with nothing to send
# ("rerun").  Tools, all with 16 transfers in flight:
#   aws         /usr/bin/aws s3 sync, s3.max_concurrent_requests = 16 (default 10),
#               multipart threshold and part size left at 8 MiB
#   rclone      rclone sync --transfers 16 --checkers 16, --s3-upload-concurrency 8
#               --s3-chunk-size 8M (up) and --multi-thread-streams 8 (down): 2 big
#               files x 8 = 16 in flight, like the others
#   ferry       ferry sync --connections 16, one process
#   ferry-np2   mpirun -np 2 ferry sync --connections 16
# Every run is checked: after an up run the bucket's objects' sha256
# (tests/s3/sdk.mjs sums, the AWS SDK) must equal the local tree's, after a
# down run the local tree's must equal the source's; after a rerun the
# listing (key, size, ETag, LastModified) must be the one before it (else the
# objects are summed again and the rewrite is reported).  Each case REPS
# times (tools interleaved per round); median and best wall seconds, and
# s3rver's CPU over the run (one node thread: near 100 % means the server is
# the bottleneck), as a markdown table printed at the end and appended to OUT.
#
#   bash bench/s3_sync.sh                    (BENCH_DIR=/var/tmp/s3bench, OUT=/tmp/s3_bench.md)
#   QUICK=1 bash bench/s3_sync.sh            (N_SMALL=200 N_BIG=1 BIG_MIB=64 REPS=1)
#   CASES="small big" TOOLS="aws rclone ferry ferry-np2" FERRY_BIN=...
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${QUICK:-}" ]; then
  : "${N_SMALL:=200}" "${N_BIG:=1}" "${BIG_MIB:=64}" "${REPS:=1}"
fi
n_small=${N_SMALL:-5000}
n_big=${N_BIG:-2}
big_mib=${BIG_MIB:-2048}
reps=${REPS:-3}
work=${BENCH_DIR:-/var/tmp/s3bench}
out_md=${OUT:-/tmp/s3_bench.md}
ferry=${FERRY_BIN:-$top/build/ferry}
awsbin=/usr/bin/aws
read -r -a cases <<<"${CASES:-small big}"
read -r -a tools <<<"${TOOLS:-aws rclone ferry ferry-np2}"
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
mpirun=(mpirun --oversubscribe -np 2)
[ "$(id -u)" -eq 0 ] && mpirun=(mpirun --allow-run-as-root --oversubscribe -np 2)
source "$top/bench/benchlib.sh"
need_tools node:nodejs bc:bc rclone:rclone /usr/bin/aws:awscli mpirun:openmpi-bin
[ -x "$ferry" ] || { echo "no ferry binary at $ferry" >&2; exit 1; }

mkdir -p "$work/data" "$work/logs" "$work/sums"
rm -rf "$work/run" "$work/state"
mkdir -p "$work/run" "$work/state"

# --- data, generated once per size and kept -------------------------------
# tree_sums DIR: "SHA256  PATH" of every file under DIR (but .ferry/), by path.
tree_sums() {
  (cd "$1" && find . -type f -not -path './.ferry/*' -printf '%P\0' |
    xargs -0 -r -n 256 -P "$(nproc)" sha256sum) | LC_ALL=C sort -k2
}

small=$work/data/small-$n_small
big=$work/data/big-${n_big}x${big_mib}M
if [ ! -f "$small.done" ]; then
  rm -rf "$small"
  python3 - "$small" "$n_small" <<'PY'
import os, random, sys
out, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)
for i in range(n):
    d = os.path.join(out, f"dir_{i % 50:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"file_{i:06d}.bin"), "wb") as f:
        f.write(rng.randbytes(16 << 10))
PY
  tree_sums "$small" > "$work/sums/small-$n_small"
  touch "$small.done"
fi
if [ ! -f "$big.done" ]; then
  rm -rf "$big"
  mkdir -p "$big"
  for i in $(seq "$n_big"); do
    head -c "${big_mib}M" /dev/urandom > "$big/big_$i.bin"
  done
  tree_sums "$big" > "$work/sums/big-${n_big}x${big_mib}M"
  touch "$big.done"
fi
declare -A src=([small]=$small [big]=$big)
declare -A srcsums=([small]=$work/sums/small-$n_small [big]=$work/sums/big-${n_big}x${big_mib}M)
declare -A what=([small]="$n_small x 16 KiB in 50 folders" [big]="$n_big x $big_mib MiB")

# --- the server ------------------------------------------------------------
s3dir=$work/s3
bash "$top/tests/s3/s3ctl.sh" stop "$s3dir" >/dev/null 2>&1 || true
rm -rf "$s3dir"
S3_BUCKETS=bench bash "$top/tests/s3/s3ctl.sh" start "$s3dir" >"$work/s3ctl.log" 2>&1 ||
  { cat "$work/s3ctl.log" >&2; exit 1; }
trap 'bash "$top/tests/s3/s3ctl.sh" stop "$s3dir" >/dev/null 2>&1 || true' EXIT
source "$s3dir/env"
# Every tool (and the checks) talk to s3rver itself.
export AWS_ENDPOINT_URL=$S3_DIRECT
s3pid=$(cat "$s3dir/s3rver.pid")
bucket=bench

# awscli 2.9 ignores AWS_ENDPOINT_URL: --endpoint-url on every call; 16 in flight.
cat > "$work/aws.config" <<'EOF'
[default]
s3 =
  max_concurrent_requests = 16
EOF
aws() { AWS_CONFIG_FILE=$work/aws.config "$awsbin" --endpoint-url "$S3_DIRECT" "$@"; }
export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other
export RCLONE_CONFIG_BENCH_ENDPOINT=$S3_DIRECT RCLONE_CONFIG_BENCH_REGION=$AWS_REGION
export RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
export RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
export RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true RCLONE_CONFIG_BENCH_NO_CHECK_BUCKET=true
# rclone 1.60 refuses to start when AWS_CA_BUNDLE is set ("LoadCustomCABundleError:
# unsupported transport"), and the endpoint is plain http anyway.
rclone_() { env -u AWS_CA_BUNDLE rclone "$@"; }
rclone_opts=(--transfers 16 --checkers 16 --s3-upload-concurrency 8 --s3-chunk-size 8M
             --multi-thread-streams 8)

# bucket_sums PREFIX: "SHA256  KEY" (relative to PREFIX) of every object, by key.
bucket_sums() { node "$top/tests/s3/sdk.mjs" sums "s3://$bucket/$1" | LC_ALL=C sort -k2; }
listing() {
  aws s3api list-objects-v2 --bucket "$bucket" --prefix "$1/" --output text \
    --query 'Contents[].[Key,Size,ETag,LastModified]' | LC_ALL=C sort
}
drop_prefix() { aws s3 rm --recursive --only-show-errors "s3://$bucket/$1/" >/dev/null; }

# The down runs' sources, uploaded once with the AWS SDK (8 MiB parts).
for c in "${cases[@]}"; do
  node "$top/tests/s3/sdk.mjs" put "${src[$c]}" "s3://$bucket/src-$c"
  cmp -s <(bucket_sums "src-$c") "${srcsums[$c]}" ||
    { echo "seeding s3://$bucket/src-$c: the bucket's sums differ from the tree's" >&2; exit 1; }
done

# --- the tools -------------------------------------------------------------
# up TOOL DIR PREFIX STATE / down TOOL PREFIX DIR STATE
up() {
  case $1 in
    aws) aws s3 sync --no-progress --only-show-errors "$2" "s3://$bucket/$3" ;;
    rclone) rclone_ sync "${rclone_opts[@]}" "$2" "bench:$bucket/$3" ;;
    ferry) "$ferry" sync -y --progress never --connections 16 --state-dir "$4" "$2" "s3://$bucket/$3" ;;
    ferry-np2) "${mpirun[@]}" "$ferry" sync -y --progress never --connections 16 --state-dir "$4" \
                 "$2" "s3://$bucket/$3" ;;
  esac
}
down() {
  case $1 in
    aws) aws s3 sync --no-progress --only-show-errors "s3://$bucket/$2" "$3" ;;
    rclone) rclone_ sync "${rclone_opts[@]}" "bench:$bucket/$2" "$3" ;;
    ferry) "$ferry" sync -y --progress never --connections 16 --state-dir "$4" "s3://$bucket/$2" "$3" ;;
    ferry-np2) "${mpirun[@]}" "$ferry" sync -y --progress never --connections 16 --state-dir "$4" \
                 "s3://$bucket/$2" "$3" ;;
  esac
}

# cpu_ticks PID: user+system clock ticks PID has used.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# measure LOG COMMAND...: sync, run COMMAND (its output to LOG), sync; sets
# secs (wall) and srvcpu (s3rver's CPU, % of one core, over the run).
measure() {
  local log=$1 start end t0 t1
  shift
  sync
  sleep 1      # let write-back of the last run settle
  t0=$(cpu_ticks "$s3pid")
  start=$(date +%s.%N)
  if ! "$@" > "$log" 2>&1; then
    echo "FAILED: $* (log $log):" >&2
    tail -30 "$log" >&2
    return 1
  fi
  sync
  end=$(date +%s.%N)
  t1=$(cpu_ticks "$s3pid")
  secs=$(echo "$end - $start" | bc -l)
  srvcpu=$(echo "100 * ($t1 - $t0) / $hz / $secs" | bc -l)
}

declare -A times=() cpus=() fails=()
notes=()
# record KEY: add this run's secs and srvcpu to KEY's.
record() {
  times[$1]+="$secs "
  cpus[$1]+="$srvcpu "
  printf '  %-10s %-6s %-6s %8.2f s   s3rver CPU %3.0f %%\n' "$tool" "$case" "$2" "$secs" "$srvcpu"
}
fail() { fails[$1]=$(( ${fails[$1]:-0} + 1 )); notes+=("$2"); echo "  $2" >&2; }

run_no=0
for rep in $(seq "$reps"); do
  for case in "${cases[@]}"; do
    echo "round $rep/$reps, $case (${what[$case]}):"
    for tool in "${tools[@]}"; do
      run_no=$((run_no + 1))
      tag=$case-$tool-$rep
      prefix=run-$run_no-$tag
      state=$work/state/$tag-up
      # up to a fresh prefix
      if measure "$work/logs/$tag-up.log" up "$tool" "${src[$case]}" "$prefix" "$state"; then
        if cmp -s <(bucket_sums "$prefix") "${srcsums[$case]}"; then
          record "$case/up/$tool" up
          # the same sync again, nothing to send
          before=$(listing "$prefix")
          if measure "$work/logs/$tag-rerun.log" up "$tool" "${src[$case]}" "$prefix" "$state"; then
            after=$(listing "$prefix")
            if [ "$before" != "$after" ]; then
              changed=$(comm -13 <(echo "$before") <(echo "$after") | wc -l)
              notes+=("$tool $case rerun (round $rep) rewrote $changed of $(echo "$before" | wc -l) objects")
            fi
            if [ "$before" = "$after" ] || cmp -s <(bucket_sums "$prefix") "${srcsums[$case]}"; then
              record "$case/rerun/$tool" rerun
            else
              fail "$case/rerun/$tool" "$tool $case rerun (round $rep): bucket differs from the tree afterwards"
            fi
          else
            fail "$case/rerun/$tool" "$tool $case rerun (round $rep) exited non-zero, log $work/logs/$tag-rerun.log"
          fi
        else
          fail "$case/up/$tool" "$tool $case up (round $rep): bucket's sha256 differ from the tree's"
          diff <(bucket_sums "$prefix") "${srcsums[$case]}" | head -5 >&2 || true
        fi
      else
        fail "$case/up/$tool" "$tool $case up (round $rep) exited non-zero, log $work/logs/$tag-up.log"
      fi
      drop_prefix "$prefix"
      # down into an empty folder
      dst=$work/run/$tag
      rm -rf "$dst" "$state"
      mkdir -p "$dst"
      state=$work/state/$tag-down
      if measure "$work/logs/$tag-down.log" down "$tool" "src-$case" "$dst" "$state"; then
        if cmp -s <(tree_sums "$dst") "${srcsums[$case]}"; then
          record "$case/down/$tool" down
        else
          fail "$case/down/$tool" "$tool $case down (round $rep): local sha256 differ from the source's"
          diff <(tree_sums "$dst") "${srcsums[$case]}" | head -5 >&2 || true
        fi
      else
        fail "$case/down/$tool" "$tool $case down (round $rep) exited non-zero, log $work/logs/$tag-down.log"
      fi
      rm -rf "$dst" "$state"
    done
  done
done

# --- the table -------------------------------------------------------------
{
  echo
  echo "### ferry vs aws s3 sync vs rclone sync on s3rver ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "$(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB; s3rver $(node -p 'require(process.argv[1]).version' \
    "$top/tests/s3/npm/node_modules/s3rver/package.json") on 127.0.0.1 (direct, no proxy);" \
    "$("$awsbin" --version 2>&1 | cut -d' ' -f1), $(rclone version 2>/dev/null | head -1)," \
    "ferry $ferry (the tree was at $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo "?") when the table was written; FERRY_BIN may be older); REPS=$reps," \
    "wall seconds including a final sync; s3rver CPU is the median % of one core over the run."
  echo
  echo "| case | dir | tool | median s | best s | MiB/s (median) | s3rver CPU % | ok runs |"
  echo "|---|---|---|---:|---:|---:|---:|---:|"
  for case in "${cases[@]}"; do
    mib=$(du -sm --apparent-size "${src[$case]}" | cut -f1)
    for dir in up down rerun; do
      for tool in "${tools[@]}"; do
        k=$case/$dir/$tool
        t=${times[$k]:-}
        n=$(echo "$t" | wc -w)
        if [ "$n" -eq 0 ]; then
          echo "| ${what[$case]} | $dir | $tool | failed | | | | 0/$reps |"
          continue
        fi
        read -r med best <<<"$(median_best "$t")"
        read -r cmed _ <<<"$(median_best "${cpus[$k]}")"
        rate=-
        [ "$dir" != rerun ] && rate=$(printf '%.0f' "$(echo "$mib / $med" | bc -l)")
        printf '| %s | %s | %s | %.2f | %.2f | %s | %.0f | %d/%d |\n' \
          "${what[$case]}" "$dir" "$tool" "$med" "$best" "$rate" "$cmed" "$n" "$reps"
      done
    done
  done
  if [ ${#notes[@]} -gt 0 ]; then
    echo
    for n in "${notes[@]}"; do echo "- $n"; done
  fi
} | tee -a "$out_md"
[ ${#fails[@]} -eq 0 ]
