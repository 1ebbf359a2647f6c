#!/usr/bin/env bash
# Faults from the server's side of ssh:// (tests/ssh/sshctl.sh on 127.0.0.1):
# every per-connection sshd is killed (`sshctl.sh drop`) while a 128 MiB file
# goes up (put -np 1) and comes down (get -np 2): ferry reconnects (sshd logs
# more connections than the same run without drops) and resumes, exits 0, and
# the bytes are right.  A remote folder that cannot be written (chmod 555; as
# root, where modes are not enforced, a read-only tmpfs mounted there) fails
# the run with a message naming the path, and the files already there are
# left as they were; made writable again, a rerun completes.  About 20-25 s
# on 2 cores.
source "$(dirname "$0")/lib.sh"

ro_mount=""
ssh_cleanup_more() {
  [ -n "$ro_mount" ] && umount -l "$ro_mount" 2>/dev/null
  chmod -R u+w "$WORK" 2>/dev/null
}
source "$(dirname "$0")/sshlib.sh"

# fssh NAME NP ARGS...: ferry under NP ranks with the fake home; JSON to
# NAME.json, stderr to NAME.err, exit status in $status.
fssh() {
  local name=$1 np=$2
  shift 2
  status=0
  HOME=$SSH_HOME ferry_np "$np" "$@" --json --progress never >"$WORK/$name.json" 2>"$WORK/$name.err" ||
    status=$?
  if [ "$status" -ne 0 ] && [ -z "${quiet:-}" ]; then
    echo "  ($name: ferry $* exited $status; stderr:)" >&2
    { grep -m6 -E '^ferry|ERROR|WARN' "$WORK/$name.err" || tail -3 "$WORK/$name.err"; } |
      cut -c1-400 | sed 's/^/    /' >&2
  fi
}
conns() { grep -c 'Connection from' "$SSHD_LOG" || true; }
identity() {
  (cd "$1" 2>/dev/null && find . -type f -not -path '*/.*/*' -printf '%P %i %s %m %T@\n' | sort) || true
}
parts_under() { find "$1" -name '*.ferry-part' 2>/dev/null | head -1; }

