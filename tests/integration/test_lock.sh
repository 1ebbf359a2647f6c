#!/usr/bin/env bash
# Two runs on one destination: the second exits 5 naming the holder; a lock
# left by a dead process is taken over; `ferry locks --cleanup` and --force.
source "$(dirname "$0")/lib.sh"

src=$WORK/src dst=$WORK/dst
gen_tree "$src" --scenes 2 --small 10 --large 1 --large-size 200M --seed 31
host=$(hostname)

# A real concurrent run: start one, freeze it once it holds the lock (so it
# cannot finish first), start another, then let the first go on.
ferry_np 2 get --yes -q --progress never --chunk-size 256K "$src" "$dst" > "$WORK/first.out" 2>&1 &
first=$!
for _ in $(seq 2000); do [ -e "$dst/.ferry/lock" ] && break; sleep 0.002; done
pkill -STOP -f "^$FERRY_BIN get --yes -q --progress never .*$dst\$" || true
may_fail ferry_np 1 get --yes -q "$src" "$dst" > "$WORK/second.out" 2>&1
pkill -CONT -f "^$FERRY_BIN get --yes -q --progress never .*$dst\$" || true
wait "$first"
check "a second run on a busy destination exits 5 ($status)" test "$status" -eq 5
check "the refusal names the holder's host and pid" grep -q "locked by host $host, pid" "$WORK/second.out"
check "the first run finished anyway" same_tree "$src" "$dst"

# A lock held by a live process (a sleep stands in for another run).
sleep 60 &
holder=$!
mkdir -p "$dst/.ferry"
printf '{"host":"%s","pid":%d,"slurm_job_id":"123_4","start_time":%d}' "$host" "$holder" \
  "$(date +%s)" > "$dst/.ferry/lock"
touch "$src/scene_000/new.bin"
may_fail ferry_np 1 get --yes -q "$src" "$dst" > "$WORK/live.out" 2>&1
check "a live holder's lock gives exit 5 ($status)" test "$status" -eq 5
check "the message names the Slurm job" grep -q "Slurm job 123_4" "$WORK/live.out"
check "nothing was copied while locked" test ! -e "$dst/scene_000/new.bin"
"$FERRY_BIN" locks "$dst" > "$WORK/locks.out"
check "ferry locks shows the holder" grep -q "held: host $host, pid $holder" "$WORK/locks.out"
"$FERRY_BIN" locks --cleanup "$dst" > "$WORK/cleanup.out"
check "cleanup leaves a live, fresh lock alone" test -e "$dst/.ferry/lock"

# The holder dies: the next run takes the lock over with a warning.
kill "$holder"
wait "$holder" 2>/dev/null || true
ferry_np 2 get --yes -q "$src" "$dst" > "$WORK/takeover.out" 2>&1
check "a dead holder's lock is taken over" grep -q "taking over the lock" "$WORK/takeover.out"
check "and the run completes" test -e "$dst/scene_000/new.bin"
check "and releases the lock" test ! -e "$dst/.ferry/lock"

# Stale by age, on another host: reported, cleaned up on request.
printf '{"host":"other-node","pid":1,"slurm_job_id":"","start_time":%d}' \
  $(( $(date +%s) - 3 * 86400 )) > "$dst/.ferry/lock"
may_fail ferry_np 1 get --yes -q "$src" "$dst" > "$WORK/stale.out" 2>&1
check "a stale lock still stops a run (exit $status)" test "$status" -eq 5
check "and is called stale" grep -q "stale" "$WORK/stale.out"
"$FERRY_BIN" locks --cleanup "$dst" > "$WORK/cleanup2.out"
check "locks --cleanup removes a stale lock" test ! -e "$dst/.ferry/lock"

# On another host and within the TTL: nobody can tell whether it runs.
printf '{"host":"other-node","pid":1,"slurm_job_id":"555","start_time":%d}' "$(date +%s)" \
  > "$dst/.ferry/lock"
may_fail ferry_np 1 get --yes -q "$src" "$dst" > "$WORK/remote.out" 2>&1
check "a holder on another host stops a run (exit $status)" test "$status" -eq 5
check "which says it cannot tell whether it runs, and how to clear it" \
  grep -q "cannot tell.*ferry locks .* --cleanup --force" "$WORK/remote.out"
"$FERRY_BIN" locks --cleanup "$dst" > "$WORK/cleanup3.out"
check "locks --cleanup does not call it alive" test -z "$(grep alive "$WORK/cleanup3.out" || true)"
check "but says it cannot tell, and how to remove it" \
  grep -q "cannot tell.*--cleanup --force" "$WORK/cleanup3.out"
check "and leaves it" test -e "$dst/.ferry/lock"

# The same Slurm job on another node (requeued after its node died): the
# rerun takes the lock over.
touch "$src/scene_000/requeued.bin"
printf '{"host":"dead-node","pid":4242,"slurm_job_id":"555","start_time":%d}' "$(date +%s)" \
  > "$dst/.ferry/lock"
SLURM_JOB_ID=555 ferry_np 2 get --yes -q "$src" "$dst" > "$WORK/requeue.out" 2>&1
check "a requeued job takes over its own lock" \
  grep -q "taking over the lock of host dead-node.*earlier run of this Slurm job" "$WORK/requeue.out"
check "and the run completes" test -e "$dst/scene_000/requeued.bin"

# --force takes any lock.
printf '{"host":"other-node","pid":1,"slurm_job_id":"","start_time":%d}' "$(date +%s)" \
  > "$dst/.ferry/lock"
ferry_np 1 get --yes -q --force "$src" "$dst" > "$WORK/force.out" 2>&1
check "--force takes a held lock" test ! -e "$dst/.ferry/lock"

finish
