#!/usr/bin/env bash
# SIGTERM stops a run cleanly with exit 75 (journal flushed, partial data only
# in .ferry-part files); the same command then finishes the job.
source "$(dirname "$0")/lib.sh"

src=$WORK/src dst=$WORK/dst
gen_tree "$src" --scenes 4 --small 3000 --small-size 2K --large 1 --large-size 40M --seed 41

# Signal the ranks, as Slurm does: srun passes the ranks' status on.  (Open
# MPI's mpirun forwards a SIGTERM sent to it, but then exits 1 itself.)
ferry_np 2 get --yes --json --progress never --chunk-size 256K "$src" "$dst" \
  > "$WORK/first.json" 2> "$WORK/first.err" &
job=$!
wait_for_journal "$dst" '^[CF] ' 50 || true
pkill -TERM -f "^$FERRY_BIN .*$dst\$"
may_fail wait "$job"
check "SIGTERM gives exit 75 ($status)" test "$status" -eq 75
check "the report says interrupted" test "$(json_field "$WORK/first.json" interrupted)" = True
check "an interrupted item is not a failed one" test "$(json_field "$WORK/first.json" files_failed)" = 0
"$FERRY_BIN" status "$dst" > "$WORK/status.out"
check "ferry status tells the run was interrupted" grep -q "^last run: get, interrupted (exit 75)" "$WORK/status.out"
check "ferry status counts what the journal holds" \
  grep -Eq "^journal: ([1-9][0-9]* files|[0-9]+ files and [1-9][0-9]* chunks)" "$WORK/status.out"
check "the log says why it stopped" grep -q "signal 15" "$WORK/first.err"
check "the lock is released on the way out" test ! -e "$dst/.ferry/lock"
check "the journal survived" test -s "$dst/.ferry/journal"
torn=0
while IFS= read -r -d '' f; do
  rel=${f#"$dst"/}
  cmp -s "$f" "$src/$rel" || torn=$((torn + 1))
done < <(find "$dst" -type f -not -path '*/.ferry/*' -not -name '*.ferry-part' -print0)
check "every file under its real name is complete ($torn torn)" test "$torn" -eq 0

ferry_np 1 get --yes --json --progress never --chunk-size 256K "$src" "$dst" > "$WORK/second.json"
check "the rerun completes with exit 0" test "$(json_field "$WORK/second.json" status)" = 0
check "and every file is byte-identical" same_tree "$src" "$dst"
check "no part files remain" test -z "$(find "$dst" -name '*.ferry-part')"
"$FERRY_BIN" status --json "$dst" > "$WORK/status.json"
check "ferry status --json: complete, journal empty" python3 -c "
import json, sys
s = json.load(open('$WORK/status.json'))
sys.exit(not (s['last_run']['status'] == 0 and s['journal']['files'] == 0 and s['lock']['state'] == 'free'))"

finish
