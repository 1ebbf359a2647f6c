#!/usr/bin/env bash
# What must never go wrong: a dry run changes nothing; no confirmation, no
# start; sync prunes only inside selected scenes that were read completely;
# one unreadable file fails alone; no space means nothing moves.
source "$(dirname "$0")/lib.sh"

src=$WORK/src dst=$WORK/dst
gen_tree "$src" --scenes 3 --small 20 --large 0 --seed 51

# Dry run and plan: nothing written, not even the state folder.
ferry_np 2 get --dry-run "$src" "$dst" > "$WORK/dry.out"
check "--dry-run prints the plan" grep -q "^total" "$WORK/dry.out"
check "--dry-run creates nothing" test ! -e "$dst"
"$FERRY_BIN" plan --json "$src" "$dst" > "$WORK/plan.json"
check "plan --json reports 63 files to transfer" test "$(plan_field "$WORK/plan.json" transfer files)" = 63
check "plan creates nothing" test ! -e "$dst"

# Without a terminal and without --yes ferry refuses instead of hanging.
may_fail "$FERRY_BIN" get "$src" "$dst" < /dev/null > "$WORK/notty.out" 2>&1
check "no tty, no --yes: exit 2 ($status)" test "$status" -eq 2
check "and it says to pass --yes" grep -q -- "--yes" "$WORK/notty.out"
check "and nothing was written" test ! -e "$dst/scene_000"

# A scene named but missing is "not found", before anything moves.
may_fail "$FERRY_BIN" get --yes --scenes scene_000,nope "$src" "$dst" > "$WORK/missing.out" 2>&1
check "a missing scene gives exit 4 ($status)" test "$status" -eq 4
check "naming it" grep -q "no scene 'nope'" "$WORK/missing.out"

