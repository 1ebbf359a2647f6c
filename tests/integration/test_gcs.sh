#!/usr/bin/env bash
# gs:// against the GCS double (tests/gcs/gcsdouble.py) in front of the S3
# test service (tests/s3: s3proxy.py, which checks signatures, before s3rver):
#   - a service account's key: put with -np 1 and -np 2 (a 20 MiB file as a
#     multipart upload), the bucket read back past the double and the proxy,
#     get back with -np 2, a second put that moves nothing; every grant names
#     the account, the scope and the audience, every storage request carries a
#     token the double issued, and no token, JWT or private key is printed or
#     kept in a state file;
#   - tokens that live 8 s: a get that lasts longer renews its token in time;
#   - the metadata server (GCE_METADATA_HOST), a key the double does not know,
#     no credentials at all (exit 3, with messages that say why);
#   - HMAC keys (GS_ACCESS_KEY_ID): SigV4 that the proxy verifies.
# GCE_METADATA_HOST points at a closed port throughout unless a step sets
# it, so no run ever probes metadata.google.internal.
source "$(dirname "$0")/lib.sh"

S3CTL="$FERRY_SOURCE_DIR/tests/s3/s3ctl.sh"
GCSCTL="$FERRY_SOURCE_DIR/tests/gcs/gcsctl.sh"
SDK="$FERRY_SOURCE_DIR/tests/s3/sdk.mjs"

