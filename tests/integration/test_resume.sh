#!/usr/bin/env bash
# kill -9 of the whole job mid-copy, then the same command with another rank
# count: every file byte-identical, and nothing the journal holds is copied
# again (bytes_done + bytes_resumed = what the rerun's plan had to move).
source "$(dirname "$0")/lib.sh"

src=$WORK/src dst=$WORK/dst
gen_tree "$src" --scenes 2 --small 20 --small-size 4K --large 2 --large-size 160M --seed 21

ferry_np 2 get --yes --json --progress never --chunk-size 512K "$src" "$dst" \
  > "$WORK/first.json" 2> "$WORK/first.err" &
job=$!
# Wait until some chunks are journalled, then kill everything at once.
wait_for_journal "$dst" '^C ' 20 || true
pkill -9 -f "^$FERRY_BIN .*$dst\$" || true
kill -9 "$job" 2>/dev/null || true
wait "$job" 2>/dev/null || true
journalled=$(grep -c '^C ' "$dst/.ferry/journal" || true)
check "the first run was killed mid-copy ($journalled chunks journalled)" test "$journalled" -ge 20
check "the killed run left no summary" test "$(json_field "$WORK/first.json" files_done)" = none
check "no half-written file under a real name" \
  test -z "$(cd "$src" && find . -name 'video_*.bin' | while read -r f; do
               [ -f "$dst/$f" ] && ! cmp -s "$src/$f" "$dst/$f" && echo "$f"; done)"

ferry_np 4 get --yes --json --progress never --chunk-size 512K "$src" "$dst" > "$WORK/second.json"
check "the rerun ends with every file byte-identical" same_tree "$src" "$dst"
planned=$(plan_field "$WORK/second.json" transfer bytes)
done_bytes=$(json_field "$WORK/second.json" bytes_done)
resumed=$(json_field "$WORK/second.json" bytes_resumed)
check "the rerun skipped journalled chunks ($resumed bytes)" test "$resumed" -ge $((20 * 524288))
check "copied + resumed = planned ($done_bytes + $resumed = $planned)" \
  test $((done_bytes + resumed)) -eq "$planned"
check "the journal is emptied after a complete run" test ! -s "$dst/.ferry/journal"
check "the lock is released" test ! -e "$dst/.ferry/lock"

finish
