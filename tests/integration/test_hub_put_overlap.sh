#!/usr/bin/env bash
# ferry put of several scenes under mpirun -np 2: one scheduler runs the
# storage PUTs of every rank and rank 0's commits, batch by batch, so a
# scene's commit goes out while the next scenes' objects still upload.  The
# hub's request log shows a commit before the last storage PUT, and the repo
# holds exactly the source's files.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netlib.sh"

start_hub '{"seed": 11}'
source "$(dirname "$0")/hub_put_lib.sh"
export HF_TOKEN=hf_test_alice
python3 "$FERRY_SOURCE_DIR/tests/gen_tree.py" "$WORK/src" --scenes 5 --small 8 --small-size 64K \
  --large 0 --seed 12 >/dev/null
for s in "$WORK"/src/scene_*; do printf 'notes of %s\n' "${s##*/}" > "$s/notes.txt"; done
files=$(find "$WORK/src" -type f | wc -l)

# Slow storage: each PUT takes 150 ms, so the uploads of later scenes are
# still running when the first scenes' commits could go.
hub_faults '{"storage_latency_ms": 150}'
may_fail ferry_np 2 put --create --yes --progress never --connections 2 "$WORK/src" \
  hf://datasets/alice/overlap > "$WORK/put.out" 2> "$WORK/put.err"
hub_faults '{"storage_latency_ms": 0}'
check "put -np 2 of $files files in 5 scenes: exit 0 ($status)" test "$status" -eq 0
check "one commit per scene (5)" test "$(calls '/alice/overlap/commit/' 200)" -eq 5
check "one storage PUT per LFS object (40)" test "$(calls '^/put/' 200)" -eq 40
check "a commit arrived before the last storage PUT (overlap)" python3 - "$LOG" <<'PY'
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
commits = [i for i, e in enumerate(log) if "/alice/overlap/commit/" in e["path"] and e["status"] == 200]
puts = [i for i, e in enumerate(log) if e["origin"] == "storage" and e["status"] == 200]
print("first commit at line", commits[0], "of", len(log), "; last PUT at line", puts[-1])
sys.exit(0 if commits and puts and commits[0] < puts[-1] else 1)
PY
check "both ranks uploaded (rank 0)" grep -q "\[r0\].*this rank uploaded" "$WORK/put.err"
check "both ranks uploaded (rank 1)" grep -q "\[r1\].*this rank uploaded" "$WORK/put.err"
check "the repo's files are the source's (sha256)" same_as_local "$WORK/src" overlap
finish
