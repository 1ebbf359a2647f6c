#!/usr/bin/env bash
# ferry get over HTTP on loopback against the usual tools: 4 files of 1 GiB
# served by nginx on 127.0.0.1, fetched by
#   curl -> /dev/null (4 in parallel)   the network's ceiling, nothing written
#   dd of zeros, 4 x 1 GiB in parallel   the disk's write rate, nothing fetched
#   curl -Z (4 in parallel), wget (one after another),
#   aria2c -j4 -x16 -s16, and mpirun -np 2 ferry get @MANIFEST
# in turn, REPS rounds (default 3); medians.  Every write ends with `sync`.
#
#   bash bench/get_http.sh [WORKDIR]      (default /var/tmp/ferry-bench-http)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/var/tmp/ferry-bench-http}
ferry=${FERRY_BIN:-$top/build/ferry}
reps=${REPS:-3}
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
source "$top/bench/benchlib.sh"
need_tools aria2c:aria2 wget:wget nginx:nginx

mkdir -p "$work/web"
for i in 1 2 3 4; do
  [ -f "$work/web/big_$i.bin" ] || head -c 1G /dev/urandom > "$work/web/big_$i.bin"
done
start_web "$work/web" "$work/nginx"
trap 'stop_web "$work/nginx"' EXIT
urls=()
: > "$work/manifest.txt"
: > "$work/manifest-sha.txt"
for i in 1 2 3 4; do
  urls+=("$WEB/big_$i.bin")
  printf '%s\n' "$WEB/big_$i.bin" >> "$work/manifest.txt"
  printf '%s\n  checksum=sha-256=%s\n' "$WEB/big_$i.bin" \
    "$(sha256sum "$work/web/big_$i.bin" | cut -d' ' -f1)" >> "$work/manifest-sha.txt"
done
out=$work/out
curl_null() { local a=(); for u in "${urls[@]}"; do a+=(-o /dev/null "$u"); done; curl -sfZ "${a[@]}"; }
disk() {
  mkdir -p "$out"
  for i in 1 2 3 4; do dd if=/dev/zero of="$out/z$i" bs=16M count=64 status=none & done
  wait
}
curl_par() { mkdir -p "$out"; local a=(); for u in "${urls[@]}"; do a+=(-o "$out/${u##*/}" "$u"); done; curl -sfZ "${a[@]}"; }
wget_seq() { wget -q -P "$out" "${urls[@]}"; }
aria() { aria2c -q -j4 -x16 -s16 -d "$out" -i "$work/manifest.txt"; }
ferry_get() { mpirun -np 2 --oversubscribe "$ferry" get --yes -q --progress never "@$work/manifest.txt" "$out"; }
ferry_sha() { mpirun -np 2 --oversubscribe "$ferry" get --yes -q --progress never "@$work/manifest-sha.txt" "$out"; }

# FERRY_BASE: another ferry binary (an earlier commit) run beside, as base_get
# and base_sha; TOOLS: the tools to run, of those above and these.
base=${FERRY_BASE:-}
base_get() { ferry=$base ferry_get; }
base_sha() { ferry=$base ferry_sha; }
read -r -a tools <<<"${TOOLS:-curl_null disk curl_par wget_seq aria ferry_get ferry_sha${base:+ base_get base_sha}}"
declare -A times=()
for _ in $(seq "$reps"); do
  for t in "${tools[@]}"; do
    times[$t]+="$(timed "$out" "$t") "
  done
done
bytes=$((4 << 30))
echo "| tool | command | median s ($reps runs) | best s | MiB/s (median) |"
echo "|---|---|---|---|---|"
declare -A what=(
  [curl_null]='curl -Z, 4 files to /dev/null (network ceiling)'
  [disk]='4 dd of zeros in parallel, 4 x 1 GiB (disk ceiling)'
  [curl_par]='curl -Z, 4 files in parallel'
  [wget_seq]='wget, 4 files in turn'
  [aria]='aria2c -j4 -x16 -s16'
  [ferry_get]='mpirun -np 2 ferry get @manifest'
  [ferry_sha]='the same, manifest with sha-256 checksums (every byte hashed)'
  [base_get]="ferry_get with $base"
  [base_sha]="ferry_sha with $base"
)
for t in "${tools[@]}"; do
  read -r median best < <(median_best "${times[$t]}")
  printf '| %s | %s | %.2f | %.2f | %.0f |\n' "$t" "${what[$t]}" "$median" "$best" \
    "$(echo "$bytes / $median / 1048576" | bc -l)"
done
rm -rf "$out"
