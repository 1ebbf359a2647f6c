#!/usr/bin/env bash
# s3:// as a destination and a source: put, get and sync under 1 and 2 ranks
# against s3rver behind a proxy that verifies every SigV4 signature; the
# bucket's bytes are read back with the AWS SDK and compared by sha256; a
# rerun moves nothing; sync prunes only what the source lacks; verify
# --against reads the bucket; a wrong secret is refused with exit 3 and no
# secret is ever printed.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/s3lib.sh"

src="$WORK/src"
gen_tree "$src" --scenes 3 --small 40 --small-size 12K --large 1 --large-size 21M
echo "top" >"$src/root.txt"
: >"$src/scene_000/empty.bin"

# 1. put with one rank, then with two into another prefix (multipart: 8M parts).
clear_requests
check "put -np 1" "$FERRY_BIN" put "$src" "s3://$BUCKET/one" -y -q --chunk-size 8M
check "the bucket holds the tree (-np 1)" same_in_bucket "$src" one
check "every request was signed and verified" test "$(requests '"sig": "(bad|none)"')" -eq 0
check "big files went as multipart uploads" test "$(requests '"POST".*uploadId=')" -eq 3
check "no upload left open" test "$(open_uploads)" -eq 0

check "put -np 2" ferry_np 2 put "$src" "s3://$BUCKET/two" -y -q --chunk-size 8M
check "the bucket holds the tree (-np 2)" same_in_bucket "$src" two

# 2. A rerun sends nothing: one listing, no PUT.
clear_requests
check "put again" "$FERRY_BIN" put "$src" "s3://$BUCKET/one" -y -q --chunk-size 8M
check "the rerun sent no object" test "$(requests '"PUT"')" -eq 0

# 3. get with two ranks: big objects in ranged GETs over both, checked by MD5.
clear_requests
check "get -np 2" ferry_np 2 get "s3://$BUCKET/one" "$WORK/down" -y -q --chunk-size 4M
check "got the same bytes" same_tree "$src" "$WORK/down"
check "big objects came in ranges" test "$(requests '"GET", "path": "/ferry-test/one/scene_000/video_0')" -ge 5
check "get again: nothing to do" "$FERRY_BIN" get "s3://$BUCKET/one" "$WORK/down" -y -q

# 4. sync up prunes objects the source lacks; sync down prunes files.
rm "$src/scene_001/frames/01/frame_000001.bin"
echo "changed, longer than before" >"$src/root.txt"
clear_requests
check "sync up" "$FERRY_BIN" sync "$src" "s3://$BUCKET/one" -y -q --chunk-size 8M
check "the bucket follows the source" same_in_bucket "$src" one
check "sync up deleted one object" test "$(requests '"DELETE", "path": "/ferry-test/one/scene_001/frames/01/frame_000001.bin"')" -eq 1
check "sync up sent only the changed file" test "$(requests '"PUT"')" -eq 1
check "sync down" ferry_np 2 sync "s3://$BUCKET/one" "$WORK/down" -y -q
check "the folder follows the bucket" same_tree "$src" "$WORK/down"

# 5. verify --against the bucket: equal, then one file changed locally.
check "verify against the bucket" "$FERRY_BIN" verify "$WORK/down" --against "s3://$BUCKET/one" -q
echo "tampered" >"$WORK/down/scene_002/meta.json"
may_fail "$FERRY_BIN" verify "$WORK/down" --against "s3://$BUCKET/one" -q >"$WORK/verify.out" 2>&1
check "verify finds the changed file" test "$status" -ne 0
check "verify names it" grep -q "scene_002/meta.json" "$WORK/verify.out"
# The same size, one byte other: only the MD5 ETag can tell.
python3 - "$WORK/down/scene_001/meta.json" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(2); b = f.read(1); f.seek(2); f.write(bytes([b[0] ^ 1]))
PY
may_fail "$FERRY_BIN" verify "$WORK/down" --against "s3://$BUCKET/one" -q >"$WORK/verify2.out" 2>&1
check "verify finds a byte changed in place by its MD5" \
  grep -q "scene_001/meta.json: md5 " "$WORK/verify2.out"

