#!/usr/bin/env bash
# What ferry puts in a bucket reads back with the AWS CLI (Debian's awscli)
# and the AWS SDK for JavaScript (@aws-sdk/client-s3); what they upload,
# multipart uploads included, ferry gets byte for byte.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/s3lib.sh"

AWS=/usr/bin/aws
[ -x "$AWS" ] || AWS=$(command -v aws)
aws_s3() {
  "$AWS" --endpoint-url "$AWS_ENDPOINT_URL" --no-cli-pager s3 "$@" >/dev/null
}

src="$WORK/src"
gen_tree "$src" --scenes 2 --small 30 --small-size 9K --large 1 --large-size 19M
printf 'name with spaces and ümlaut\n' >"$src/scene_000/a file (1) ü.txt"

# 1. ferry puts (19M objects as 8M parts); the CLI and the SDK read it.
check "ferry put" ferry_np 2 put "$src" "s3://$BUCKET/by-ferry" -y -q --chunk-size 8M
check "aws s3 sync downloads it" aws_s3 sync "s3://$BUCKET/by-ferry" "$WORK/aws-down"
check "the CLI got the same bytes" same_tree "$src" "$WORK/aws-down"
check "the SDK reads the same bytes" same_in_bucket "$src" by-ferry

# 2. The CLI uploads (multipart above 8 MB); ferry gets it with two ranks.
check "aws s3 cp --recursive uploads" aws_s3 cp --recursive "$src" "s3://$BUCKET/by-aws"
check "ferry gets what the CLI put" ferry_np 2 get "s3://$BUCKET/by-aws" "$WORK/from-aws" -y -q \
  --chunk-size 4M
check "ferry got the same bytes" same_tree "$src" "$WORK/from-aws"
clear_requests
check "ferry sync up to the CLI's copy" "$FERRY_BIN" sync "$src" "s3://$BUCKET/by-aws" -y -q
check "nothing was sent: the CLI's objects are current" test "$(requests '"PUT"')" -eq 0

# 3. The SDK uploads (5 MiB parts); ferry gets it.
check "the SDK uploads" node "$FERRY_SOURCE_DIR/tests/s3/sdk.mjs" put "$src" "s3://$BUCKET/by-sdk" \
  --part-size 5242880
check "ferry gets what the SDK put" "$FERRY_BIN" get "s3://$BUCKET/by-sdk" "$WORK/from-sdk" -y -q
check "ferry got the SDK's bytes" same_tree "$src" "$WORK/from-sdk"
check "verify agrees" "$FERRY_BIN" verify "$WORK/from-sdk" --against "s3://$BUCKET/by-sdk" -q

finish