# sync prunes only inside the selected scenes, never in one empty on SRC.
ferry_np 2 put --yes -q "$src" "$dst"
rm "$src"/scene_000/frames/00/*.bin
rm -rf "$src"/scene_001/*
echo extra > "$dst/scene_002/extra.bin"
ferry_np 2 sync --yes --json --progress never --scenes scene_000,scene_001 "$src" "$dst" \
  > "$WORK/sync.json"
check "sync deleted what scene_000 lost" test ! -e "$dst/scene_000/frames/00"
check "sync kept the rest of scene_000" test -d "$dst/scene_000/frames/01"
check "sync deleted nothing in scene_001, empty on the source" \
  test "$(find "$dst/scene_001" -type f | wc -l)" = 21
check "sync touched nothing outside the selection" test -e "$dst/scene_002/extra.bin"
check "sync reports 2 deletions" test "$(json_field "$WORK/sync.json" files_deleted)" = 2

# Source and destination overlapping: refused before anything is read or
# deleted (real paths compared, so a link or a relative path is no way round).
osrc=$WORK/over/a/b
gen_tree "$osrc/inner" --scenes 2 --small 3 --large 0 --seed 54
echo keep > "$osrc/keep.bin"
before=$(cd "$WORK/over" && find . -type f | sort | xargs sha256sum)
may_fail ferry_np 2 sync --yes "$osrc/inner" "$osrc" > "$WORK/over1.out" 2>&1
check "sync of a folder into its parent exits 2 ($status)" test "$status" -eq 2
check "naming both" grep -q "$osrc/inner.*$osrc.*overlap" "$WORK/over1.out"
ln -s "$osrc" "$WORK/alias"
may_fail "$FERRY_BIN" sync --yes "$WORK/alias" "$osrc/inner" > "$WORK/over2.out" 2>&1
check "sync into a folder inside the source, through a link, exits 2 ($status)" test "$status" -eq 2
may_fail "$FERRY_BIN" get --yes "$osrc" "$osrc/" > "$WORK/over3.out" 2>&1
check "get of a folder onto itself exits 2 ($status)" test "$status" -eq 2
may_fail "$FERRY_BIN" plan "$osrc/inner" "$osrc/inner/scene_000/new" > "$WORK/over4.out" 2>&1
check "plan with DST inside SRC exits 2 ($status)" test "$status" -eq 2
check "and nothing under them changed" \
  test "$(cd "$WORK/over" && find . -type f | sort | xargs sha256sum)" = "$before"

# One unreadable file fails alone (as an unprivileged user: root reads anything).
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  chmod 755 "$WORK"
else
  as_user=()
fi
if [ "$(id -u)" -ne 0 ] || [ ${#as_user[@]} -gt 0 ]; then
  usrc=$WORK/usrc udst=$WORK/udst
  gen_tree "$usrc" --scenes 1 --small 5 --large 0 --seed 52
  chmod -R a+rX "$usrc"
  chmod 000 "$usrc/scene_000/frames/02/frame_000002.bin"
  mkdir -p "$udst" && chmod 777 "$udst"
  # The build may sit where that user cannot reach it (a clone under /root).
  user_bin=$FERRY_BIN
  if ! "${as_user[@]}" test -x "$FERRY_BIN"; then
    user_bin=$WORK/ferry
    cp "$FERRY_BIN" "$user_bin"
    chmod 755 "$user_bin"
  fi
  may_fail "${as_user[@]}" env HOME="$WORK" "$user_bin" get --yes --json --progress never \
    "$usrc" "$udst" > "$WORK/unreadable.json" 2> "$WORK/unreadable.err"
  check "an unreadable file gives exit 1 ($status)" test "$status" -eq 1
  check "the report names it and the cause" \
    python3 -c "import json,sys; s=[json.loads(l) for l in open('$WORK/unreadable.json') if '\"summary\"' in l][-1]; f=s['failures']; sys.exit(not (len(f)==1 and f[0]['path'].endswith('frame_000002.bin') and 'Permission denied' in f[0]['reason']))"
  check "every other file arrived" test "$(find "$udst/scene_000" -type f | wc -l)" = 5

  # A scene the source walk cannot read completely is never pruned.
  chmod 644 "$usrc/scene_000/frames/02/frame_000002.bin"
  "${as_user[@]}" env HOME="$WORK" "$user_bin" get --yes -q "$usrc" "$udst" > /dev/null 2>&1
  echo stale > "$udst/scene_000/stale.bin"
  chmod 000 "$usrc/scene_000/frames/03"
  may_fail "${as_user[@]}" env HOME="$WORK" "$user_bin" sync --yes --json --progress never \
    "$usrc" "$udst" > "$WORK/walkerr.json" 2> "$WORK/walkerr.err"
  chmod 755 "$usrc/scene_000/frames/03"
  check "sync after a walk error exits 1 ($status)" test "$status" -eq 1
  check "and deletes nothing in that scene" test -e "$udst/scene_000/stale.bin"
  check "and says why" grep -q "could not be read completely" "$WORK/walkerr.json"
else
  echo "skipped: unreadable file (needs a non-root user or setpriv)"
fi

# Not enough space: exit 5 before anything moves.
if [ "$(id -u)" -eq 0 ] && mkdir -p "$WORK/small" && mount -t tmpfs -o size=256k tmpfs "$WORK/small" 2>/dev/null; then
  may_fail "$FERRY_BIN" get --yes "$src" "$WORK/small/dst" > "$WORK/space.out" 2>&1
  check "no space: exit 5 ($status)" test "$status" -eq 5
  check "saying how much is free and needed" grep -q "free, .* to write" "$WORK/space.out"
  check "and nothing was copied" test -z "$(find "$WORK/small/dst" -type f -not -path '*/.ferry/*')"
  umount "$WORK/small"
else
  echo "skipped: no-space check (needs root to mount a small tmpfs)"
fi

# The disk fills up mid-run (the run is held while a filler takes the free
# space); once some space is freed, less than the whole plan but enough for
# what the part files lack, the rerun goes ahead.
if [ "$(id -u)" -eq 0 ] && mkdir -p "$WORK/part" &&
   mount -t tmpfs -o size=1000m tmpfs "$WORK/part" 2>/dev/null; then
  psrc=$WORK/psrc pdst=$WORK/part/dst
  gen_tree "$psrc" --scenes 1 --small 1 --large 1 --large-size 800M --seed 53
  # A big file, at the lowest priority, so that on a busy machine the copy
  # (memory to memory on tmpfs) does not finish before this shell holds it.
  nice -n 19 mpirun -np 2 --oversubscribe "$FERRY_BIN" get --yes --progress never \
    --chunk-size 512K "$psrc" "$pdst" > "$WORK/full.out" 2>&1 &
  job=$!
  wait_for_journal "$pdst" '^C ' 40 || true
  pkill -STOP -f "^$FERRY_BIN .*$pdst\$" || true
  sleep 0.5                 # a write under way when the signal came still lands
  free_now() { echo $(( $(stat -f -c '%a * %S' "$WORK/part") )); }
  fallocate -l "$(free_now)" "$WORK/part/filler"
  pkill -CONT -f "^$FERRY_BIN .*$pdst\$" || true
  may_fail wait "$job"
  check "a full disk fails the run (exit $status)" test "$status" -eq 1
  check "saying so" grep -q "No space left on device" "$WORK/full.out"
  part=$(find "$pdst" -name '*.ferry-part' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  check "and leaves part files ($part bytes)" test "$part" -ge $((16 << 20))
  # Free 6 MiB more than the part files lack: less than the whole file.
  rm "$WORK/part/filler"
  fallocate -l $(( $(free_now) - (800 << 20) + part - (6 << 20) )) "$WORK/part/filler"
  may_fail ferry_np 2 get --yes --progress never --chunk-size 512K "$psrc" "$pdst" \
    > "$WORK/partrun.out" 2>&1
  check "the rerun counts the part files' bytes as written (exit $status)" test "$status" -eq 0
  check "and completes the copy" same_tree "$psrc" "$pdst"
  umount "$WORK/part"
else
  echo "skipped: rerun after a full disk (needs root to mount a small tmpfs)"
fi

finish
