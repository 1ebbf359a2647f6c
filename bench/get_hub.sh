#!/usr/bin/env bash
# ferry get from the test hub with a WAN profile (30 ms added to every hub
# response, each CDN connection limited to 40 MB/s) against
#   @huggingface/hub snapshotDownload (the pinned version, tests/hub/conformance)
#   aria2c -j16 -x16 -s16 given the files' URLs resolved beforehand (CDN URLs
#     for LFS files; the resolve step is not timed and its calls not counted)
#   mpirun -np 2 ferry get
# on (b) 2,000 files of 64 KiB and (c) 50 files of 64 MiB, in turn, REPS
# rounds (default 3; snapshotDownload once per case, it takes minutes);
# medians, and the hub's log's calls per class for each tool's last run.
#
#   bash bench/get_hub.sh [WORKDIR]       (default /var/tmp/ferry-bench-hub)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/var/tmp/ferry-bench-hub}
ferry=${FERRY_BIN:-$top/build/ferry}
reps=${REPS:-3}
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
source "$top/bench/benchlib.sh"
need_tools aria2c:aria2 nginx:nginx node:nodejs
bash "$top/tests/hub/npm_install.sh"
module=$top/tests/hub/conformance/node_modules/@huggingface/hub/dist/index.mjs
hubctl=$top/tests/hub/hubctl.sh

rm -rf "$work"
mkdir -p "$work"
cat > "$work/hub.json" <<'JSON'
{"faults": {"latency_ms": 30, "cdn_limit_rate": "40m"}}
JSON
HUB=$(bash "$hubctl" start "$work/hub" "$work/hub.json")
trap 'bash "$hubctl" stop "$work/hub" >/dev/null 2>&1 || true' EXIT
unset HF_TOKEN HUGGING_FACE_HUB_TOKEN
export HF_ENDPOINT=$HUB HF_HOME=$work/hf-home

fixture() {
  python3 "$top/tests/hub/make_fixture.py" --hub "$HUB" --token hf_test_alice \
    --repo "alice/$1" --out-manifest "$work/$1.jsonl" "${@:2}" >/dev/null
}
fixture small --scenes 4 --files 500 --sizes 64k --seed 1
fixture large --scenes 2 --files 25 --sizes 64m --seed 2

# aria2's input: every file's final URL (the CDN's for LFS files) and its path.
resolve_urls() {
  python3 - "$HUB" "$1" "$work/$1.jsonl" > "$work/$1.aria2" <<'PY'
import json, sys, urllib.request, urllib.error
hub, name, manifest = sys.argv[1:]
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k): return None
opener = urllib.request.build_opener(NoRedirect)
for line in open(manifest):
    path = json.loads(line)["path"]
    url = f"{hub}/datasets/alice/{name}/resolve/main/{path}"
    try:
        opener.open(urllib.request.Request(url, method="HEAD"))
        final = url
    except urllib.error.HTTPError as e:
        final = e.headers["Location"] if e.code in (301, 302, 307) else sys.exit(f"{url}: {e}")
    print(f"{final}\n  out={path}")
PY
}
resolve_urls small
resolve_urls large

out=$work/out
# Calls so far: API and resolve from the hub's counters, CDN requests from
# nginx's log (after a pause, so that the last lines are written).
calls() {
  sleep 1
  curl -sf "$HUB/_control/counters" | python3 -c '
import json, sys
c = json.load(sys.stdin)["requests"]
print(c.get("hub:api", 0), c.get("hub:resolvers", 0), end=" ")'
  wc -l < "$work/hub/cdn.jsonl"
}
run_snapshot() { node "$top/bench/snapshot_download.mjs" "$module" "$HUB" "alice/$1" "$out"; }
run_aria() { aria2c -q -j16 -x16 -s16 -d "$out" -i "$work/$1.aria2"; }
run_ferry() { mpirun -np 2 --oversubscribe "$ferry" get --yes -q --progress never ${FERRY_ARGS:-} "hf://datasets/alice/$1" "$out"; }
# FERRY_BASE: another ferry binary (an earlier commit) run beside, as base;
# TOOLS: the tools to run (snapshot aria ferry base).
base=${FERRY_BASE:-}
run_base() { ferry=$base run_ferry "$1"; }
read -r -a tools <<<"${TOOLS:-snapshot aria ferry${base:+ base}}"
has_tool() { [[ " ${tools[*]} " == *" $1 "* ]]; }

declare -A times=() used=()
measure() {   # measure TOOL CASE: one timed run, its calls remembered
  local before after
  read -r -a before < <(calls)
  times[$1/$2]+="$(timed "$out" "run_$1" "$2") "
  read -r -a after < <(calls)
  used[$1/$2]="$((after[0] - before[0])) | $((after[1] - before[1])) | $((after[2] - before[2]))"
}
for c in small large; do
  ! has_tool snapshot || measure snapshot "$c"
  for _ in $(seq "$reps"); do
    for t in "${tools[@]}"; do
      [ "$t" = snapshot ] || measure "$t" "$c"
    done
  done
done

echo "| case | tool | runs | median s | best s | MiB/s (median) | API calls | resolve calls | CDN requests |"
echo "|---|---|---|---|---|---|---|---|---|"
declare -A label=([small]="(b) 2,000 x 64 KiB" [large]="(c) 50 x 64 MiB")
declare -A tool=([snapshot]="snapshotDownload" [aria]="aria2c -j16 -x16 -s16" [ferry]="ferry -np 2"
                 [base]="ferry -np 2, $base")
for c in small large; do
  bytes=$(python3 -c 'import json,sys; print(sum(json.loads(l)["size"] for l in open(sys.argv[1])))' "$work/$c.jsonl")
  for t in "${tools[@]}"; do
    read -r median best < <(median_best "${times[$t/$c]}")
    runs=$(echo "${times[$t/$c]}" | wc -w)
    printf '| %s | %s | %d | %.2f | %.2f | %.1f | %s |\n' "${label[$c]}" "${tool[$t]}" "$runs" \
      "$median" "$best" "$(echo "$bytes / $median / 1048576" | bc -l)" "${used[$t/$c]}"
  done
done
rm -rf "$out"
