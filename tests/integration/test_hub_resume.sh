#!/usr/bin/env bash
# A download from the hub killed with -9 resumes without fetching anything
# the journal has; SIGTERM stops it with 75 and a rerun completes.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netlib.sh"

# 100 ms before every hub answer and two transfers per rank: slow enough
# to interrupt in the middle.
start_hub '{"page_size": 1000}'
make_repo ds "$WORK/ds.jsonl" --scenes 2 --files 60 --sizes '4k:90%,1m:10%' --seed 3
export HF_TOKEN=hf_test_alice
hub_faults '{"latency_ms": 100}'
getcmd=(mpirun -np 2 --oversubscribe "$FERRY_BIN" get --yes --progress never -q
        --connections 2 --chunk-size 256k hf://datasets/alice/ds)

"${getcmd[@]}" "$WORK/dst" > "$WORK/killed.out" 2>&1 &
pid=$!
wait_for_journal "$WORK/dst" '^F ' 20 || true
pkill -9 -f "^$FERRY_BIN get .*$WORK/dst\$" || true
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
grep '^F ' "$WORK/dst/.ferry/journal" | cut -d' ' -f3- | sort -u > "$WORK/journalled"
done_before=$(wc -l < "$WORK/journalled")
check "the kill came in the middle ($done_before files journalled)" \
  test "$done_before" -ge 20 -a "$done_before" -lt "$(wc -l < "$WORK/ds.jsonl")"

hub_faults '{"latency_ms": 0}'
t0=$(python3 -c 'import time; print(time.time())')
may_fail "${getcmd[@]}" "$WORK/dst" > "$WORK/resumed.out" 2>&1
check "the rerun exits 0 ($status)" test "$status" -eq 0
check "every file is right" matches_manifest "$WORK/dst" "$WORK/ds.jsonl"
python3 "$HUBLOG" "$WORK/hub" > "$WORK/log.jsonl"
check "the rerun resolved no journalled file" python3 - "$WORK/log.jsonl" "$WORK/journalled" "$t0" <<'PY'
import json, sys
log, journalled, t0 = sys.argv[1], sys.argv[2], float(sys.argv[3])
done = {line.rstrip("\n") for line in open(journalled)}
again = [e["path"] for e in map(json.loads, open(log))
         if e["t"] >= t0 and e["bucket"] == "resolvers" and e["path"].split("/", 6)[-1] in done]
if again:
    sys.exit(f"fetched again: {again[:5]}")
PY

hub_faults '{"latency_ms": 100}'
"${getcmd[@]}" "$WORK/dst2" > "$WORK/term.out" 2>&1 &
pid=$!
wait_for_journal "$WORK/dst2" '^F ' 10 || true
# As Slurm does at preemption: every task gets the signal.
pkill -TERM -f "^$FERRY_BIN get .*$WORK/dst2\$"
status=0
wait "$pid" || status=$?
check "SIGTERM: exit 75 ($status)" test "$status" -eq 75
check "the lock is released" test ! -e "$WORK/dst2/.ferry/lock"
hub_faults '{"latency_ms": 0}'
may_fail "${getcmd[@]}" "$WORK/dst2" > /dev/null 2>&1
check "a rerun completes ($status)" matches_manifest "$WORK/dst2" "$WORK/ds.jsonl"

finish
