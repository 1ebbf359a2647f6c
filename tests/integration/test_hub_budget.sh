#!/usr/bin/env bash
# One Hub budget for the whole job: with the hub's resolvers quota cut to 60
# calls per 10 s and -np 4 ranks wanting far more, the hub's own log must
# show no window over the quota, and the quota used (>= 90 %) in every full
# window.  Injected 429s pause every rank together; two jobs sharing one
# --limiter-file stay under one quota together.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netlib.sh"

QUOTA=60
WINDOW=10
start_hub '{"seed": 3}'
make_repo ds "$WORK/ds.jsonl" --scenes 4 --files 50 --sizes '4k' --seed 21
make_repo small "$WORK/small.jsonl" --scenes 2 --files 50 --sizes '4k' --seed 22
export HF_TOKEN=hf_test_alice
curl -sf -X POST "$HUB/_control/rate" \
  -d "{\"resolvers\": {\"quota\": $QUOTA, \"window\": $WINDOW}}" >/dev/null

get() {
  ferry_np "$1" get --yes --progress never --json --connections 8 \
    --rate "resolve=$QUOTA/$WINDOW" "${@:2}"
}

# windows SINCE: per window of the hub's log after unix time SINCE, the
# resolve calls it counted, as "start count" lines.  Every answer is counted,
# 429s included: a call the hub refused still spent a slot.
windows() {
  python3 - "$WORK/hub/requests.jsonl" "$1" "$WINDOW" <<'PY'
import collections, json, sys
log, since, window = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
counts = collections.Counter()
for line in open(log):
    e = json.loads(line)
    if e["origin"] == "hub" and e["bucket"] == "resolvers" and e["t"] >= since:
        counts[int(e["t"] // window) * window] += 1
for start in sorted(counts):
    print(start, counts[start])
PY
}

# within_quota FILE: no window above the quota, and every window but the
# first and the last (the run began and ended inside those) at >= 90 %.
within_quota() {
  python3 - "$1" "$QUOTA" <<'PY'
import sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1])]
quota = int(sys.argv[2])
print("windows:", " ".join(str(c) for _, c in rows))
over = [c for _, c in rows if c > quota]
full = rows[1:-1]
low = [c for _, c in full if c < 0.9 * quota]
gaps = [b - a for (a, _), (b, _) in zip(rows, rows[1:]) if b - a != rows[1][0] - rows[0][0]]
sys.exit(1 if over or low or gaps or len(full) < 2 else 0)
PY
}

# summary FILE KEY: a number from the JSON summary line.
summary() {
  python3 -c 'import json,sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "summary":
        v = e
        for k in sys.argv[2].split("."):
            v = v[k]
        print(v)' "$1" "$2"
}

# --- 200 files, 4 ranks, 60 resolves per 10 s: about four windows --------
start=$(date +%s.%N)
may_fail get 4 hf://datasets/alice/ds "$WORK/one" > "$WORK/one.out" 2> "$WORK/one.err"
check "-np 4 under a small quota: exit 0 ($status)" test "$status" -eq 0
check "every file is right" matches_manifest "$WORK/one" "$WORK/ds.jsonl"
windows "$start" > "$WORK/one.windows"
check "no window over $QUOTA, >= 90 % used in every full window" within_quota "$WORK/one.windows"
check "the hub answered no 429" test "$(hub_count status=429)" -eq 0
check "the report counts 201 resolve calls (with .gitattributes)" test "$(summary "$WORK/one.out" hub_calls.resolve)" -eq 201
waited=$(summary "$WORK/one.out" hub_wait_seconds)
check "and the time spent waiting for the budget ($waited s)" \
  python3 -c "import sys; sys.exit(0 if float('$waited') > 5 else 1)"

# --- injected 429s: every rank pauses until the window resets ------------
# The first 429 of a window stops all ranks: after it, the log must show no
# more resolve calls in that window (no burst of retries from the others).
hub_faults '{"error_rate": 0.03, "error_codes": [429]}'
start=$(date +%s.%N)
may_fail get 4 hf://datasets/alice/small "$WORK/two" > "$WORK/two.out" 2> "$WORK/two.err"
hub_faults '{"error_rate": 0}'
check "injected 429s: exit 0 ($status)" test "$status" -eq 0
check "every file is right" matches_manifest "$WORK/two" "$WORK/small.jsonl"
check "429s were answered" test "$(hub_count status=429)" -gt 0
check "the report counts them" test "$(summary "$WORK/two.out" hub_429.resolve)" -gt 0
check "after a 429, at most the calls already in flight before the window reset" \
  python3 - "$WORK/hub/requests.jsonl" "$start" "$WINDOW" <<'PY'
import json, sys
log, since, window = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
entries = [json.loads(l) for l in open(log)]
entries = [e for e in entries if e["origin"] == "hub" and e["bucket"] == "resolvers" and e["t"] >= since]
worst = 0
for i, e in enumerate(entries):
    if e["status"] != 429:
        continue
    end = (int(e["t"] // window) + 1) * window
    # Calls after the 429 in the same window, leaving 0.5 s for those that
    # were on their way before the pause reached every rank.
    later = [x for x in entries[i + 1:] if e["t"] + 0.5 < x["t"] < end]
    worst = max(worst, len(later))
print("most calls after a 429 in its window:", worst)
sys.exit(0 if worst <= 2 else 1)
PY

# --- two jobs, one limiter file: one quota between them -------------------
# The 429 run may have spent part of this window: the jobs would learn that
# from the hub's first answers, but a few calls would already be on their way.
# Start on a fresh window, so that any 429 below is the limiter's fault.
sleep "$(python3 -c "import time; print($WINDOW - time.time() % $WINDOW + 0.1)")"
throttled=$(hub_count status=429)
start=$(date +%s.%N)
get 2 hf://datasets/alice/small "$WORK/three" --limiter-file "$WORK/budget" \
  > "$WORK/three.out" 2> "$WORK/three.err" &
first=$!
get 2 hf://datasets/alice/small "$WORK/four" --limiter-file "$WORK/budget" \
  > "$WORK/four.out" 2> "$WORK/four.err" &
second=$!
s1=0; s2=0
wait "$first" || s1=$?
wait "$second" || s2=$?
check "two jobs sharing a limiter file: both exit 0 ($s1, $s2)" test "$s1$s2" = "00"
check "every file of both is right" \
  bash -c "$(declare -f matches_manifest); matches_manifest '$WORK/three' '$WORK/small.jsonl' && matches_manifest '$WORK/four' '$WORK/small.jsonl'"
windows "$start" > "$WORK/shared.windows"
check "together no window over $QUOTA, >= 90 % used in every full window" \
  within_quota "$WORK/shared.windows"
check "the hub answered no 429" test "$(hub_count status=429)" -eq "$throttled"
check "the file records the claims" grep -q '^resolve ' "$WORK/budget"

# --- bad specs are usage errors --------------------------------------------
may_fail "$FERRY_BIN" get --rate api=10 hf://datasets/alice/ds "$WORK/bad" > "$WORK/bad.out" 2>&1
check "--rate api=10 is a usage error ($status)" test "$status" -eq 2
check "that names the spec" grep -q "api=10.*CLASS=CALLS/SECONDS" "$WORK/bad.out"
may_fail "$FERRY_BIN" get --yes --limiter-file /nonexistent/dir/budget hf://datasets/alice/ds \
  "$WORK/bad" > "$WORK/bad.out" 2>&1
check "an unopenable limiter file is a usage error ($status)" test "$status" -eq 2
check "that names the file" grep -q "/nonexistent/dir/budget" "$WORK/bad.out"

finish
