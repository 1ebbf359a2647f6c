#!/usr/bin/env bash
# Start or stop the S3 test service: s3rver (storage) behind s3proxy.py (SigV4
# checks, faults, request log).  Tests talk to the proxy only.
#
#   s3ctl.sh start DIR   store in DIR/store; writes DIR/env (source it), DIR/*.pid
#   s3ctl.sh stop DIR
#
# S3_BUCKETS (default "ferry-test") names the buckets created at start, space
# separated.  Both servers listen on ports the kernel picks (port 0), so
# parallel tests never race for a "free" port.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }

# Waits for FILE to hold a line matching RE (a server reports its port that way).
wait_for() {
  local file=$1 re=$2 pid=$3
  for _ in $(seq 1 200); do
    grep -qE "$re" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { echo "s3ctl: server died; $file:" >&2; cat "$file" >&2; return 1; }
    sleep 0.05
  done
  echo "s3ctl: timed out waiting for $file" >&2
  return 1
}

start() {
  local dir=$1 b
  mkdir -p "$dir/store" "$dir/spool"
  dir="$(cd "$dir" && pwd)"
  bash "$here/npm_install.sh"
  local buckets=()
  for b in ${S3_BUCKETS:-ferry-test}; do buckets+=(--configure-bucket "$b"); done

  # s3rver's ListObjectsV2 continuation tokens are DES-encrypted, which OpenSSL 3
  # only offers in its legacy provider: without it every truncated listing is a
  # 500 InternalError.
  local legacy=()
  node --openssl-legacy-provider -e 0 2>/dev/null && legacy=(--openssl-legacy-provider)
  # --silent drops s3rver's request log; it still prints "listening on ADDR:PORT".
  : >"$dir/s3rver.out"
  node "${legacy[@]}" "$here/npm/node_modules/s3rver/bin/s3rver.js" -d "$dir/store" -a 127.0.0.1 -p 0 \
    --silent --no-vhost-buckets "${buckets[@]}" >"$dir/s3rver.out" 2>&1 &
  echo $! >"$dir/s3rver.pid"
  wait_for "$dir/s3rver.out" 'listening on .*:[0-9]+' "$(cat "$dir/s3rver.pid")"
  local s3port
  s3port=$(sed -nE 's/.*listening on .*:([0-9]+).*/\1/p' "$dir/s3rver.out" | head -1)

  [ -e "$dir/faults.json" ] || echo '{"rules":[]}' >"$dir/faults.json"
  rm -f "$dir/proxy.port"
  python3 "$here/s3proxy.py" --upstream "127.0.0.1:$s3port" --port-file "$dir/proxy.port" \
    --log "$dir/requests.jsonl" --faults "$dir/faults.json" --store "$dir/store" \
    --spool-dir "$dir/spool" ${S3_PROXY_ARGS:-} 2>"$dir/proxy.err" &
  echo $! >"$dir/proxy.pid"
  wait_for "$dir/proxy.port" '^[0-9]+$' "$(cat "$dir/proxy.pid")"
  local port
  port=$(cat "$dir/proxy.port")

  cat >"$dir/env" <<EOF
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=S3RVER
export AWS_SECRET_ACCESS_KEY=S3RVER
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
export S3_LOG=$dir/requests.jsonl
export S3_FAULTS=$dir/faults.json
export S3_DIRECT=http://127.0.0.1:$s3port
export S3_STORE=$dir/store
EOF
  # Both listen already (the port lines come after listen()); one probe proves the
  # proxy reaches s3rver.
  curl -sf -o /dev/null "http://127.0.0.1:$port/__health"
}

stop() {
  local dir=$1 f pid
  for f in proxy s3rver; do
    [ -f "$dir/$f.pid" ] || continue
    pid=$(cat "$dir/$f.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/$f.pid"
  done
}

[ $# -eq 2 ] || usage
case $1 in
  start) start "$2" ;;
  stop) stop "$2" ;;
  *) usage ;;
esac
