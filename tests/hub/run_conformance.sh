#!/usr/bin/env bash
# The test hub against the official @huggingface/hub client (pinned in
# conformance/package-lock.json): every byte read back equals what was
# written, and no Authorization header ever reached the CDN or storage.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/npm_install.sh"
cd "$here/conformance"
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-conformance-XXXXXX")
trap 'bash "$here/hubctl.sh" stop "$work/hub"; rm -rf "$work"' EXIT
cat > "$work/config.json" <<'JSON'
{"page_size": 100, "lfs_threshold": 1048576, "multipart_threshold": 8388608,
 "multipart_chunk_size": 5242880}
JSON
url=$(bash "$here/hubctl.sh" start "$work/hub" "$work/config.json")
node conformance.mjs "$url" "$work/cache" 2>&1 | grep -v "^Downloading "
python3 "$here/hublog.py" "$work/hub" --assert-no-auth-at cdn,storage
echo "ok: no Authorization header at the CDN or storage"
python3 "$here/hublog.py" "$work/hub" > "$work/log.jsonl"
python3 - "$work/log.jsonl" <<'PY'
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
parts = sum(1 for e in log if e["origin"] == "storage" and e["path"].startswith("/part/") and e["status"] == 200)
trees = sum(1 for e in log if e["origin"] == "hub" and "/tree/" in e["path"] and e["status"] == 200)
cdn = sum(1 for e in log if e["origin"] == "cdn" and e["status"] in (200, 206))
print(f"ok: {parts} multipart parts, {trees} tree pages, {cdn} CDN downloads")
sys.exit(0 if parts >= 3 and trees >= 4 and cdn >= 2 else 1)
PY
