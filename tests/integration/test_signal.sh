#!/usr/bin/env bash
# SIGTERM stops a run cleanly with exit 75 (journal flushed, partial data only
# in .ferry-part files); the same command then finishes the job.
source "$(dirname "$0")/lib.sh"

src=$WORK/src dst=$WORK/dst
gen_tree "$src" --scenes 4 --small 3000 --small-size 2K --large 1 --large-size 40M --seed 41

# Signal the ranks, as Slurm does: srun passes the ranks' status on.
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

# --- mpirun itself signalled --------------------------------------------------------
# start_mpirun DST: a get under mpirun in the background; $launcher is mpirun.
start_mpirun() {
  mpirun -np 2 --oversubscribe "$FERRY_BIN" get --yes --json --progress never --chunk-size 256K \
    "$src" "$1" > "$1.json" 2> "$1.err" &
  launcher=$!
  wait_for_journal "$1" '^[CF] ' 50 || true
}
# complete DST: no file under its real name is torn.
complete() {
  python3 - "$src" "$1" <<'PY'
import os, sys
src, dst = sys.argv[1:]
torn = [os.path.join(d, f) for d, _, fs in os.walk(dst) if "/.ferry" not in d for f in fs
        if not f.endswith(".ferry-part") and open(os.path.join(d, f), "rb").read()
        != open(os.path.join(src, os.path.relpath(os.path.join(d, f), dst)), "rb").read()]
sys.exit(1 if torn else 0)
PY
}

# mpirun forwards USR1 to the ranks, which stop as for TERM; it then exits
# with their status.
start_mpirun "$WORK/usr1"
kill -USR1 "$launcher"
may_fail wait "$launcher"
check "USR1 to mpirun: exit 75 ($status)" test "$status" -eq 75
check "the report says interrupted" test "$(json_field "$WORK/usr1.json" interrupted)" = True

# A TERM to mpirun itself is an abort to Open MPI 4.1: it sets its own exit
# status to 1 before the ranks answer, and refuses to forward TERM
# (ess_base_forward_signals).  This checks that fact, which the jobs/
# scripts work around, and that what the ranks leave is sound.
start_mpirun "$WORK/term"
kill -TERM "$launcher"
may_fail wait "$launcher"
check "TERM to mpirun: Open MPI's own exit 1 ($status)" test "$status" -eq 1
check "no file under its real name is torn" complete "$WORK/term"

# jobs/pull.sbatch under mpirun.  run_job DST: the script in a session of
# its own ($job).
run_job() {
  SRC=$src DST=$1 FERRY=$FERRY_BIN FERRY_LAUNCH="mpirun -np 2 --oversubscribe" \
    FERRY_ARGS="--json --chunk-size 256K" \
    setsid bash "$FERRY_SOURCE_DIR/jobs/pull.sbatch" > "$1.json" 2> "$1.err" &
  job=$!
  wait_for_journal "$1" '^[CF] ' 50 || true
}
# TERM to the batch script alone (scancel --batch): passed on as USR1, so
# mpirun's own status is the ranks' 75.
run_job "$WORK/job"
kill -TERM "$job"
may_fail wait "$job"
check "pull.sbatch, TERM to the script: exit 75 ($status)" test "$status" -eq 75
check "the 75 is mpirun's own" test ! -s "$WORK/job.err" -o -z "$(grep 'launcher exited' "$WORK/job.err")"
check "the ranks stopped cleanly" test "$(json_field "$WORK/job.json" interrupted)" = True
# TERM to every process of the job, as Slurm's time limit sends it: mpirun
# exits 1 on its own TERM, the script says why and exits 75.
run_job "$WORK/all"
pkill -TERM -s "$job"
may_fail wait "$job"
check "pull.sbatch, TERM to the whole job: exit 75 ($status)" test "$status" -eq 75
check "the script says mpirun exited 1" grep -q "the launcher exited 1 " "$WORK/all.err"
check "the ranks stopped cleanly" test "$(json_field "$WORK/all.json" interrupted)" = True
check "the lock is released" test ! -e "$WORK/all/.ferry/lock"
SRC=$src DST=$WORK/all FERRY=$FERRY_BIN FERRY_LAUNCH="mpirun -np 2 --oversubscribe" \
  may_fail bash "$FERRY_SOURCE_DIR/jobs/pull.sbatch" > "$WORK/again.out" 2>&1
check "the job run again completes: exit 0 ($status)" test "$status" -eq 0
check "and every file is byte-identical" same_tree "$src" "$WORK/all"

finish
