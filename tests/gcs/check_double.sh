#!/usr/bin/env bash
# Proves the GCS double against Google's own auth library and curl:
#   - google-auth-library (pinned in npm/) gets a token by the JWT grant and,
#     with no key file, detects the double as a VM's metadata server; each
#     token reads an object through the storage front (check_double.mjs);
#   - curl: the metadata token without "Metadata-Flavor: Google" (403), a
#     grant signed with another key (400 invalid_grant), storage without a
#     token, with an unknown one and with an expired one (401), an object
#     put and read back through the front, and that no log line holds a token.
#   bash tests/gcs/check_double.sh [WORKDIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-$(mktemp -d /tmp/gcs-check.XXXXXX)}
mkdir -p "$work"
# The library would take a developer's own gcloud credentials before the double.
export CLOUDSDK_CONFIG=$work/gcloud
unset GOOGLE_APPLICATION_CREDENTIALS GCE_METADATA_HOST
(cd "$here/npm" && { [ -d node_modules/google-auth-library ] && [ -d node_modules/s3rver ] ||
                     npm ci --no-audit --no-fund --loglevel=error; })

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
s3_port=$(free_port)
node "$here/npm/node_modules/s3rver/bin/s3rver.js" -d "$work/s3" -a 127.0.0.1 -p "$s3_port" --silent --no-vhost-buckets \
  --configure-bucket ferry-test > "$work/s3rver.log" 2>&1 &
s3_pid=$!
cleanup() {
  bash "$here/gcsctl.sh" stop "$work/double" || true
  bash "$here/gcsctl.sh" stop "$work/short" || true
  kill "$s3_pid" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$s3_port/" && break
  sleep 0.1
done

url=$(bash "$here/gcsctl.sh" start "$work/double" "http://127.0.0.1:$s3_port" -- \
        --audience https://oauth2.googleapis.com/token)
short=$(bash "$here/gcsctl.sh" start "$work/short" "http://127.0.0.1:$s3_port" -- --lifetime 1)
fails=0
expect() {   # expect WHAT WANT GOT
  if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: want $2, got $3"; fails=$((fails + 1)); fi
}
token_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'; }
meta=/computeMetadata/v1/instance/service-accounts/default/token

expect "metadata without Metadata-Flavor" 403 "$(curl -s -o /dev/null -w '%{http_code}' "$url$meta")"
token=$(curl -sf -H 'Metadata-Flavor: Google' "$url$meta" | token_of)
printf 'through the front\n' > "$work/object.txt"
expect "put through the front" 200 "$(curl -s -o /dev/null -w '%{http_code}' -X PUT \
  -H "Authorization: Bearer $token" -T "$work/object.txt" "$url/ferry-test/check/object.txt")"
expect "read back" "through the front" "$(curl -sf -H "Authorization: Bearer $token" \
  "$url/ferry-test/check/object.txt")"
expect "no token" 401 "$(curl -s -o /dev/null -w '%{http_code}' "$url/ferry-test/check/object.txt")"
expect "unknown token" 401 "$(curl -s -o /dev/null -w '%{http_code}' \
  -H 'Authorization: Bearer ya29.made-up' "$url/ferry-test/check/object.txt")"
old=$(curl -sf -H 'Metadata-Flavor: Google' "$short$meta" | token_of)
sleep 1.5
expect "expired token" 401 "$(curl -s -o /dev/null -w '%{http_code}' \
  -H "Authorization: Bearer $old" "$short/ferry-test/check/object.txt")"
expect "expired is logged so" expired "$(tail -1 "$work/short/requests.jsonl" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["auth"])')"

# A grant signed with another key: the double's own key folder is not used.
bash "$here/make_key.sh" "$work/other" "$url/token" >/dev/null
answer=$(GOOGLE_APPLICATION_CREDENTIALS=$work/other/sa.json node --input-type=module -e '
  import { createRequire } from "node:module";
  const require = createRequire(process.argv[1] + "/");
  const { GoogleAuth } = require("google-auth-library");
  const { readFileSync } = await import("node:fs");
  const key = JSON.parse(readFileSync(process.env.GOOGLE_APPLICATION_CREDENTIALS, "utf8"));
  const client = await new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/devstorage.read_write"] }).getClient();
  client.transporter.interceptors.request.add({ resolved: async (o) => { o.url = new URL(key.token_uri); return o; } });
  try { await client.getAccessToken(); console.log("granted"); } catch (e) { console.log(e.message); }
' "$here/npm")
expect "grant signed with another key" "invalid_grant: Invalid JWT Signature." "$answer"

node "$here/check_double.mjs" "$url" "$work/double/sa.json" /ferry-test/check/object.txt \
  "$work/object.txt" && echo "ok   google-auth-library" || fails=$((fails + 1))

# No log line may hold a token.
if grep -q 'ya29\.double' "$work"/double/requests.jsonl "$work"/short/requests.jsonl; then
  echo "FAIL a token reached the log"; fails=$((fails + 1))
else
  echo "ok   no token in the logs"
fi
[ "$fails" -eq 0 ] && echo "check_double: all passed" || { echo "check_double: $fails failed"; exit 1; }
