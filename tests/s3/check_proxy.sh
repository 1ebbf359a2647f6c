#!/usr/bin/env bash
# Self-test of the S3 test service (s3ctl.sh: s3rver behind s3proxy.py).
# Reference clients (awscli, the AWS JS SDK, curl's --aws-sigv4) must pass the
# proxy's signature checks, a wrong secret must not, and every fault action
# must do what tests/s3/README.md says.  Exit status 1 and a list of what
# failed if anything did.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d /tmp/ferry-s3check.XXXXXX)"
trap 'bash "$here/s3ctl.sh" stop "$work/srv"; rm -rf "$work"' EXIT

bash "$here/s3ctl.sh" start "$work/srv" || { echo "FAIL: s3ctl.sh start" >&2; exit 1; }
# shellcheck disable=SC1091
. "$work/srv/env"
E=$AWS_ENDPOINT_URL
B=ferry-test

# Debian's awscli (v2) first: an aws from pip may be v1, which signs the same way.
AWS=/usr/bin/aws
[ -x "$AWS" ] || AWS=$(command -v aws)
aws() { "$AWS" --endpoint-url "$E" "$@"; }
s3() { "$AWS" --endpoint-url "$E" s3 --only-show-errors "$@"; }

failures=()
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1" >&2; failures+=("$1"); }
check() {   # check NAME COMMAND... : passes when the command succeeds
  local name=$1; shift
  if "$@"; then ok "$name"; else fail "$name"; fi
}