# 6. plan against the bucket lists without sending.
clear_requests
check "plan" "$FERRY_BIN" plan "$src" "s3://$BUCKET/fresh" -q
check "plan sent nothing" test "$(requests '"(PUT|POST|DELETE)"')" -eq 0

# 7. A wrong secret: exit 3, the store's reason, no secret in the output.
may_fail env AWS_SECRET_ACCESS_KEY=not-the-secret-1234 "$FERRY_BIN" get "s3://$BUCKET/one" \
  "$WORK/denied" -y >"$WORK/denied.out" 2>&1
check "a wrong secret exits 3" test "$status" -eq 3
check "the error says why" grep -q "SignatureDoesNotMatch" "$WORK/denied.out"
check "the secret is not printed" bash -c "! grep -q 'not-the-secret-1234' '$WORK/denied.out'"
check "nothing was written" test ! -e "$WORK/denied/scene_000"

# 8. Keys from a profile in ~/.aws (AWS_PROFILE), none in the environment.
mkdir -p "$WORK/home/.aws"
printf '[ferry]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' >"$WORK/home/.aws/credentials"
printf '[profile ferry]\nregion = us-east-1\nendpoint_url = %s\n' "$AWS_ENDPOINT_URL" >"$WORK/home/.aws/config"
check "get with AWS_PROFILE" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_ENDPOINT_URL \
  -u AWS_CONFIG_FILE -u AWS_SHARED_CREDENTIALS_FILE HOME="$WORK/home" AWS_PROFILE=ferry \
  "$FERRY_BIN" get "s3://$BUCKET/one/scene_001" "$WORK/profile" -y -q
check "the profile's get has the bytes" same_tree "$src/scene_001" "$WORK/profile"

# 9. A config's remote names a bucket; a job spec syncs its output there
# after every phase (the preemptible pipeline's checkpoint sync).
cat >"$WORK/ferry.json" <<JSON
{"roots": {"ckpt": "$WORK/ckpt"}, "remotes": {"ckpt": "s3://$BUCKET/ckpt"}}
JSON
mkdir -p "$WORK/ckpt/run1"
echo "epoch 1" >"$WORK/ckpt/run1/state.txt"
cat >"$WORK/job.json" <<JSON
{"name": "train", "settings": ["--yes", "--quiet"],
 "phases": [{"name": "one", "run": ["get", "s3://$BUCKET/one/scene_002", "$WORK/ckpt/input"]},
            {"name": "two", "run": ["get", "s3://$BUCKET/one/scene_000", "$WORK/ckpt/input0"]}],
 "after_phase": [["sync", "$WORK/ckpt", "s3://$BUCKET/ckpt"]]}
JSON
check "run: phases, each followed by a sync to the bucket" \
  "$FERRY_BIN" --config "$WORK/ferry.json" run "$WORK/job.json" -q
check "the bucket holds the checkpoint folder" same_in_bucket "$WORK/ckpt" ckpt
echo "epoch 2" >>"$WORK/ckpt/run1/state.txt"
check "put by the config's name" "$FERRY_BIN" --config "$WORK/ferry.json" put ckpt -y -q
check "the bucket has the new checkpoint" same_in_bucket "$WORK/ckpt" ckpt

# 10. Not a bucket, not a location.
may_fail "$FERRY_BIN" get "s3://Bad_Bucket!/x" "$WORK/bad" -y >"$WORK/bad.out" 2>&1
check "a bad bucket name is a usage error" test "$status" -eq 2
may_fail "$FERRY_BIN" get "s3://no-such-bucket/x" "$WORK/bad" -y >"$WORK/bad.out" 2>&1
check "a missing bucket exits 4" test "$status" -eq 4

finish
