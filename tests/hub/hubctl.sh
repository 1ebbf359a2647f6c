#!/usr/bin/env bash
# Start and stop a test hub from shell scripts.
#   hubctl.sh start DIR [CONFIG]   start in the background; prints the hub URL when ready
#   hubctl.sh stop DIR             stop it (nginx too) and wait
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?usage: hubctl.sh start|stop DIR [CONFIG]}
dir=${2:?usage: hubctl.sh start|stop DIR [CONFIG]}
mkdir -p "$dir"
case $cmd in
  start)
    rm -f "$dir/urls.json"
    args=(serve --workdir "$dir")
    [ -n "${3:-}" ] && args+=(--config "$3")
    python3 "$here/testhub.py" "${args[@]}" > "$dir/hub.out" 2> "$dir/hub.err" &
    echo $! > "$dir/hub.pid"
    for _ in $(seq 200); do
      if [ -s "$dir/urls.json" ]; then
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hub"])' "$dir/urls.json"
        exit 0
      fi
      kill -0 "$(cat "$dir/hub.pid")" 2>/dev/null || { cat "$dir/hub.err" >&2; exit 1; }
      sleep 0.05
    done
    echo "test hub did not start: see $dir/hub.err" >&2
    exit 1
    ;;
  stop)
    [ -f "$dir/hub.pid" ] || exit 0
    pid=$(cat "$dir/hub.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    rm -f "$dir/hub.pid"
    ;;
  *)
    echo "usage: hubctl.sh start|stop DIR [CONFIG]" >&2
    exit 2
    ;;
esac
