#!/usr/bin/env bash
# Start and stop the GCS double (gcsdouble.py) from shell scripts.
#   gcsctl.sh start DIR [BACKEND_URL] [-- DOUBLE_ARGS...]
#       a key in DIR (make_key.sh; kept between runs), the double on a free
#       port in the background, DIR/sa.json's token_uri pointing at it;
#       prints the double's URL.  Requests are logged to DIR/requests.jsonl.
#   gcsctl.sh stop DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
usage="usage: gcsctl.sh start DIR [BACKEND_URL] [-- DOUBLE_ARGS...] | stop DIR"
cmd=${1:?$usage}
dir=${2:?$usage}
shift 2
mkdir -p "$dir"
case $cmd in
  start)
    backend=()
    if [ $# -gt 0 ] && [ "$1" != "--" ]; then backend=(--backend "$1"); shift; fi
    [ "${1:-}" = "--" ] && shift
    bash "$here/make_key.sh" "$dir" >/dev/null
    rm -f "$dir/port"
    python3 "$here/gcsdouble.py" --public-key "$dir/public.pem" "${backend[@]}" \
      --port-file "$dir/port" --log "$dir/requests.jsonl" "$@" > "$dir/double.out" 2> "$dir/double.err" &
    echo $! > "$dir/double.pid"
    for _ in $(seq 200); do
      if [ -s "$dir/port" ]; then
        url=http://127.0.0.1:$(cat "$dir/port")
        bash "$here/make_key.sh" "$dir" "$url/token" >/dev/null
        echo "$url"
        exit 0
      fi
      kill -0 "$(cat "$dir/double.pid")" 2>/dev/null || { cat "$dir/double.err" >&2; exit 1; }
      sleep 0.05
    done
    echo "GCS double did not start: see $dir/double.err" >&2
    exit 1
    ;;
  stop)
    [ -f "$dir/double.pid" ] || exit 0
    pid=$(cat "$dir/double.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    rm -f "$dir/double.pid"
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac
