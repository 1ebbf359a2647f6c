# Shared helpers for the integration tests: the real binary under mpirun,
# real files, outcomes checked by sha256 and by the JSON report.
set -euo pipefail

FERRY_BIN=${FERRY_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/ferry}
FERRY_SOURCE_DIR=${FERRY_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# Keep Open MPI quiet and local: no network interfaces but loopback.
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo

TEST_NAME=$(basename "$0" .sh)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferry-$TEST_NAME-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0

ok() {
  passed=$((passed + 1))
  echo "ok: $*"
}

fail() {
  failed=$((failed + 1))
  echo "FAILED: $*" >&2
}

# check DESCRIPTION COMMAND...: pass when the command succeeds.
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

finish() {
  echo "$TEST_NAME: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# may_fail CMD...: run a command expected to fail; its exit status is left in
# $status (redirections on the call apply to the command).
may_fail() {
  status=0
  "$@" || status=$?
}

# wait_for_journal DST PATTERN N: wait (at most 10 s) until DST's journal has
# N lines matching PATTERN, so a test can interrupt a run in the middle.
wait_for_journal() {
  local n
  for _ in $(seq 2000); do
    n=$(grep -c "$2" "$1/.ferry/journal" 2>/dev/null || true)
    [ "${n:-0}" -ge "$3" ] && return 0
    sleep 0.005
  done
  return 1
}

# ferry_np N ARGS...: run ferry under mpirun with N ranks.
ferry_np() {
  local np=$1
  shift
  mpirun -np "$np" --oversubscribe "$FERRY_BIN" "$@"
}

gen_tree() {
  python3 "$FERRY_SOURCE_DIR/tests/gen_tree.py" "$@" >/dev/null
}

# The sha256 of every file under DIR (hidden dirs and .ferry-part excluded),
# by relative path.
tree_sums() {
  (cd "$1" && find . -type f -not -path '*/.*/*' -not -name '*.ferry-part' -print0 \
     | sort -z | xargs -0 -r sha256sum)
}

same_tree() {
  diff <(tree_sums "$1") <(tree_sums "$2") >/dev/null
}

# tree_matches DIR MANIFEST.json: every path in the manifest ({path: sha256})
# is a file under DIR with that sha256.
tree_matches() {
  python3 - "$1" "$2" <<'PY'
import hashlib, json, os, sys
root, manifest = sys.argv[1:]
bad = [p for p, h in json.load(open(manifest)).items()
       if not os.path.isfile(os.path.join(root, p))
       or hashlib.sha256(open(os.path.join(root, p), "rb").read()).hexdigest() != h]
print("wrong or missing:", bad[:5]) if bad else None
sys.exit(1 if bad else 0)
PY
}

# json_field FILE FIELD: a field of the last summary event in FILE.
json_field() {
  python3 - "$1" "$2" <<'PY'
import json, sys
summary = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{") and '"summary"' in l]
print(summary[-1][sys.argv[2]] if summary else "none")
PY
}

# plan_field FILE KEY SUBKEY: a total of the plan event, e.g. transfer bytes.
plan_field() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
plans = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{") and '"plan"' in l]
print(plans[-1]["totals"][sys.argv[2]][sys.argv[3]])
PY
}
