# Servers for the network tests: the test hub and a plain nginx, both on
# 127.0.0.1 with ports chosen free, both stopped when the test exits.
# Source after lib.sh.

HUBCTL="$FERRY_SOURCE_DIR/tests/hub/hubctl.sh"
HUBLOG="$FERRY_SOURCE_DIR/tests/hub/hublog.py"
NGINX_PREFIX=

stop_servers() {
  [ -f "$WORK/hub/urls.json" ] && bash "$HUBCTL" stop "$WORK/hub" >/dev/null 2>&1 || true
  [ -n "$NGINX_PREFIX" ] && [ -f "$NGINX_PREFIX/nginx.pid" ] && \
    kill "$(cat "$NGINX_PREFIX/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap stop_servers EXIT

# start_hub [CONFIG_JSON]: a test hub under $WORK/hub; sets HUB and exports
# HF_ENDPOINT to it.
start_hub() {
  local config=
  if [ $# -gt 0 ]; then
    config=$WORK/hub-config.json
    printf '%s\n' "$1" > "$config"
  fi
  HUB=$(bash "$HUBCTL" start "$WORK/hub" $config)
  export HF_ENDPOINT=$HUB
}

# hub_faults JSON: switch the hub's faults at run time.
hub_faults() {
  curl -sf -X POST "$HUB/_control/faults" -d "$1" >/dev/null
}

# make_repo NAME MANIFEST ARGS...: a dataset alice/NAME made through the protocol.
make_repo() {
  local name=$1 manifest=$2
  shift 2
  python3 "$FERRY_SOURCE_DIR/tests/hub/make_fixture.py" --hub "$HUB" --token hf_test_alice \
    --repo "alice/$name" --out-manifest "$manifest" "$@" >/dev/null
}

# hub_count KEY=VALUE...: requests in the hub's log that match.
hub_count() {
  python3 "$HUBLOG" "$WORK/hub" --count "$@"
}

# matches_manifest DIR MANIFEST [PREFIX]: every file the fixture made is in
# DIR (below PREFIX/ stripped from its path) with its sha256.
matches_manifest() {
  python3 - "$1" "$2" "${3:-}" <<'PY'
import hashlib, json, os, sys
root, manifest, prefix = sys.argv[1:]
bad = 0
for line in open(manifest):
    m = json.loads(line)
    path = m["path"]
    if prefix:
        if not path.startswith(prefix + "/"):
            continue
        path = path[len(prefix) + 1:]
    try:
        data = open(os.path.join(root, path), "rb").read()
    except OSError as e:
        print(f"missing {path}: {e}", file=sys.stderr)
        bad += 1
        continue
    if hashlib.sha256(data).hexdigest() != m["sha256"]:
        print(f"wrong bytes in {path}", file=sys.stderr)
        bad += 1
sys.exit(1 if bad else 0)
PY
}

# start_nginx ROOT: serve ROOT on a free port, logging to
# $NGINX_PREFIX/logs/access.log; sets WEB (http://127.0.0.1:PORT).
source "$FERRY_SOURCE_DIR/tests/nginx.sh"
start_nginx() {
  NGINX_PREFIX=$WORK/nginx
  start_web "$1" "$NGINX_PREFIX" "$NGINX_PREFIX/logs/access.log"
}