stop_servers() {
  local d
  for d in "$WORK/g" "$WORK/g8"; do
    [ -f "$d/double.pid" ] && bash "$GCSCTL" stop "$d" >/dev/null 2>&1 || true
  done
  [ -d "$WORK/s3" ] && bash "$S3CTL" stop "$WORK/s3" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap stop_servers EXIT

# Nothing of the caller's: no AWS or Google credentials, no ~/.boto.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL \
  AWS_ENDPOINT_URL_S3 AWS_REGION AWS_DEFAULT_REGION AWS_PROFILE \
  GOOGLE_APPLICATION_CREDENTIALS STORAGE_EMULATOR_HOST GS_ACCESS_KEY_ID GS_SECRET_ACCESS_KEY
export BOTO_CONFIG=$WORK/none.boto AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
CLOSED=127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export GCE_METADATA_HOST=$CLOSED

# The trees while the servers start.
SRC=$WORK/src
MANY=$WORK/many
gen_tree "$SRC" --scenes 3 --small 6 --small-size 3K --large 0 --seed 5 &
trees=$!
gen_tree "$MANY" --scenes 4 --small 50 --small-size 16 --large 0 --seed 6 &
many_tree=$!
bash "$S3CTL" start "$WORK/s3" > "$WORK/s3ctl.log" 2>&1 || { cat "$WORK/s3ctl.log" >&2; exit 1; }
PROXY=$(. "$WORK/s3/env" && echo "$AWS_ENDPOINT_URL")
S3_DIRECT=$(. "$WORK/s3/env" && echo "$S3_DIRECT")
S3_LOG=$(. "$WORK/s3/env" && echo "$S3_LOG")
# The double forwards to the proxy, which answers the multipart listings
# s3rver lacks (s3rver's 501 would be retried as a server error).
bash "$GCSCTL" start "$WORK/g8" "$PROXY" -- --lifetime 8 > "$WORK/g8.url" 2> "$WORK/g8.err" &
g8_starting=$!
G_URL=$(bash "$GCSCTL" start "$WORK/g" "$PROXY" 2> "$WORK/g.err")
wait "$g8_starting"
G8_URL=$(cat "$WORK/g8.url")
G8LOG=$WORK/g8/requests.jsonl
GLOG=$WORK/g/requests.jsonl
KEY=$WORK/g/sa.json
read -r EMAIL KID < <(python3 -c 'import json,sys; k=json.load(open(sys.argv[1]));
print(k["client_email"], k["private_key_id"])' "$KEY")
SCOPE=https://www.googleapis.com/auth/devstorage.read_write
OUT=$WORK/out
mkdir -p "$OUT"

# bucket_sums URL: "SHA256  PATH" per object under URL, read from s3rver
# itself (neither the double nor the proxy), sorted by path.
bucket_sums() {
  AWS_ENDPOINT_URL=$S3_DIRECT AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER \
    AWS_REGION=us-east-1 node "$SDK" sums "$1" | LC_ALL=C sort -k2
}
local_sums() {
  tree_sums "$1" | sed 's#  \./#  #' | LC_ALL=C sort -k2
}
# same_sums DIR SUMS [PREFIX]: the objects under PREFIX/ in SUMS (bucket_sums
# of the whole bucket) are the files of DIR, byte for byte.
same_sums() {
  diff <(local_sums "$1") <(grep "  $3/" "$2" | sed "s#  $3/#  #") >&2
}
bucket_empty() {   # bucket_empty PREFIX: s3rver lists nothing under PREFIX/
  curl -sf "$S3_DIRECT/ferry-test?list-type=2&prefix=$1/" | grep -q '<KeyCount>0</KeyCount>'
}

lines_of() { wc -l < "$1"; }

# log_counts LOG FROM 'COND...' ...: for each query, the lines of a JSON-lines
# log after its first FROM lines that meet every COND (shell words): KEY=VALUE,
# KEY!=VALUE or KEY~SUBSTRING, a missing key reading "None".  One count a query.
log_counts() {
  python3 - "$@" <<'PY'
import json, re, shlex, sys
path, start, *queries = sys.argv[1:]
lines = [json.loads(l) for l in open(path).readlines()[int(start):]]
def meets(d, cond):
    k, op, v = re.match(r"(\w+)(!=|=|~)(.*)$", cond, re.S).groups()
    got = str(d.get(k))
    return got == v if op == "=" else got != v if op == "!=" else v in got
print(*(sum(all(meets(d, c) for c in shlex.split(q)) for d in lines) for q in queries))
PY
}
above() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }

# --- the trees -------------------------------------------------------------------
wait "$trees"
wait "$many_tree"
head -c $((20 * 1024 * 1024)) /dev/urandom > "$SRC/scene_000/big.bin"
mkdir -p "$SRC/scene_001/deep/er"
printf 'deeper\n' > "$SRC/scene_001/deep/er/note.txt"
printf 'at the root\n' > "$SRC/README.txt"
NFILES=$(find "$SRC" -type f | wc -l)

# --- 1, 2: a service account's key ------------------------------------------------
for np in 1 2; do
  mark=$(lines_of "$GLOG")
  verbose=()
  [ "$np" -eq 1 ] && verbose=(-v)    # debug logging too must not show a secret
  GOOGLE_APPLICATION_CREDENTIALS=$KEY may_fail ferry_np "$np" put -y --json --progress never \
    "${verbose[@]}" --chunk-size 8M --endpoint "$G_URL" "$SRC" "gs://ferry-test/np$np" \
    > "$OUT/put$np.out" 2> "$OUT/put$np.err"
  check "put -np $np: exit 0 ($status)" test "$status" -eq 0
  check "put -np $np: the report has all $NFILES files done" \
    test "$(json_field "$OUT/put$np.out" files_done)" = "$NFILES"
  big=/ferry-test/np$np/scene_000/big.bin
  read -r started parts completed bad_auth grants_ok grants_bad < <(log_counts "$GLOG" "$mark" \
    "kind=storage method=POST path=$big query=uploads= status=200" \
    "kind=storage method=PUT path=$big query~partNumber= status=200" \
    "kind=storage method=POST path=$big query~uploadId= status=200" \
    "kind=storage auth!=ok" "kind=grant status=200" "kind=grant status!=200")
  check "put -np $np: the 20 MiB file went as a multipart upload of 3 parts" \
    test "$started/$parts/$completed" = 1/3/1
  check "put -np $np: every storage request had a valid token" test "$bad_auth" -eq 0
  check "put -np $np: every grant succeeded, one or one per rank ($grants_ok)" \
    test "$grants_ok" -ge 1 -a "$grants_ok" -le "$np" -a "$grants_bad" -eq 0
done
check "put -np 2: both ranks sent objects or parts" python3 - "$OUT/put2.out" <<'PY'
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if '"summary"' in l][-1]
sys.exit(0 if 0 < s["items_rank0"] < s["items"] else 1)
PY
bucket_sums s3://ferry-test > "$WORK/bucket.sums"
for np in 1 2; do
  check "put -np $np: every object in the bucket has the local file's sha256" \
    same_sums "$SRC" "$WORK/bucket.sums" "np$np"
