#!/usr/bin/env bash
# Faults from the store's side (the proxy in front of s3rver): 503, SlowDown,
# 500, a connection reset before and after the store took a part, a part
# answered but never stored; a put killed with -9 mid-upload resumes without
# sending the parts already stored; a part that cannot be sent aborts its
# multipart upload; the parts of one object come from both ranks.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/s3lib.sh"

src="$WORK/src"
mkdir -p "$src/a" "$src/b"
head -c 41000000 /dev/urandom >"$src/a/big.bin"
head -c 300000 /dev/urandom >"$src/b/small.bin"
echo "root" >"$src/root.txt"

# 1. Every transient fault is tried again; the bucket ends up right.
faults '{"rules":[
 {"method":"GET","query_has":"list-type","action":"slowdown","count":1},
 {"method":"PUT","query_has":"partNumber","action":"503","count":2},
 {"method":"PUT","query_has":"partNumber","action":"reset","count":1,"skip":1},
 {"method":"PUT","query_has":"partNumber","action":"reset_after","count":1,"skip":2},
 {"method":"PUT","path_re":"small.bin","action":"500","count":1},
 {"method":"POST","query_has":"uploadId","action":"503","count":1}]}'
clear_requests
check "put through faults" ferry_np 2 put "$src" "s3://$BUCKET/faults" -y -q --chunk-size 8M
check "the bucket holds the tree" same_in_bucket "$src" faults
check "every fault was met" test "$(requests '"fault": "(slowdown|503|reset|reset_after|500)"')" -eq 7
check "no upload left open" test "$(open_uploads)" -eq 0
faults '{"rules":[]}'

# 1b. SlowDown is the whole job's: the limiter counts it and pauses every
# rank's requests to the store (a second a time, without Retry-After).
faults '{"rules":[{"method":"PUT","query_has":"partNumber","action":"slowdown","count":3}]}'
check "put through SlowDown" ferry_np 2 put "$src" "s3://$BUCKET/slow" -y --json -v \
  --chunk-size 8M --progress never >"$WORK/slow.json" 2>"$WORK/slow.err"
check "the bucket holds the tree after SlowDown" same_in_bucket "$src" slow
check "the report counts 3 SlowDowns and the store's calls" python3 - "$WORK/slow.json" <<'PY'
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if '"summary"' in l][-1]
sys.exit(0 if s["hub_429"]["store"] == 3 and s["hub_calls"]["store"] >= 9 else 1)
PY
check "every rank was paused" grep -q "object store asked to slow down: every rank pauses" "$WORK/slow.err"
faults '{"rules":[]}'

# 2. A part answered 200 but never stored: the completion names the object,
# the run fails, and the rerun sends it again.
faults '{"rules":[{"method":"PUT","query_re":"partNumber=3&","action":"lose","count":1}]}'
may_fail "$FERRY_BIN" put "$src" "s3://$BUCKET/lost" -y -q --chunk-size 8M >"$WORK/lost.out" 2>&1
check "a lost part fails the run" test "$status" -eq 1
check "the failure names the object" grep -q "a/big.bin" "$WORK/lost.out"
faults '{"rules":[]}'
check "the rerun puts it" "$FERRY_BIN" put "$src" "s3://$BUCKET/lost" -y -q --chunk-size 8M
check "the bucket holds the tree after the rerun" same_in_bucket "$src" lost

# 3. A part the store refuses for good: the upload is aborted, nothing is
# left to pay for, and the other objects are in.
faults '{"rules":[{"method":"PUT","query_re":"partNumber=2&","action":"503","count":100}]}'
clear_requests
may_fail "$FERRY_BIN" put "$src" "s3://$BUCKET/refused" -y -q --chunk-size 8M >"$WORK/refused.out" 2>&1
check "a refused part fails the run" test "$status" -eq 1
check "the upload was aborted" test "$(requests '"DELETE".*uploadId=')" -eq 1
check "no upload left open after the abort" test "$(open_uploads)" -eq 0
check "the small objects are in" bash -c "node '$FERRY_SOURCE_DIR/tests/s3/sdk.mjs' sums s3://$BUCKET/refused | grep -q ' b/small.bin'"
faults '{"rules":[]}'

# 4. kill -9 in the middle of a multipart upload: the rerun finds the open
# upload and sends only the parts the store does not hold.
head -c 200000000 /dev/urandom >"$WORK/huge.bin"
mkdir -p "$WORK/k"
mv "$WORK/huge.bin" "$WORK/k/"
clear_requests
"$FERRY_BIN" put "$WORK/k" "s3://$BUCKET/killed" -y -q --chunk-size 5M --connections 2 \
  >"$WORK/k1.out" 2>&1 &
pid=$!
for _ in $(seq 400); do
  [ "$(requests '"PUT".*partNumber.*"status": 200')" -ge 10 ] && break
  sleep 0.05
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
# What the store holds (a part in flight at the kill may have landed
# without its answer): s3rver keeps an open upload's parts as files 1, 2, ...
sleep 1
stored=$(find "$S3_STORE/$BUCKET/._S3rver_uploads" -type f -regex '.*/[0-9]+' | wc -l)
check "the first run stored some parts, not all ($stored of 39)" test "$stored" -ge 10 -a "$stored" -lt 39
check "its upload is left open" test "$(open_uploads)" -eq 1
clear_requests
check "the rerun" "$FERRY_BIN" put "$WORK/k" "s3://$BUCKET/killed" -y -q --chunk-size 5M
sent=$(requests '"PUT".*partNumber')
check "the rerun sent only the missing parts ($sent + $stored = 39)" test $((sent + stored)) -eq 39
check "the object is whole" same_in_bucket "$WORK/k" killed
check "no upload left open after the rerun" test "$(open_uploads)" -eq 0

# 5. The parts of one object come from both ranks.
check "put -np 2 -v" ferry_np 2 put "$WORK/k" "s3://$BUCKET/spread" -y -v --chunk-size 5M \
  --progress never >"$WORK/spread.out" 2>&1
check "rank 0 sent parts" grep -q "\[r0\].*this rank uploaded [1-9]" "$WORK/spread.out"
check "rank 1 sent parts" grep -q "\[r1\].*this rank uploaded [1-9]" "$WORK/spread.out"
check "the spread object is whole" same_in_bucket "$WORK/k" spread

finish
