#!/usr/bin/env bash
# Config targets against a private OpenSSH server (tests/ssh/sshctl.sh): two
# targets on one run, latest_only and max_depth selecting exactly what they
# say on a generated sweep, --only and --all-versions, a second run moving
# nothing, sync keeping what the selection leaves out, ferry targets and
# ferry init, and --watch sending a file once it is quiet, then ending with
# exit 0 on SIGINT between rounds.  About 15 s on 2 cores.
source "$(dirname "$0")/lib.sh"

source "$(dirname "$0")/sshlib.sh"
python3 "$FERRY_SOURCE_DIR/tests/ssh/gen_sweep.py" "$WORK/out" --runs 3 --ckpt-size 4K >/dev/null
SWEEP=sweep_lr_search
cat > "$WORK/ferry.json" <<JSON
{
  "// comments": "keys starting with // are ignored",
  "roots": {"sweeps": "$WORK/out", "logs": "$WORK/out/$SWEEP/run_000/logs"},
  "targets": {
    "desk": {"host": "ferrytest", "latest_only": true, "max_depth": 4,
             "paths": {"sweeps": "$WORK/desk", "logs": "$WORK/desk_logs"}},
    "backup": {"host": "$SSH_HOST", "port": $SSH_PORT, "user": "$SSH_USER",
               "parallel_transfers": 2, "paths": {"sweeps": "$WORK/backup"}}
  },
  "default_target": "desk"
}
JSON
export FERRY_CONFIG=$WORK/ferry.json
f() { HOME=$SSH_HOME "$FERRY_BIN" --progress never "$@"; }
paths_under() { (cd "$1" && find . -type f -not -name '*.ferry-part' | sed 's|^\./||' | sort); }

f targets > "$WORK/targets.out"
check "ferry targets names both, the default marked" \
  grep -q "^desk (default)" "$WORK/targets.out"
check "  with the backup's user and port" grep -q "host $SSH_USER@$SSH_HOST port $SSH_PORT" "$WORK/targets.out"

# Two targets in one run, the plan shown for each.
may_fail f sync --target desk --target backup --only sweeps --yes > "$WORK/two.out" 2>&1
check "sync to two targets: exit 0 ($status)" test "$status" -eq 0
check "  a plan per target" test "$(grep -c '^== target' "$WORK/two.out")" -eq 2
# What latest_only and max_depth should pick, computed apart from ferry.
(cd "$WORK/out" && find . -type f -not -path './.ferry/*' | sed 's|^\./||' | python3 -c '
import re, sys
paths = [l.strip() for l in sys.stdin]
def version(name):
    m = None
    for m in re.finditer(r"(?:(?<![A-Za-z0-9])[vV]|=)(\d+)", name):
        pass
    return (name[:m.start(1)] + "#" + name[m.end(1):], int(m.group(1))) if m else None
best = {}
for p in paths:
    parts = p.split("/")
    for i, name in enumerate(parts):
        v = version(name)
        if v:
            key = ("/".join(parts[:i]), v[0])
            best[key] = max(best.get(key, -1), v[1])
def keep(p):
    parts = p.split("/")
    if len(parts) > 4:
        return False
    for i, name in enumerate(parts):
        v = version(name)
        if v and v[1] < best[("/".join(parts[:i]), v[0])]:
            return False
    return True
print("\n".join(sorted(p for p in paths if keep(p))))
') > "$WORK/want_desk"
check "desk holds the latest versions within depth 4, nothing else" \
  diff "$WORK/want_desk" <(paths_under "$WORK/desk")
check "  (which leaves out ckpt_v1, epoch=2 and the wandb runs)" \
  test -z "$(paths_under "$WORK/desk" | grep -E 'ckpt_v1|epoch=2|wandb')"
check "backup (no latest_only, no max_depth) holds everything" \
  diff <(tree_sums "$WORK/out") <(tree_sums "$WORK/backup")

# A rerun moves nothing on either target.
may_fail f sync --target desk --target backup --only sweeps --yes --json > "$WORK/again.json" 2>&1
check "a second run to both: exit 0 ($status)" test "$status" -eq 0
check "  moves nothing" test "$(python3 -c '
import json, sys
print(sum(json.loads(l)["files_done"] for l in open(sys.argv[1]) if "\"summary\"" in l))' "$WORK/again.json")" -eq 0

# The default target (no --target), --only one class, SRC-less: logs.
may_fail f put --only logs --yes > "$WORK/logs.out" 2>&1
check "the default target's logs class: exit 0 ($status)" test "$status" -eq 0
check "  lands in its folder" \
  diff <(tree_sums "$WORK/out/$SWEEP/run_000/logs") <(tree_sums "$WORK/desk_logs")

# --all-versions lifts latest_only; sync keeps what the selection left out.
touch "$WORK/desk/$SWEEP/extra_on_desk.txt"
may_fail f sync --target desk --only sweeps --all-versions --yes > "$WORK/all.out" 2>&1
check "--all-versions: exit 0 ($status)" test "$status" -eq 0
check "  sends the older versions too" test -e "$WORK/desk/$SWEEP/run_000/checkpoints/ckpt_v1.pt"
check "  and sync deletes what the source lacks" test ! -e "$WORK/desk/$SWEEP/extra_on_desk.txt"
rm "$WORK/out/$SWEEP/run_001/checkpoints/ckpt_v1.pt"
may_fail f sync --target desk --only sweeps --yes > "$WORK/keep.out" 2>&1
check "latest_only sync: exit 0 ($status)" test "$status" -eq 0
check "  never deletes a versioned name on the target" \
  test -e "$WORK/desk/$SWEEP/run_001/checkpoints/ckpt_v1.pt"

# Bad names: an unknown target, a class no target has.
may_fail f sync --target nowhere --yes > "$WORK/unknown.out" 2>&1
check "an unknown target: exit 2 ($status)" test "$status" -eq 2
check "  named, with the known ones" grep -q "unknown target 'nowhere'.*desk, backup" "$WORK/unknown.out"
may_fail f sync --target backup --only logs --yes > "$WORK/class.out" 2>&1
check "a class the target lacks: exit 2 ($status)" test "$status" -eq 2

# ferry init: a template that parses, never over a file.
f init "$WORK/init.json" > /dev/null
check "ferry init writes a template ferry reads" eval 'f targets --config "$WORK/init.json" >/dev/null'
may_fail f init "$WORK/init.json" > /dev/null 2>&1
check "  and refuses to overwrite it (exit $status)" test "$status" -eq 2

# --watch: a file written during the watch goes once it is quiet (1 s); a
# SIGTERM between rounds ends it with exit 0 (a background job of a script
# ignores SIGINT, as bash sets it up).
HOME=$SSH_HOME "$FERRY_BIN" sync --target backup --watch=1 --yes -q --progress never > "$WORK/watch.out" 2>&1 &
pid=$!
sleep 1
echo "late result" > "$WORK/out/$SWEEP/late.txt"
for _ in $(seq 100); do [ -e "$WORK/backup/$SWEEP/late.txt" ] && break; sleep 0.1; done
check "--watch sends a file written after it started" cmp "$WORK/out/$SWEEP/late.txt" "$WORK/backup/$SWEEP/late.txt"
sleep 0.5
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
check "  and ends with exit 0 on SIGTERM ($status)" test "$status" -eq 0

finish
