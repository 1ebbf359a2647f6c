# Helpers for the tests of uploads to the test hub (sourced after lib.sh and
# netlib.sh, with the hub started): the hub's request log, and the repo's
# files read back through the official @huggingface/hub client.
ROUNDTRIP=$FERRY_SOURCE_DIR/tests/hub/conformance/roundtrip.mjs
LOG=$WORK/hub/requests.jsonl

# calls PATTERN [STATUS]: requests in the hub's log whose path matches PATTERN.
calls() {
  python3 - "$LOG" "$1" "${2:-}" <<'PY'
import json, re, sys
log, pattern, status = sys.argv[1], re.compile(sys.argv[2]), sys.argv[3]
print(sum(1 for l in open(log) if pattern.search(json.loads(l)["path"])
          and (not status or str(json.loads(l)["status"]) == status)))
PY
}

# same_as_local DIR NAME [LEFT_OUT_FILE]: @huggingface/hub downloads every
# file of alice/NAME, and they are exactly DIR's files (less hidden ones, less
# the paths listed in LEFT_OUT_FILE), byte for byte.
same_as_local() {
  node "$ROUNDTRIP" list "$HUB" "alice/$2" > "$WORK/listed.jsonl" &&
  python3 - "$1" "$WORK/listed.jsonl" "${3:-}" <<'PY'
import hashlib, json, os, sys
root, listed, left_out = sys.argv[1:]
remote = {e["path"]: e["sha256"] for e in map(json.loads, open(listed))}
remote.pop(".gitattributes", None)
skip = set(open(left_out).read().split()) if left_out else set()
local = {}
for d, dirs, files in os.walk(root):
    dirs[:] = [x for x in dirs if not x.startswith(".")]
    for f in files:
        p = os.path.join(d, f)
        rel = os.path.relpath(p, root)
        if rel not in skip:
            local[rel] = hashlib.sha256(open(p, "rb").read()).hexdigest()
if remote != local:
    print("only remote:", sorted(set(remote) - set(local))[:5], "only local:",
          sorted(set(local) - set(remote))[:5],
          "different:", sorted(p for p in remote if p in local and remote[p] != local[p])[:5])
    sys.exit(1)
PY
}