# with_drops NAME WATCH NP ARGS...: run fssh NAME NP ARGS in the background;
# once a NAME.ferry-part shows up under WATCH (a transfer is under way), drop
# every connection, and once more 0.5 s later if the run still goes on
# (SSH_DROPS=1: only once).
# Sets status, hits (drops that killed live connections while ferry ran) and
# after_drop (connections sshd took after the first drop).
with_drops() {
  local name=$1 watch=$2 pid off=""
  shift 2
  (fssh "$name" "$@"; exit "$status") &
  pid=$!
  hits=0
  for _ in $(seq 1000); do
    [ -n "$(parts_under "$watch")" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  while kill -0 "$pid" 2>/dev/null && [ "$hits" -lt "${SSH_DROPS:-2}" ]; do
    [ -z "$off" ] && off=$(stat -c %s "$SSHD_LOG")
    bash "$SSHCTL" drop "$SRV" >"$WORK/drop.out" 2>&1 || true
    if grep -q 'dropped: [0-9]' "$WORK/drop.out" && kill -0 "$pid" 2>/dev/null; then
      hits=$((hits + 1))
      sleep 0.5
    else
      sleep 0.02
    fi
  done
  status=0
  wait "$pid" || status=$?   # the subshell exits with ferry's status
  after_drop=0
  if [ -n "$off" ]; then
    after_drop=$(tail -c +$((off + 1)) "$SSHD_LOG" | grep -c 'Connection from' || true)
  fi
}

# --- the source: a 128 MiB file and a few small ones -------------------------
src="$WORK/src"
mkdir -p "$src/big" "$src/small"
head -c 128M /dev/urandom >"$src/big/blob.bin"
for i in 1 2 3 4 5; do head -c $((i * 7000)) /dev/urandom >"$src/small/f$i.bin"; done
args=(--yes --chunk-size 32m --connections 2)

# 1. put -np 1 without faults: the connections a clean run opens.
c0=$(conns)
fssh base_put 1 put "$src" "ferrytest:$WORK/base_up" "${args[@]}"
base_put=$(( $(conns) - c0 ))
check "put without faults exits 0" test "$status" -eq 0
check "put without faults: same bytes" same_tree "$src" "$WORK/base_up"

# 2. put -np 1 with the connections dropped mid-file.
c0=$(conns)
with_drops drop_put "$WORK/up" 1 put "$src" "ferrytest:$WORK/up" "${args[@]}"
dropped_put=$(( $(conns) - c0 ))
echo "  (put: $hits drops hit the run; $dropped_put connections vs $base_put without drops;" \
  "$after_drop after the first drop)"
check "put: a drop hit the running transfer" test "$hits" -ge 1
check "put through drops exits 0 ($status)" test "$status" -eq 0
check "put through drops: same bytes" same_tree "$src" "$WORK/up"
check "put through drops: no part file left" test -z "$(parts_under "$WORK/up")"
# How many connections a run opens depends on timing (a thread per job in
# flight), so the proof of a reconnect is ferry's own line, not a count.
check "put: a transfer lost its connection and went on" \
  grep -q "connection was lost at byte .*; connecting again" "$WORK/drop_put.err"
check "put connected again after the drop ($after_drop)" test "$after_drop" -ge 1

# 3. get -np 2 without faults, then with drops, from what the put left.
c0=$(conns)
fssh base_get 2 get "$URL$WORK/up" "$WORK/base_down" "${args[@]}"
base_get=$(( $(conns) - c0 ))
check "get without faults exits 0" test "$status" -eq 0
c0=$(conns)
with_drops drop_get "$WORK/down" 2 get "$URL$WORK/up" "$WORK/down" "${args[@]}"
dropped_get=$(( $(conns) - c0 ))
echo "  (get: $hits drops hit the run; $dropped_get connections vs $base_get without drops;" \
  "$after_drop after the first drop)"
check "get: a drop hit the running transfer" test "$hits" -ge 1
check "get through drops exits 0 ($status)" test "$status" -eq 0
check "get through drops: same bytes" same_tree "$src" "$WORK/down"
check "get through drops: no part file left" test -z "$(parts_under "$WORK/down")"
# A drop may find get's reads done and only idle connections to kill.
check "get: every transfer that lost its connection connected again" \
  eval '! grep -q "connection was lost" "$WORK/drop_get.err" || [ "$after_drop" -ge 1 ]'
rm -rf "$WORK/base_up" "$WORK/base_down"

# 4. A remote folder that cannot be written.
small="$WORK/small"
mkdir -p "$small/a" "$small/b"
echo "one" >"$small/a/x.txt"
echo "two" >"$small/a/y.txt"
echo "three" >"$small/b/z.txt"
fssh ro_first 1 put "$small" "ferrytest:$WORK/ro" --yes
check "put of the small tree exits 0" test "$status" -eq 0
ro_how=""
if [ "$(id -u)" -ne 0 ]; then
  chmod 555 "$WORK/ro/a"
  ro_how="chmod 555"
else
  # Root ignores modes; a read-only tmpfs over the folder (same files, kept
  # with cp -a) refuses root too.  Without the right to mount: skipped.
  mv "$WORK/ro/a" "$WORK/a.saved"
  mkdir "$WORK/ro/a"
  if mount -t tmpfs -o size=4m tmpfs "$WORK/ro/a" 2>"$WORK/mount.err"; then
    ro_mount="$WORK/ro/a"
    cp -a "$WORK/a.saved/." "$WORK/ro/a/"
    touch -r "$WORK/a.saved" "$WORK/ro/a"
    if mount -o remount,ro "$WORK/ro/a" 2>>"$WORK/mount.err"; then
      ro_how="a read-only tmpfs (running as root)"
    fi
  fi
  if [ -z "$ro_how" ]; then
    [ -n "$ro_mount" ] && umount -l "$ro_mount"
    ro_mount=""
    rmdir "$WORK/ro/a" && mv "$WORK/a.saved" "$WORK/ro/a"
    echo "skipped: the read-only remote folder (root ignores chmod 555, and mount failed:" \
      "$(head -1 "$WORK/mount.err"))"
  fi
fi
if [ -n "$ro_how" ]; then
  echo "  (the remote folder $WORK/ro/a made unwritable by $ro_how)"
  identity "$WORK/ro" >"$WORK/ro.before"
  tree_sums "$WORK/ro" >"$WORK/ro.sums"
  echo "one, changed" >"$small/a/x.txt"
  echo "new" >"$small/a/new.txt"
  quiet=1 fssh ro_put 2 put "$small" "$URL$WORK/ro" --yes
  echo "  (put into it exited $status: $(grep -h -m1 -E 'ro/a|a/(x|new)\.txt' "$WORK/ro_put.err" | cut -c1-300))"
  check "put into an unwritable folder fails ($status)" test "$status" -ne 0
  check "the message names the path" grep -qE "ro/a|a/(x|new)\.txt" "$WORK/ro_put.err" "$WORK/ro_put.json"
  check "the files already there are unchanged (bytes)" diff "$WORK/ro.sums" <(tree_sums "$WORK/ro")
  check "the files in the folder are unchanged (inode, size, mode, mtime)" \
    diff <(grep '^a/' "$WORK/ro.before") <(identity "$WORK/ro" | grep '^a/')
  check "no new file and no part file in the folder" \
    test ! -e "$WORK/ro/a/new.txt" -a -z "$(parts_under "$WORK/ro/a")"
  # Writable again: the rerun completes.
  if [ -n "$ro_mount" ]; then
    mount -o remount,rw "$ro_mount"
  else
    chmod 755 "$WORK/ro/a"
  fi
  fssh ro_again 1 put "$small" "ferrytest:$WORK/ro" --yes
  check "writable again: the rerun exits 0" test "$status" -eq 0
  check "writable again: the server has the new bytes" same_tree "$small" "$WORK/ro"
fi

finish
