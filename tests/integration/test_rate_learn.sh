#!/usr/bin/env bash
# What the limiter learns from the Hub's RateLimit and RateLimit-Policy
# headers is as good as being told the quota: with the hub's resolvers quota
# cut to 80 calls per 4 s, a job left at the default --rate (5000/300) must
# see no more 429s than one told --rate resolve=80/4, under -np 1 and -np 2,
# and every file must arrive with its sha256.  Counts are the hub's own log.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netlib.sh"

QUOTA=80
WINDOW=4
start_hub '{"seed": 5}'
make_repo ds "$WORK/ds.jsonl" --scenes 4 --files 80 --sizes '4k' --seed 31
export HF_TOKEN=hf_test_alice
curl -sf -X POST "$HUB/_control/rate" \
  -d "{\"resolvers\": {\"quota\": $QUOTA, \"window\": $WINDOW}}" >/dev/null

# Each run starts on a fresh window of the hub's, so that no run pays for the
# calls of the one before.
fresh_window() {
  sleep "$(python3 -c "import time; print($WINDOW - time.time() % $WINDOW + 0.1)")"
}

# run NP NAME [ARGS...]: a get into $WORK/NAME; prints the 429s the hub
# answered during it.
run() {
  local np=$1 name=$2 before
  shift 2
  fresh_window
  before=$(hub_count status=429)
  may_fail ferry_np "$np" get --yes --progress never --json "$@" hf://datasets/alice/ds \
    "$WORK/$name" > "$WORK/$name.out" 2> "$WORK/$name.err"
  check "$name: exit 0 ($status)" test "$status" -eq 0
  check "$name: every file is right" matches_manifest "$WORK/$name" "$WORK/ds.jsonl"
  echo $(($(hub_count status=429) - before)) > "$WORK/$name.429"
}

for np in 1 2; do
  run "$np" told$np --rate "resolve=$QUOTA/$WINDOW"
  run "$np" untold$np
  told=$(cat "$WORK/told$np.429")
  untold=$(cat "$WORK/untold$np.429")
  echo "-np $np: 429s told $told, not told $untold"
  check "-np $np: told the quota, no 429" test "$told" -eq 0
  check "-np $np: not told, no more 429s than told ($untold <= $told)" test "$untold" -le "$told"
done

finish
