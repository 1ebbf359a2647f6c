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

# start_web ROOT PREFIX: nginx serving ROOT on a free loopback port; sets WEB.
start_web() {
  local root=$1 prefix=$2 port
  mkdir -p "$prefix/logs"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat > "$prefix/nginx.conf" <<CONF
worker_processes 2;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log;
$( [ "$(id -u)" -eq 0 ] && echo "user root;" )
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 100000;
  server { listen 127.0.0.1:$port; root $root; }
}
CONF
  nginx -c "$prefix/nginx.conf" -p "$prefix"
  WEB=http://127.0.0.1:$port
  for _ in $(seq 100); do
    curl -s -o /dev/null "$WEB/" && return 0
    sleep 0.05
  done
  echo "nginx did not start" >&2
  return 1
}

stop_web() {
  [ -f "$1/nginx.pid" ] && kill "$(cat "$1/nginx.pid")" 2>/dev/null || true
}
