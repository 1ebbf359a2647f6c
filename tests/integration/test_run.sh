#!/usr/bin/env bash
# ferry run JOB.json: the whole pipeline on demo data against the test hub
# (get, extract, verify, embed, knn, put the HDF5 file back), with an
# after_phase step; ferry status JOB.json; a rerun that does nothing; kills
# (kill -9, SIGTERM, SIGUSR1) at several phases, each resumed to the same
# result; a phase edited in the spec runs again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netlib.sh"
PY=/usr/bin/python3
export HF_TOKEN=hf_test_alice
start_hub

# The dataset: two shards of JPEGs and a metadata file, put on the hub.
mkdir -p "$WORK/photos/shards" "$WORK/photos/meta" "$WORK/logs"
$PY - "$WORK/photos" <<'PY'
import io, json, sys, tarfile
import numpy as np
from PIL import Image
root = sys.argv[1]
rng = np.random.default_rng(3)
records = []
for s in range(2):
    with tarfile.open(f"{root}/shards/shard_{s}.tar.gz", "w:gz") as t:
        for i in range(60):
            a = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
            buf = io.BytesIO()
            Image.fromarray(a).save(buf, "JPEG", quality=85)
            name = f"images/{s}_{i:03d}.jpg"
            info = tarfile.TarInfo(name)
            info.size = buf.tell()
            buf.seek(0)
            t.addfile(info, buf)
            records.append({"file_name": name, "caption": f"picture {s} {i}"})
with open(f"{root}/meta/metadata.jsonl", "w") as f:
    for r in records:
        f.write(json.dumps(r) + "\n")
PY
echo "log of the run" > "$WORK/logs/run.log"
ferry_np 1 put --yes -q --progress never --create "$WORK/photos" hf://datasets/alice/photos \
  > /dev/null 2>&1
cat > "$WORK/spec.json" <<'EOF'
{"required": ["images/"], "counts": [{"records": "../raw/meta/metadata.jsonl", "files": "images/", "pattern": "*.jpg"}]}
EOF

# write_job FILE K: the job spec, knn with K neighbours.
write_job() {
  cat > "$1" <<EOF
{
  "name": "photos",
  "settings": ["--yes", "--progress", "never"],
  "phases": [
    {"name": "fetch", "run": ["get", "hf://datasets/alice/photos", "$WORK/raw"]},
    {"name": "unpack", "run": ["extract", "$WORK/raw/shards", "-C", "$WORK/data"]},
    {"name": "check", "run": ["verify", "$WORK/data", "--spec", "$WORK/spec.json"]},
    {"name": "embed", "run": ["embed", "$WORK/data", "--out", "$WORK/out/emb.h5", "--embedder", "rp",
                              "--dim", "32", "--batch", "4", "--commit-every", "0.05"]},
    {"name": "knn", "run": ["knn", "$WORK/out/emb.h5", "-k", "$2", "--overwrite"]},
    {"name": "publish", "run": ["put", "$WORK/out", "hf://datasets/alice/photos-emb", "--create"]}
  ],
  "after_phase": [["put", "$WORK/logs", "hf://datasets/alice/photos-logs", "--create"]]
}
EOF
}
write_job "$WORK/job.json" 5
mkdir -p "$WORK/out"

# reset: the pipeline's outputs and markers gone (the hub repos stay).
reset() {
  rm -rf "$WORK/raw" "$WORK/data" "$WORK/out" "$WORK/.ferry-run"
  mkdir -p "$WORK/out"
}

# result_ok: the HDF5 file on the hub is the local one, with 120 rows, all
# done, and 5 neighbours each.
result_ok() {
  curl -sfL -H "Authorization: Bearer $HF_TOKEN" -o "$WORK/hub-emb.h5" \
    "$HUB/datasets/alice/photos-emb/resolve/main/emb.h5" &&
    cmp "$WORK/hub-emb.h5" "$WORK/out/emb.h5" &&
    $PY - "$WORK/out/emb.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
assert f["embeddings"].shape == (120, 32) and (f["done"][:] == 1).all() and (f["status"][:] == 1).all()
assert (f["knn/done"][:] == 1).all() and f["knn/indices"].shape == (120, 5)
PY
}

may_fail ferry_np 2 run "$WORK/job.json" > "$WORK/run1.out" 2>&1
check "the pipeline: exit 0 ($status)" test "$status" -eq 0
check "every phase ran" test "$(grep -c '^run: phase ' "$WORK/run1.out")" -eq 6
check "the after_phase step ran after each phase" test "$(grep -c '^run: after ' "$WORK/run1.out")" -eq 6
check "the embeddings went back to the hub, whole" result_ok
check "the logs repo has the log" bash -c \
  "curl -sf -H 'Authorization: Bearer $HF_TOKEN' '$HUB/datasets/alice/photos-logs/resolve/main/run.log' | grep -q 'log of the run'"
cp "$WORK/out/emb.h5" "$WORK/reference.h5"

"$FERRY_BIN" status "$WORK/job.json" > "$WORK/status1.out" 2>&1
check "status: 6 of 6 phases done" grep -q "^6 of 6 phases done" "$WORK/status1.out"
"$FERRY_BIN" status --json "$WORK/job.json" > "$WORK/status1.json" 2>&1
check "status --json: every phase done" $PY - "$WORK/status1.json" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read())
sys.exit(0 if [p["name"] for p in s["phases"] if p["done"]] ==
         ["fetch", "unpack", "check", "embed", "knn", "publish"] else 1)
