# S3 test helpers: the store (s3rver behind tests/s3/s3proxy.py, which checks
# every SigV4 signature, logs every request and injects faults) started for
# one test, and what the bucket holds read back with the AWS SDK.
# Source after lib.sh.

S3_HOME="$WORK/s3"
bash "$FERRY_SOURCE_DIR/tests/s3/s3ctl.sh" start "$S3_HOME" >"$WORK/s3ctl.log" 2>&1 || {
  cat "$WORK/s3ctl.log" >&2
  exit 1
}
trap 'bash "$FERRY_SOURCE_DIR/tests/s3/s3ctl.sh" stop "$S3_HOME" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
# shellcheck disable=SC1091
source "$S3_HOME/env"
BUCKET=ferry-test

# bucket_sums PREFIX: "SHA256  ./PATH" for every object under PREFIX, as
# tree_sums prints a folder (hidden folders left out the same way).
bucket_sums() {
  node "$FERRY_SOURCE_DIR/tests/s3/sdk.mjs" sums "s3://$BUCKET/$1" |
    grep -v -E '  (.*/)?\.[^/]*/' | sed 's|  |  ./|'
}

same_in_bucket() {
  diff <(tree_sums "$1") <(bucket_sums "$2") >/dev/null
}

# faults JSON: the proxy's fault rules from now on ('{"rules":[]}': none).
faults() {
  echo "$1" >"$S3_FAULTS"
}

# requests JQ-ish: the request log's lines matching a grep pattern, counted.
requests() {
  grep -c -E "$1" "$S3_LOG" || true
}

clear_requests() {
  : >"$S3_LOG"
}

open_uploads() {
  node "$FERRY_SOURCE_DIR/tests/s3/sdk.mjs" uploads "s3://$BUCKET" | grep -c . || true
}
