#!/usr/bin/env bash
# ferry put and sync to the test hub, read back through the official
# @huggingface/hub client: the bytes it downloads are the local ones, an
# upload it made is a no-op for ferry sync, multipart parts go out from every
# rank, prune stays in the selected scenes, a lost commit answer gives one
# commit, a killed upload resumes without sending stored objects again, and a
# commit quota 429 waits and goes on.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netlib.sh"

# Multipart above 4 MiB, in 1 MiB parts, so small files exercise it.
start_hub '{"multipart_threshold": 4194304, "multipart_chunk_size": 1048576, "seed": 9}'
source "$(dirname "$0")/hub_put_lib.sh"
export HF_TOKEN=hf_test_alice
python3 "$FERRY_SOURCE_DIR/tests/gen_tree.py" "$WORK/src" --scenes 3 --small 20 --small-size 4K \
  --large 1 --large-size 6M --seed 5 >/dev/null
printf 'hello\n' > "$WORK/src/scene_000/notes.txt"
run() { ferry_np 2 "$@" --yes --progress never --connections 4; }

# --- a missing repository says how to make it ---------------------------------
may_fail run put "$WORK/src" hf://datasets/alice/up > "$WORK/missing.out" 2>&1
check "a missing repository: exit 4 ($status)" test "$status" -eq 4
check "that says to pass --create" grep -q "pass --create" "$WORK/missing.out"

# --- put --create, -np 2 ---------------------------------------------------------
files=$(find "$WORK/src" -type f | wc -l)
may_fail run put --create "$WORK/src" hf://datasets/alice/up > "$WORK/put.out" 2> "$WORK/put.err"
check "put --create -np 2: exit 0 ($status)" test "$status" -eq 0
check "@huggingface/hub downloads exactly the local files" same_as_local "$WORK/src" up
check "one preupload call for $files files" test "$(calls '/preupload/')" -eq 1
check "one LFS batch call" test "$(calls 'objects/batch$')" -eq 1
check "one commit per scene (3)" test "$(calls '/commit/' 200)" -eq 3
check "multipart parts went out from rank 0" grep -q "\[r0\].*this rank uploaded" "$WORK/put.err"
check "and from rank 1" grep -q "\[r1\].*this rank uploaded" "$WORK/put.err"
check "the parts were completed ($(calls '^/_lfs/complete/' 200))" \
  test "$(calls '^/_lfs/complete/' 200)" -eq 3
check "the token never went to storage or completion URLs" \
  python3 "$FERRY_SOURCE_DIR/tests/hub/hublog.py" "$WORK/hub" --assert-no-auth-at storage
check "nor to a completion URL" python3 - "$LOG" <<'PY'
import json, sys
sys.exit(any(e["path"].startswith("/_lfs/complete/") and e["auth"]
             for e in map(json.loads, open(sys.argv[1]))))
PY
check "the report counts the calls" grep -q "Hub calls: api [0-9]*, resolve 0, commit 3" "$WORK/put.out"

# --- a rerun uploads nothing ---------------------------------------------------------
before=$(calls '/(preupload|commit)/|batch$|^/(put|part)/')
may_fail run put "$WORK/src" hf://datasets/alice/up > "$WORK/again.out" 2>&1
check "a rerun: exit 0 ($status)" test "$status" -eq 0
check "and makes no upload call" test "$(calls '/(preupload|commit)/|batch$|^/(put|part)/')" -eq "$before"
check "it says so" grep -q "nothing to do" "$WORK/again.out"
check "the hashes came from the cache" test -s "$WORK/src/.ferry/push/hashes"

# --- @huggingface/hub uploads; ferry sync of the same folder is a no-op ------------------
python3 "$FERRY_SOURCE_DIR/tests/gen_tree.py" "$WORK/js" --scenes 2 --small 10 --small-size 2K \
  --large 1 --large-size 5M --seed 6 >/dev/null