PY

may_fail ferry_np 2 run "$WORK/job.json" > "$WORK/run2.out" 2>&1
check "a rerun: exit 0 ($status)" test "$status" -eq 0
check "every phase done before" test "$(grep -c 'done before (marker found)' "$WORK/run2.out")" -eq 6

# same_result: the resumed run's file equals the reference (knn included).
same_result() {
  $PY - "$WORK/reference.h5" "$WORK/out/emb.h5" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
for k in ["paths", "embeddings", "status", "done", "knn/indices", "knn/distances", "knn/done"]:
    assert np.array_equal(a[k][:], b[k][:]), k
PY
}

# interrupt_at SIGNAL NAME CONDITION...: run the job afresh, signal the
# ranks once CONDITION holds, check what status says, then resume.
interrupt_at() {
  local signal=$1 name=$2
  shift 2
  reset
  ferry_np 2 run "$WORK/job.json" > "$WORK/int-$name.out" 2>&1 &
  local pid=$!
  for _ in $(seq 4000); do
    "$@" && break
    sleep 0.005
  done
  pkill "-$signal" -f "^$FERRY_BIN run $WORK/job.json" || true
  wait "$pid" 2>/dev/null || true
  "$FERRY_BIN" status "$WORK/job.json" > "$WORK/status-$name.out" 2>&1
  may_fail ferry_np 2 run "$WORK/job.json" > "$WORK/resume-$name.out" 2>&1
  check "$name: the resumed job exits 0 ($status)" test "$status" -eq 0
  check "$name: it skipped the phases done before" \
    grep -q "phase fetch: done before" "$WORK/resume-$name.out"
  check "$name: the same result" same_result
  check "$name: and the hub has it" result_ok
}
interrupt_at KILL "kill -9 after fetch" test -e "$WORK/.ferry-run/photos/phase-01.done"
check "status after the kill: fetch done, the rest to do" bash -c \
  "grep -q '1 fetch .*done' '$WORK/status-kill -9 after fetch.out' && grep -q '^1 of 6 phases done' '$WORK/status-kill -9 after fetch.out'"
interrupt_at TERM "SIGTERM after check" test -e "$WORK/.ferry-run/photos/phase-03.done"
check "SIGTERM: the job said it was interrupted" grep -q "interrupted" "$WORK/int-SIGTERM after check.out"
interrupt_at USR1 "SIGUSR1 in embed" grep -qE "^embed: [0-9]+ of" "$WORK/int-SIGUSR1 in embed.out"
check "SIGUSR1: the job said it was interrupted" grep -q "interrupted" "$WORK/int-SIGUSR1 in embed.out"
check "status shows the rows still to do" grep -qE "embeddings: [0-9]+ of 120 rows done|4 embed .*done" \
  "$WORK/status-SIGUSR1 in embed.out"

# An edited phase runs again; the phases before it do not.
write_job "$WORK/job.json" 4
may_fail ferry_np 2 run "$WORK/job.json" > "$WORK/edit.out" 2>&1
check "an edited knn phase: exit 0 ($status)" test "$status" -eq 0
check "runs knn and what follows it again" bash -c \
  "grep -q 'run: phase knn: ferry knn' '$WORK/edit.out' && grep -q 'phase embed: done before' '$WORK/edit.out'"
check "with the new k" $PY -c "
import h5py, sys; sys.exit(0 if h5py.File('$WORK/out/emb.h5', 'r')['knn/indices'].shape[1] == 4 else 1)"

echo '{"phases": [{"run": "get"}]}' > "$WORK/bad.json"
may_fail "$FERRY_BIN" run "$WORK/bad.json" > "$WORK/bad.out" 2>&1
check "a bad spec: exit 2 ($status)" test "$status" -eq 2
check "naming the file and the fault" grep -q "bad.json: phase 1 needs \"run\"" "$WORK/bad.out"

# Settings reach each phase as its command takes them: --connections and
# --chunk-size go to get, not to extract (which would refuse them).
cat > "$WORK/settings.json" <<EOF
{"name": "settings", "settings": ["--yes", "--progress", "never", "--connections", "4", "--chunk-size=1M"],
 "phases": [{"name": "copy", "run": ["get", "$WORK/photos", "$WORK/settings/copy"]},
            {"name": "unpack", "run": ["extract", "$WORK/settings/copy/shards", "-C", "$WORK/settings/data"]}]}
EOF
may_fail ferry_np 2 run "$WORK/settings.json" > "$WORK/settings.out" 2>&1
check "settings of get only, with an extract phase: exit 0 ($status)" test "$status" -eq 0
check "both phases ran: 120 images extracted" \
  test "$(find "$WORK/settings/data/images" -name '*.jpg' | wc -l)" -eq 120
# An option of another command in a phase's own line is a usage error.
cat > "$WORK/wrong.json" <<EOF
{"name": "wrong", "phases": [{"name": "unpack", "run": ["extract", "$WORK/settings/copy/shards",
 "-C", "$WORK/wrong", "--connections", "4"]}]}
EOF
may_fail ferry_np 2 run "$WORK/wrong.json" > "$WORK/wrong.out" 2>&1
check "a phase with an option of another command: exit 2 ($status)" test "$status" -eq 2
check "naming the option and the command" \
  grep -q "ferry: --connections is not an option of extract" "$WORK/wrong.out"
check "the phase did not run" test ! -e "$WORK/wrong"

finish
