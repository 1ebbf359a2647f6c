#!/usr/bin/env bash
# Storage refuses some PUTs (the test hub's storage_refuse_rate): the files
# whose objects were refused are named and the put exits 1, every other file
# is committed; a rerun with storage healthy again finishes the repo and
# sends only the objects that were missing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netlib.sh"

start_hub '{"seed": 21}'
source "$(dirname "$0")/hub_put_lib.sh"
export HF_TOKEN=hf_test_alice
python3 "$FERRY_SOURCE_DIR/tests/gen_tree.py" "$WORK/src" --scenes 3 --small 12 --small-size 32K \
  --large 0 --seed 22 >/dev/null
for s in "$WORK"/src/scene_*; do printf 'notes of %s\n' "${s##*/}" > "$s/notes.txt"; done
run() { ferry_np 2 "$@" --yes --progress never --connections 3; }

hub_faults '{"storage_refuse_rate": 0.25}'
may_fail run put --create "$WORK/src" hf://datasets/alice/refused > "$WORK/put.out" 2> "$WORK/put.err"
hub_faults '{"storage_refuse_rate": 0}'
check "storage refused some PUTs: exit 1 ($status)" test "$status" -eq 1
# The files whose object storage refused, from the hub's log and the local bytes.
python3 - "$LOG" "$WORK/src" > "$WORK/refused.txt" <<'PY'
import hashlib, json, os, re, sys
log, root = sys.argv[1:]
refused = {m.group(1) for e in map(json.loads, open(log))
           if e["origin"] == "storage" and e["status"] == 403
           for m in [re.match(r"^/put/([0-9a-f]{64})", e["path"])] if m}
for d, dirs, files in os.walk(root):
    dirs[:] = [x for x in dirs if not x.startswith(".")]
    for f in files:
        p = os.path.join(d, f)
        if hashlib.sha256(open(p, "rb").read()).hexdigest() in refused:
            print(os.path.relpath(p, root))
PY
n=$(wc -l < "$WORK/refused.txt")
check "some PUTs were refused ($n files)" test "$n" -gt 0
named=0
while read -r path; do grep -q "$path" "$WORK/put.out" "$WORK/put.err" && named=$((named + 1)); done \
  < "$WORK/refused.txt"
check "every refused file is named ($named of $n)" test "$named" -eq "$n"
check "the report counts them as failed" grep -q "; $n failed" "$WORK/put.out"
check "every other file is committed" same_as_local "$WORK/src" refused "$WORK/refused.txt"

mark=$(wc -l < "$LOG")
may_fail run put "$WORK/src" hf://datasets/alice/refused > "$WORK/again.out" 2>&1
check "the rerun: exit 0 ($status)" test "$status" -eq 0
check "the repo now holds every file" same_as_local "$WORK/src" refused
check "the rerun sent only the refused objects" python3 - "$LOG" "$mark" "$WORK/src" \
  "$WORK/refused.txt" <<'PY'
import hashlib, json, os, re, sys
log, mark, root, refused = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
want = {hashlib.sha256(open(os.path.join(root, p), "rb").read()).hexdigest()
        for p in open(refused).read().split()}
sent = {m.group(1) for e in map(json.loads, open(log).readlines()[mark:])
        if e["origin"] == "storage" for m in [re.match(r"^/put/([0-9a-f]{64})", e["path"])] if m}
print("sent", len(sent), "wanted", len(want))
sys.exit(0 if sent == want else 1)
PY
finish
