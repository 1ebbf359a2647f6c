#!/usr/bin/env bash
# ferry put to the test hub against @huggingface/hub uploadFiles (the pinned
# version in tests/hub/conformance, Xet off): 5,000 files in 50 scenes
# (4,900 of 16 KiB, 50 of 32 MiB, 50 small JSON files), with 30 ms added to
# every hub answer (a WAN round trip).  Each tool uploads to a fresh hub of
# its own (the hub stores LFS objects once for all repositories, so a second
# tool on the same hub would find them there); wall time and the hub's log's
# calls per class are reported.
#
#   bash bench/put_hub.sh [WORKDIR]       (default /var/tmp/ferry-bench-put)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/var/tmp/ferry-bench-put}
ferry=${FERRY_BIN:-$top/build/ferry}
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
source "$top/bench/benchlib.sh"
need_tools node:nodejs nginx:nginx bc:bc
bash "$top/tests/hub/npm_install.sh"
hubctl=$top/tests/hub/hubctl.sh

rm -rf "$work"
mkdir -p "$work"
echo '{"faults": {"latency_ms": 30}}' > "$work/hub.json"
trap 'for h in "$work"/hub-*; do bash "$hubctl" stop "$h" >/dev/null 2>&1 || true; done' EXIT
export HF_TOKEN=hf_test_alice HF_HOME=$work/hf-home

# fresh_hub NAME: a new test hub for one tool; sets HUB, HF_ENDPOINT and log.
fresh_hub() {
  HUB=$(bash "$hubctl" start "$work/hub-$1" "$work/hub.json")
  export HF_ENDPOINT=$HUB
  log=$work/hub-$1/requests.jsonl
}

python3 "$top/tests/gen_tree.py" "$work/data" --scenes 50 --small 98 --small-size 16K \
  --large 1 --large-size 32M --seed 3 >/dev/null
files=$(find "$work/data" -type f | wc -l)
bytes=$(du -sb "$work/data" | cut -f1)

# classes REPO SINCE_LINE: the calls one tool made, per class, from the log.
classes() {
  python3 - "$log" "$1" "$2" <<'PY'
import collections, json, re, sys
log, repo, since = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = collections.Counter()
for line in open(log).readlines()[since:]:
    e = json.loads(line)
    p = e["path"]
    if e["origin"] == "storage":
        c["storage PUT"] += 1
    elif p.startswith("/_lfs/complete/"):
        c["completion"] += 1
    elif f"/{repo}/commit/" in p:
        c["commit"] += 1
    elif p.startswith("/api/") or p.endswith("/info/lfs/objects/batch"):
        c["api (not commit)"] += 1
    else:
        c["other"] += 1
api = c["api (not commit)"] + c["commit"]
print(f"  api calls {api} (of which commits {c['commit']}); storage PUTs {c['storage PUT']}; "
      f"completions {c['completion']}; other {c['other']}")
PY
}

run() {
  local name=$1 repo=$2 out
  out=$work/$(echo "$1" | tr -c 'a-zA-Z0-9\n' _).out
  shift 2
  local mark start end
  mark=$(wc -l < "$log")
  start=$(date +%s.%N)
  "$@" > "$out" 2>&1 || { echo "$name failed" >&2; tail -20 "$out" >&2; exit 1; }
  end=$(date +%s.%N)
  printf '%-40s %8.1f s\n' "$name" "$(echo "$end - $start" | bc -l)"
  classes "$repo" "$mark"
}

echo "put $files files, $((bytes / 1048576)) MiB, to the test hub (30 ms per hub answer)"
fresh_hub js
run "@huggingface/hub uploadFiles" js \
  node "$top/tests/hub/conformance/roundtrip.mjs" upload "$HUB" alice/js "$work/data"
fresh_hub ferry
run "ferry put -np 2" ferry \
  mpirun --oversubscribe -np 2 "$ferry" put --create --yes --progress never "$work/data" \
  hf://datasets/alice/ferry
rm -rf "$work/data/.ferry"
run "ferry put -np 2, hashes not cached, repo done" ferry \
  mpirun --oversubscribe -np 2 "$ferry" put --yes --progress never "$work/data" \
  hf://datasets/alice/ferry
# FERRY_BASE: another ferry binary (an earlier commit), run the same way.
if [ -n "${FERRY_BASE:-}" ]; then
  rm -rf "$work/data/.ferry"
  fresh_hub base
  run "ferry put -np 2 ($FERRY_BASE)" base \
    mpirun --oversubscribe -np 2 "$FERRY_BASE" put --create --yes --progress never "$work/data" \
    hf://datasets/alice/base
fi