check "@huggingface/hub uploadFiles" node "$ROUNDTRIP" upload "$HUB" alice/fromjs "$WORK/js"
before=$(calls '/(preupload|commit)/|batch$|^/(put|part)/')
may_fail run sync "$WORK/js" hf://datasets/alice/fromjs > "$WORK/js.out" 2>&1
check "ferry sync of the same folder: exit 0 ($status)" test "$status" -eq 0
check "makes no upload call" test "$(calls '/(preupload|commit)/|batch$|^/(put|part)/')" -eq "$before"
check "and plans nothing" grep -q "nothing to do" "$WORK/js.out"

# --- sync prunes only the selected scenes, and never .gitattributes ----------------------
gone0=$(find "$WORK/src/scene_000" -name '*.bin' -size -8k | sort | head -n 1)
gone1=$(find "$WORK/src/scene_001" -name '*.bin' -size -8k | sort | head -n 1)
rm "$gone0" "$gone1"
may_fail run sync --scenes scene_000 "$WORK/src" hf://datasets/alice/up > "$WORK/sync.out" 2>&1
check "sync --scenes scene_000: exit 0 ($status)" test "$status" -eq 0
node "$ROUNDTRIP" list "$HUB" alice/up > "$WORK/after-sync.jsonl"
check "the file gone from scene_000 is gone remotely" \
  bash -c "! grep -q '\"${gone0#$WORK/src/}\"' '$WORK/after-sync.jsonl'"
check "the one gone from scene_001 is kept (scene not selected)" \
  grep -q "\"${gone1#$WORK/src/}\"" "$WORK/after-sync.jsonl"
check ".gitattributes is kept" grep -q '"\.gitattributes"' "$WORK/after-sync.jsonl"

# --- a lost commit answer: exactly one commit, no file lost ------------------------------
echo "changed" > "$WORK/src/scene_002/notes.txt"
commits=$(calls '/commit/')
hub_faults '{"lose_commit_response": 1}'
may_fail run put --scenes scene_002 "$WORK/src" hf://datasets/alice/up > "$WORK/lost.out" 2> "$WORK/lost.err"
check "a lost commit answer: exit 0 ($status)" test "$status" -eq 0
check "one commit POST, not repeated ($(( $(calls '/commit/') - commits )))" \
  test "$(( $(calls '/commit/') - commits ))" -eq 1
check "the check found it landed" grep -q "it had landed" "$WORK/lost.err"
node "$ROUNDTRIP" list "$HUB" alice/up > "$WORK/after-lost.jsonl"
check "the new content is there" python3 - "$WORK/after-lost.jsonl" <<'PY'
import hashlib, json, sys
want = hashlib.sha256(b"changed\n").hexdigest()
sys.exit(not any(e["path"] == "scene_002/notes.txt" and e["sha256"] == want
                 for e in map(json.loads, open(sys.argv[1]))))
PY

# --- a commit quota 429 waits and goes on ---------------------------------------------
# (sync: the file kept in scene_001 above goes now, so the trees end equal)
curl -sf -X POST "$HUB/_control/rate" -d '{"commit": {"quota": 1, "window": 4}}' >/dev/null
for s in scene_000 scene_001 scene_002; do echo "quota $s" > "$WORK/src/$s/notes.txt"; done
commits=$(calls '/commit/' 200)
may_fail run sync "$WORK/src" hf://datasets/alice/up > "$WORK/quota.out" 2>&1
curl -sf -X POST "$HUB/_control/rate" -d '{"commit": {"quota": 100000, "window": 3600}}' >/dev/null
check "commits over the quota: exit 0 ($status)" test "$status" -eq 0
check "the hub answered 429 to a commit" test "$(calls '/commit/' 429)" -gt 0
check "three commits landed, none twice" test "$(( $(calls '/commit/' 200) - commits ))" -eq 3
check "every file is right" same_as_local "$WORK/src" up

# --- calls scale with the batch sizes: 600 files cost 3 preuploads, 3 LFS
# batches and 6 commits ------------------------------------------------------------
python3 "$FERRY_SOURCE_DIR/tests/gen_tree.py" "$WORK/many" --scenes 1 --small 600 --small-size 1K \
  --large 0 --seed 8 >/dev/null
