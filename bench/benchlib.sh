# Helpers the benchmark scripts share.  Source it.

# need_tools CMD:PACKAGE...: install the Debian packages of missing commands.
need_tools() {
  local missing=() spec
  for spec in "$@"; do
    command -v "${spec%%:*}" >/dev/null || missing+=("${spec#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# timed DST COMMAND...: empty DST, run COMMAND (output discarded), sync;
# prints the seconds it took.
timed() {
  local dst=$1 start end
  shift
  rm -rf "$dst"
  sync
  sleep 1      # let write-back of the last run settle
  start=$(date +%s.%N)
  local log
  log=$(mktemp)
  "$@" > "$log" 2>&1 || { echo "benchmark step failed: $*" >&2; tail -20 "$log" >&2; rm -f "$log"; return 1; }
  rm -f "$log"
  sync
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

# median_best "T1 T2 ...": prints the median and the smallest.
median_best() {
  echo "$1" | tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)], a[1]}'
}

# start_web, stop_web: nginx, shared with the tests.
source "$(dirname "${BASH_SOURCE[0]}")/../tests/nginx.sh"