done

mark=$(lines_of "$GLOG")
GOOGLE_APPLICATION_CREDENTIALS=$KEY may_fail ferry_np 2 put -y --json --progress never \
  --chunk-size 8M --endpoint "$G_URL" "$SRC" gs://ferry-test/np2 > "$OUT/again.out" 2> "$OUT/again.err"
check "a second put: exit 0 ($status)" test "$status" -eq 0
check "a second put plans nothing to send" test "$(plan_field "$OUT/again.out" transfer files)" -eq 0
check "a second put sends nothing (only listings reach storage)" \
  test "$(log_counts "$GLOG" "$mark" "kind=storage method!=GET")" -eq 0

GOOGLE_APPLICATION_CREDENTIALS=$KEY may_fail ferry_np 2 get -y --json --progress never \
  --endpoint "$G_URL" gs://ferry-test/np2 "$WORK/get2" > "$OUT/get2.out" 2> "$OUT/get2.err"
check "get -np 2: exit 0 ($status)" test "$status" -eq 0
check "get -np 2: every file has the source's sha256" same_tree "$SRC" "$WORK/get2"

# For the next step, 204 small files, put by the same key.
GOOGLE_APPLICATION_CREDENTIALS=$KEY may_fail ferry_np 2 put -y -q --progress never \
  --endpoint "$G_URL" "$MANY" gs://ferry-test/many > "$OUT/many-put.out" 2> "$OUT/many-put.err"
check "put of 204 small files: exit 0 ($status)" test "$status" -eq 0

read -r grants good_grants storage bad_auth < <(log_counts "$GLOG" 0 "kind=grant" \
  "kind=grant status=200 iss=$EMAIL kid=$KID scope=$SCOPE aud=$G_URL/token" \
  "kind=storage" "kind=storage auth!=ok")
check "each of the $grants grants was a JWT of the key's account, kid, scope and audience" \
  test "$grants" -ge 6 -a "$good_grants" -eq "$grants"
check "each of the $storage storage requests had a valid token" \
  test "$bad_auth" -eq 0 -a "$storage" -gt 0

# --- 3: tokens that live 8 s, a get that lasts longer ----------------------------------
# One rank, one connection: about 50 ms a file, longer than the lifetime.
GOOGLE_APPLICATION_CREDENTIALS=$WORK/g8/sa.json may_fail ferry_np 1 get -y -q --progress never \
  --connections 1 --endpoint "$G8_URL" gs://ferry-test/many "$WORK/many-get" \
  > "$OUT/refresh.out" 2> "$OUT/refresh.err"
