#!/usr/bin/env bash
# 429s a job sees when it learns the Hub's quota from RateLimit headers,
# against one told it: ferry get of 320 files of 4 KiB from the test hub with
# its resolvers quota cut to 80 calls per 4 s, told (--rate resolve=80/4) and
# not told (the default 5000/300), under mpirun -np 1 and -np 2, REPS rounds
# (default 3).  Each run starts on a fresh window of the hub's.  Prints the
# hub's 429s of each run and the median seconds per case.
#
#   bash bench/rate_learn.sh [WORKDIR]      (default /var/tmp/ferry-bench-rate)
#   FERRY_BIN=/path/to/ferry bash bench/rate_learn.sh     another build
#   FERRY_ARGS="--connections 64" bash bench/rate_learn.sh  more options for every run
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/var/tmp/ferry-bench-rate}
ferry=${FERRY_BIN:-$top/build/ferry}
reps=${REPS:-3}
quota=80 window=4
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
source "$top/bench/benchlib.sh"
hubctl=$top/tests/hub/hubctl.sh

rm -rf "$work"
mkdir -p "$work"
HUB=$(bash "$hubctl" start "$work/hub")
trap 'bash "$hubctl" stop "$work/hub" >/dev/null 2>&1 || true' EXIT
export HF_ENDPOINT=$HUB HF_TOKEN=hf_test_alice
python3 "$top/tests/hub/make_fixture.py" --hub "$HUB" --token hf_test_alice --repo alice/ds \
  --out-manifest "$work/ds.jsonl" --scenes 4 --files 80 --sizes 4k --seed 31 >/dev/null
curl -sf -X POST "$HUB/_control/rate" \
  -d "{\"resolvers\": {\"quota\": $quota, \"window\": $window}}" >/dev/null

throttled() {
  curl -sf "$HUB/_control/counters" | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"].get("429", 0))'
}

# one NP ARGS...: prints "429s seconds" for one run.
one() {
  local np=$1 before seconds
  shift
  sleep "$(python3 -c "import time; print($window - time.time() % $window + 0.1)")"
  before=$(throttled)
  seconds=$(timed "$work/out" mpirun -np "$np" --oversubscribe "$ferry" get --yes -q \
    --progress never ${FERRY_ARGS:-} "$@" hf://datasets/alice/ds "$work/out")
  echo "$(($(throttled) - before)) $seconds"
}

echo "binary: $ferry"
printf '%-4s %-8s %-18s %s\n' np rate "429s per run" "median s"
for np in 1 2; do
  for mode in told untold; do
    args=()
    [ "$mode" = told ] && args=(--rate "resolve=$quota/$window")
    counts="" times=""
    for _ in $(seq "$reps"); do
      read -r n s < <(one "$np" "${args[@]}")
      counts="$counts $n" times="$times $s"
    done
    read -r median _ < <(median_best "$times")
    printf '%-4s %-8s %-18s %.1f\n' "$np" "$mode" "${counts# }" "$median"
  done
done