n=$(find "$WORK/many" -type f | wc -l)
may_fail run put --create "$WORK/many" hf://datasets/alice/many > "$WORK/many.out" 2>&1
check "$n files: exit 0 ($status)" test "$status" -eq 0
check "ceil($n/256) preupload calls" test "$(calls '/alice/many/preupload/')" -eq $(( (n + 255) / 256 ))
check "LFS batch calls: at most ceil(LFS files/256)" \
  test "$(calls '/alice/many.git/info/lfs/objects/batch')" -le $(( (n + 255) / 256 ))
check "one commit per 100 files" test "$(calls '/alice/many/commit/' 200)" -eq $(( (n + 99) / 100 ))
check "every file is right" same_as_local "$WORK/many" many

# --- kill -9 in the middle of an upload, then resume ---------------------------------
# slow_put NAME N: with storage slowed down, start `put --create` of
# $WORK/NAME to alice/NAME in the background (pid in $pid) and return once N
# more objects or parts are stored, so that the caller can stop it midway.
slow_put() {
  local before
  before=$(calls '^/(put|part)/' 200)
  hub_faults '{"storage_latency_ms": 300}'
  ferry_np 2 put --create --yes --progress never --connections 2 "$WORK/$1" \
    "hf://datasets/alice/$1" > "$WORK/$1.out" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    [ "$(calls '^/(put|part)/' 200)" -ge $((before + $2)) ] && break
    sleep 0.05
  done
}
python3 "$FERRY_SOURCE_DIR/tests/gen_tree.py" "$WORK/big" --scenes 2 --small 4 --small-size 3M \
  --large 1 --large-size 8M --seed 7 >/dev/null
mark_kill=$(wc -l < "$LOG")
slow_put big 6
pkill -9 -f "ferry put .*$WORK/big" || true
wait "$pid" 2>/dev/null || true
hub_faults '{"storage_latency_ms": 0}'
check "killed before any commit" test "$(calls '^/api/datasets/alice/big/commit/')" -eq 0
stored=$(python3 - "$LOG" "$mark_kill" <<'PY'
import json, re, sys
done = set()
for e in map(json.loads, open(sys.argv[1]).readlines()[int(sys.argv[2]):]):
    m = re.match(r"^/(?:put|_lfs/complete)/([0-9a-f]{64})$", e["path"])
    if m and e["status"] == 200:
        done.add(m.group(1))
print(" ".join(sorted(done)))
PY
)
check "some objects were stored before the kill" test -n "$stored"
mark=$(wc -l < "$LOG")
may_fail ferry_np 2 put --yes --progress never "$WORK/big" hf://datasets/alice/big > "$WORK/resume.out" 2>&1
check "the rerun: exit 0 ($status)" test "$status" -eq 0
check "no stored object was sent again" python3 - "$LOG" "$mark" "$stored" <<'PY'
import json, sys
log, mark, stored = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
later = [json.loads(l) for l in open(log).readlines()[mark:]]
again = [e["path"] for e in later if e["origin"] == "storage" and any(o in e["path"] for o in stored)]
print("sent again:", again[:3])
sys.exit(1 if again else 0)
PY
check "one commit per scene in all" test "$(calls '^/api/datasets/alice/big/commit/' 200)" -eq 2
check "every file is right" same_as_local "$WORK/big" big

# --- SIGTERM in the middle of an upload: exit 75, nothing committed, rerun ends it ----
python3 "$FERRY_SOURCE_DIR/tests/gen_tree.py" "$WORK/term" --scenes 2 --small 24 --small-size 256K \
  --large 0 --seed 9 >/dev/null
slow_put term 2
# Signal the ranks, as Slurm does (mpirun forwards a SIGTERM, then exits 1 itself).
pkill -TERM -f "^$FERRY_BIN put .*alice/term\$" || true
status=0
wait "$pid" || status=$?
hub_faults '{"storage_latency_ms": 0}'
check "SIGTERM during the uploads: exit 75 ($status)" test "$status" -eq 75
check "nothing was committed" test "$(calls '^/api/datasets/alice/term/commit/')" -eq 0
may_fail ferry_np 2 put --yes --progress never "$WORK/term" hf://datasets/alice/term \
  > "$WORK/term2.out" 2>&1
check "the rerun: exit 0 ($status)" test "$status" -eq 0
check "every file is right" same_as_local "$WORK/term" term

finish