check "a get longer than the token's lifetime: exit 0 ($status)" test "$status" -eq 0
check "a get longer than the token's lifetime: every file is right" same_tree "$MANY" "$WORK/many-get"
read -r grants span oldest other < <(python3 - "$G8LOG" <<'PY'
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
storage = [d for d in log if d["kind"] == "storage"]
span = storage[-1]["time"] - storage[0]["time"] if storage else 0
oldest = max((d["token_age"] or 0 for d in storage), default=0)
other = sum(d["kind"] != "storage" and (d["kind"] != "grant" or d["status"] != 200) or
            d["kind"] == "storage" and d["auth"] != "ok" for d in log)
print(sum(d["kind"] == "grant" for d in log), f"{span:.1f}", oldest, other)
PY
)
echo "lifetime 8 s: $grants grants, storage requests over $span s, oldest token used at $oldest s"
check "the get lasted longer than the 8 s lifetime ($span s; else nothing is proven)" above "$span" 8
check "the token was renewed during the run ($grants grants)" test "$grants" -ge 2
check "no storage request came with an expired (or any bad) token, no grant failed ($other)" \
  test "$other" -eq 0

# --- 4: the metadata server ------------------------------------------------------------
# The endpoint from STORAGE_EMULATOR_HOST this time, instead of --endpoint.
mark=$(lines_of "$GLOG")
GCE_METADATA_HOST=127.0.0.1:${G_URL##*:} STORAGE_EMULATOR_HOST=$G_URL may_fail ferry_np 2 get -y -q \
  --progress never gs://ferry-test/np1 "$WORK/meta" > "$OUT/meta.out" 2> "$OUT/meta.err"
check "get with the metadata server: exit 0 ($status)" test "$status" -eq 0
check "get with the metadata server: every file is right" same_tree "$SRC" "$WORK/meta"
read -r meta grants storage bad_auth < <(log_counts "$GLOG" "$mark" \
  "kind=metadata status=200 path~/service-accounts/default/token" "kind=grant" \
  "kind=storage" "kind=storage auth!=ok")
check "the tokens came from the metadata server ($meta), not a grant ($grants)" \
  test "$meta" -ge 1 -a "$grants" -eq 0
check "with them every storage request was let in" test "$bad_auth" -eq 0 -a "$storage" -gt 0

# --- 5: a key the double does not know ---------------------------------------------------
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/other.pem" 2>/dev/null
python3 - "$KEY" "$WORK/other.pem" "$WORK/bad.json" <<'PY'
import json, sys
key = json.load(open(sys.argv[1]))
key["private_key"] = open(sys.argv[2]).read()
json.dump(key, open(sys.argv[3], "w"), indent=2)
PY
mark=$(lines_of "$GLOG")
GOOGLE_APPLICATION_CREDENTIALS=$WORK/bad.json may_fail ferry_np 2 put -y --progress never \
  --endpoint "$G_URL" "$SRC" gs://ferry-test/bad > "$OUT/bad-put.out" 2> "$OUT/bad-put.err"
check "put with another key: exit 3 ($status)" test "$status" -eq 3
check "the message names the key file and says the grant was refused" \
  grep -q "($WORK/bad.json): $G_URL/token refused a token: HTTP 400 invalid_grant" "$OUT/bad-put.err"
read -r refused storage < <(log_counts "$GLOG" "$mark" \
  "kind=grant status=400 'reason=bad signature'" "kind=storage")
check "the double refused the grant for its signature ($refused)" test "$refused" -ge 1
check "nothing reached storage ($storage)" test "$storage" -eq 0
check "nothing is in the bucket under bad/" bucket_empty bad

# --- 6: no credentials at all --------------------------------------------------------------
start=$SECONDS
may_fail timeout 60 mpirun -np 1 --oversubscribe "$FERRY_BIN" get -y --progress never \
  --endpoint "$G_URL" gs://ferry-test/np1 "$WORK/none" > "$OUT/none.out" 2> "$OUT/none.err"
check "get with no credentials: exit 3 ($status) within 30 s ($((SECONDS - start)) s)" \
  test "$status" -eq 3 -a "$((SECONDS - start))" -lt 30
check "the message names the metadata server and says no token came" \
  grep -q "the metadata server at $CLOSED: no token from http://$CLOSED/" "$OUT/none.err"
check "get with no credentials: nothing written" test ! -e "$WORK/none"

# --- 2: no secret anywhere ---------------------------------------------------------------
# The PEM bodies of both keys (full lines only), a JWT's start, the double's tokens.
grep -hvE -- '-----|^.{0,63}$' "$WORK/g/private.pem" "$WORK/other.pem" > "$WORK/pem.lines"
leaks() {
  grep -rlaF -e eyJ -e ya29. -f "$WORK/pem.lines" "$@" 2>/dev/null || true
}
check "the keys' PEM bodies are there to look for ($(lines_of "$WORK/pem.lines") lines)" \
  test "$(lines_of "$WORK/pem.lines")" -ge 40
check "state files were written under SRC/.ferry" test -n "$(find "$SRC/.ferry" -type f)"
found=$(leaks "$OUT" "$SRC/.ferry" "$MANY/.ferry" "$WORK/get2/.ferry" \
  "$WORK/many-get/.ferry" "$WORK/meta/.ferry")
check "no token, JWT or private key in ferry's output or state files${found:+: $found}" test -z "$found"
found=$(leaks "$GLOG" "$G8LOG" "$S3_LOG")
check "no token, JWT or private key in the doubles' logs${found:+: $found}" test -z "$found"

# --- 7: HMAC keys, SigV4 checked by the proxy ------------------------------------------------
mark=$(lines_of "$S3_LOG")
gmark=$(lines_of "$GLOG")
# With a key file present too: HMAC keys come first.
hmac() {
  GS_ACCESS_KEY_ID=S3RVER GS_SECRET_ACCESS_KEY=S3RVER GOOGLE_APPLICATION_CREDENTIALS=$KEY "$@"
}
hmac may_fail ferry_np 2 put -y -q --progress never --chunk-size 8M --endpoint "$PROXY" \
  "$SRC" gs://ferry-test/hmac > "$OUT/hmac-put.out" 2> "$OUT/hmac-put.err"
check "put with HMAC keys: exit 0 ($status)" test "$status" -eq 0
hmac may_fail ferry_np 2 get -y -q --progress never --endpoint "$PROXY" \
  gs://ferry-test/hmac "$WORK/hmac-get" > "$OUT/hmac-get.out" 2> "$OUT/hmac-get.err"
check "get with HMAC keys: exit 0 ($status)" test "$status" -eq 0
check "get with HMAC keys: every file is right" same_tree "$SRC" "$WORK/hmac-get"
read -r parts got all unsigned < <(log_counts "$S3_LOG" "$mark" \
  "method=PUT query~partNumber= sig=ok status=200" \
  "method=GET path=/ferry-test/hmac/scene_000/big.bin sig=ok status=200" "" "sig!=ok")
check "the proxy saw $all requests, 3 parts and the big file's download among them, every one signed right" \
  test "$parts" -eq 3 -a "$got" -ge 1 -a "$unsigned" -eq 0
check "no Google token was asked for" test "$(lines_of "$GLOG")" -eq "$gmark"
bucket_sums s3://ferry-test/hmac | sed 's#  #  hmac/#' > "$WORK/hmac.sums"
check "put with HMAC keys: every object has the local file's sha256" \
  same_sums "$SRC" "$WORK/hmac.sums" hmac
mark=$(lines_of "$S3_LOG")
GS_ACCESS_KEY_ID=S3RVER GS_SECRET_ACCESS_KEY=wrong may_fail ferry_np 1 get -y --progress never \
  --endpoint "$PROXY" gs://ferry-test/hmac "$WORK/hmac-bad" > "$OUT/hmac-bad.out" 2> "$OUT/hmac-bad.err"
check "a wrong HMAC secret: exit 3 ($status), and the proxy saw a bad signature" \
  test "$status" -eq 3 -a "$(log_counts "$S3_LOG" "$mark" sig=bad)" -ge 1
check "the message says the HMAC key was refused" \
  grep -q "refused (HTTP 403.*credentials: HMAC key from GS_ACCESS_KEY_ID" "$OUT/hmac-bad.err"

finish