SIG=(--aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER)
UNSIGNED=(-H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
# curl_s ARGS... : prints the HTTP status, 000 when no answer came (after a
# "100 Continue" curl would say 100); the body is left in $work/body.
curl_s() { local c; c=$(curl -s -o "$work/body" -w '%{http_code}' "$@") || c=000; echo "$c"; }
faults() { printf '%s\n' "$1" >"$S3_FAULTS"; }
sums_of() { (cd "$1" && find . -type f | sort | xargs sha256sum | sed 's|  \./|  |'); }
exists() { [ -f "$S3_STORE/$B/$1._S3rver_object" ]; }

mkdir -p "$work/up/sub" "$work/down"
head -c 1000 /dev/urandom >"$work/up/small.bin"
head -c $((20 << 20)) /dev/urandom >"$work/up/sub/big.bin"
echo "hello" >"$work/up/sub/hello.txt"

# --- reference clients through the verifier
check "awscli cp small" s3 cp "$work/up/small.bin" "s3://$B/cli/small.bin"
check "awscli cp 20 MiB (multipart)" s3 cp "$work/up/sub/big.bin" "s3://$B/cli/sub/deeper/big.bin"
check "awscli multipart went through UploadPart" grep -q '"query": "uploadId=[0-9a-f]*&partNumber=2"' "$S3_LOG"
check "awscli ls" bash -c "'$AWS' --endpoint-url '$E' s3 ls s3://$B/cli/ --recursive | grep -q sub/deeper/big.bin"
check "awscli sync up" s3 sync "$work/up" "s3://$B/sync"
check "awscli sync down" s3 sync "s3://$B/sync" "$work/down"
check "awscli round trip sha256" diff <(sums_of "$work/up") <(sums_of "$work/down")

check "sdk put" node "$here/sdk.mjs" put "$work/up" "s3://$B/sdk" --part-size $((6 << 20))
check "sdk sums" diff <(sums_of "$work/up") <(node "$here/sdk.mjs" sums "s3://$B/sdk")

check "curl GET sorted query" test "$(curl_s "${SIG[@]}" "${UNSIGNED[@]}" "$E/$B/?list-type=2&prefix=sdk%2Fsub")" = 200
check "curl GET listed sdk/sub" grep -q '<Key>sdk/sub/big.bin</Key>' "$work/body"
check "curl PUT" test "$(curl_s "${SIG[@]}" "${UNSIGNED[@]}" -T "$work/up/sub/hello.txt" "$E/$B/curl/hello.txt")" = 200
check "curl GET back" bash -c "curl -sf ${SIG[*]@Q} ${UNSIGNED[*]@Q} '$E/$B/curl/hello.txt' | cmp -s - '$work/up/sub/hello.txt'"
hex=$(sha256sum "$work/up/small.bin" | cut -c1-64)
check "curl PUT signed hex payload" test "$(curl_s "${SIG[@]}" -H "x-amz-content-sha256: $hex" -T "$work/up/small.bin" "$E/$B/curl/small.bin")" = 200
check "curl GOOG4 PUT" test "$(curl_s --aws-sigv4 "goog:goog:auto:storage" --user S3RVER:S3RVER -T "$work/up/sub/hello.txt" -H "x-goog-content-sha256: UNSIGNED-PAYLOAD" "$E/$B/curl/goog.txt")" = 200

check "ListObjectsV2 in pages of 2 (continuation tokens)" test "$(aws s3api list-objects-v2 --bucket $B \
  --prefix sync/ --page-size 2 --query 'length(Contents)' --output json)" = 3
# s3rver alone drops sub/ here: its objects are two folders down (the proxy lists).
check "ListObjectsV2 delimiter: common prefixes of deep keys" test "$(aws s3api list-objects-v2 --bucket $B \
  --prefix cli/ --delimiter / --query 'CommonPrefixes[].Prefix' --output text)" = "cli/sub/"
check "aws-chunked bodies (signed chunks, CRC32 trailers)" python3 "$here/check_chunked.py"

# --- what must be refused
code=$(curl_s --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:WRONG "${UNSIGNED[@]}" "$E/$B/?list-type=2")
check "wrong secret: 403 SignatureDoesNotMatch" \
  bash -c "[ $code = 403 ] && grep -q '<Code>SignatureDoesNotMatch</Code>' '$work/body'"
code=$(curl_s "$E/$B/?list-type=2")
check "no Authorization: 403 AccessDenied" bash -c "[ $code = 403 ] && grep -q '<Code>AccessDenied</Code>' '$work/body'"
code=$(curl_s "${SIG[@]}" -H "x-amz-content-sha256: $hex" -T "$work/up/sub/hello.txt" "$E/$B/curl/mismatch.txt")
check "wrong payload hash: 400 XAmzContentSHA256Mismatch" \
  bash -c "[ $code = 400 ] && grep -q XAmzContentSHA256Mismatch '$work/body' && ! [ -e '$S3_STORE/$B/curl/mismatch.txt._S3rver_object' ]"
code=$(curl_s "${SIG[@]}" "${UNSIGNED[@]}" -H "x-amz-checksum-sha256: $(printf x | openssl dgst -sha256 -binary | base64)" \
  -T "$work/up/sub/hello.txt" "$E/$B/curl/baddigest.txt")
check "wrong x-amz-checksum-sha256: 400 BadDigest" bash -c "[ $code = 400 ] && grep -q BadDigest '$work/body'"
code=$(curl_s "${SIG[@]}" "${UNSIGNED[@]}" -H "x-amz-date: 20200101T000000Z" "$E/$B/?list-type=2")
check "old x-amz-date: 403 RequestTimeTooSkewed" bash -c "[ $code = 403 ] && grep -q RequestTimeTooSkewed '$work/body'"

# --- faults
put_small() { curl_s "${SIG[@]}" "${UNSIGNED[@]}" -T "$work/up/sub/hello.txt" "$E/$B/fault/$1"; }
faults '{"rules":[{"method":"PUT","path_re":"^/ferry-test/fault/","action":"503","count":1}]}'
check "503 once" test "$(put_small a) $(grep -c ServiceUnavailable "$work/body") $(put_small a)" = "503 1 200"
faults '{"rules":[{"method":"PUT","path_re":"/fault/","action":"slowdown","skip":1,"count":1}]}'
check "slowdown after skip 1" test "$(put_small b) $(put_small b) $(grep -c SlowDown "$work/body") $(put_small b)" = "200 503 1 200"
faults '{"rules":[{"method":"PUT","path_re":"/fault/","action":"500","count":1}]}'
check "500 InternalError" test "$(put_small c) $(grep -c InternalError "$work/body")" = "500 1"
faults '{"rules":[{"method":"PUT","path_re":"/fault/","action":"reset","count":1}]}'
check "reset: no answer, not stored" test "$(put_small d) $(exists fault/d || echo absent)" = "000 absent"
faults '{"rules":[{"method":"PUT","path_re":"/fault/","action":"reset_after","count":1}]}'
check "reset_after: no answer, but stored" test "$(put_small e) $(exists fault/e && echo stored)" = "000 stored"
faults '{"rules":[{"method":"PUT","path_re":"/fault/","action":"lose","count":1}]}'
check "lose: 200, not stored" test "$(put_small f) $(exists fault/f || echo absent)" = "200 absent"
faults '{"rules":[{"method":"PUT","query_has":"partNumber","action":"503","count":1}]}'
check "awscli retries a 503 part" s3 cp "$work/up/sub/big.bin" "s3://$B/retry/big.bin"
check "503 was injected on a part" grep -q '"status": 503, .*"fault": "503"' "$S3_LOG"
faults '{"rules":[]}'

# --- multipart calls s3rver lacks, answered by the proxy from the store
uid=$(aws s3api create-multipart-upload --bucket $B --key mp/x.bin --query UploadId --output text)
check "create-multipart-upload" test -n "$uid"
check "upload-part" aws s3api upload-part --bucket $B --key mp/x.bin --upload-id "$uid" --part-number 1 --body "$work/up/small.bin" >/dev/null
check "list-multipart-uploads" bash -c "'$AWS' --endpoint-url '$E' s3api list-multipart-uploads --bucket $B | grep -q '$uid'"
check "sdk uploads" bash -c "node '$here/sdk.mjs' uploads s3://$B | grep -qx 'mp/x.bin $uid'"
check "list-parts" bash -c "'$AWS' --endpoint-url '$E' s3api list-parts --bucket $B --key mp/x.bin --upload-id $uid --query 'Parts[0].Size' --output text | grep -qx 1000"
check "abort-multipart-upload" aws s3api abort-multipart-upload --bucket $B --key mp/x.bin --upload-id "$uid"
check "aborted upload is gone" test -z "$(node "$here/sdk.mjs" uploads s3://$B)"

# A lost part: S3 refuses the Complete with 400 InvalidPart (s3rver alone would crash).
faults '{"rules":[{"method":"PUT","query_has":"partNumber","action":"lose","skip":1,"count":1}]}'
uid=$(aws s3api create-multipart-upload --bucket $B --key mp/lost.bin --query UploadId --output text)
head -c $((5 << 20)) /dev/urandom >"$work/part5m"
e1=$(aws s3api upload-part --bucket $B --key mp/lost.bin --upload-id "$uid" --part-number 1 --body "$work/part5m" --query ETag --output text)
e2=$(aws s3api upload-part --bucket $B --key mp/lost.bin --upload-id "$uid" --part-number 2 --body "$work/up/small.bin" --query ETag --output text)
faults '{"rules":[]}'
# shellcheck disable=SC2069  # stderr kept, stdout dropped, on purpose
complete() {   # complete ETAG1 ETAG2 : CompleteMultipartUpload's stderr
  aws s3api complete-multipart-upload --bucket $B --key mp/lost.bin --upload-id "$uid" \
    --multipart-upload "{\"Parts\":[{\"PartNumber\":1,\"ETag\":$1},{\"PartNumber\":2,\"ETag\":$2}]}" 2>&1 >/dev/null
}
check "lost part: Complete gets 400 InvalidPart" bash -c "$(declare -f complete aws); AWS='$AWS' E='$E' B=$B uid=$uid complete '$e1' '$e2' | grep -q InvalidPart"
check "s3rver still up after that" test "$(curl_s "$S3_DIRECT/")" = 200
check "wrong ETag: InvalidPart" bash -c "$(declare -f complete aws); AWS='$AWS' E='$E' B=$B uid=$uid complete '\"0\"' '$e2' | grep -q InvalidPart"
# The lost answer's ETag was made up; the part sent again gets the real one.
e2=$(aws s3api upload-part --bucket $B --key mp/lost.bin --upload-id "$uid" --part-number 2 --body "$work/up/small.bin" --query ETag --output text)
check "Complete after the part is sent again" test -z "$(complete "$e1" "$e2")"
check "completed object is whole" bash -c "cat '$work/part5m' '$work/up/small.bin' | cmp -s - '$S3_STORE/$B/mp/lost.bin._S3rver_object'"

# --- the log
check "log: one JSON object per line" python3 -c "
import json, sys
for line in open('$S3_LOG'):
    r = json.loads(line)
    assert set(r) == {'t','method','path','query','status','bytes_in','bytes_out','fault','sig'}, r
"
check "log: no credentials" bash -c "! grep -qiE 'AWS4-HMAC|Signature=|S3RVER/' '$S3_LOG'"

if [ ${#failures[@]} -gt 0 ]; then
  echo "check_proxy: ${#failures[@]} failed:" >&2
  printf '  %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "check_proxy: all passed"
