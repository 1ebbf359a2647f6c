#!/usr/bin/env bash
# Self-test of the ssh test server (sshctl.sh) with OpenSSH's own clients:
# login, sftp both ways, rsync of a sweep tree, many connections at once, host
# keys really checked (empty known_hosts, rekey), a dropped connection during a
# transfer, stop.  Exits non-zero on the first failure.
#
#   bash tests/ssh/check_sshd.sh        (about 10 s; KEEP=1 keeps the temp dir)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PYTHON=${PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3 )}
t0=$(date +%s.%N)

d=$(mktemp -d "${TMPDIR:-/tmp}/ferry-ssh-check.XXXXXX")
s=$d/server
cleanup() {
  bash "$here/sshctl.sh" stop "$s" >/dev/null 2>&1 || true
  if [ -n "${rsync_pid:-}" ]; then kill "$rsync_pid" 2>/dev/null || true; fi
  if [ -n "${KEEP:-}" ]; then echo "kept $d"; else rm -rf "$d"; fi
}
trap cleanup EXIT

step() { printf '%-62s' "$*"; ts=$(date +%s.%N); }
ok() { printf 'ok %5.2f s%s\n' "$(echo "$(date +%s.%N) - $ts" | bc)" "${1:+ ($1)}"; }
fail() {
  echo "FAIL: $*"
  [ -f "$s/sshd.log" ] && { echo "--- tail of $s/sshd.log"; tail -20 "$s/sshd.log"; }
  exit 1
}
tree_sums() { (cd "$1" && find . -type f | LC_ALL=C sort | xargs -d '\n' sha256sum); }

for tool in /usr/sbin/sshd ssh sftp rsync ssh-keygen; do
  command -v "$tool" >/dev/null || fail "$tool missing: apt-get install openssh-server openssh-client rsync (bash tests/deps.sh)"
done

step "start"
bash "$here/sshctl.sh" start "$s" >"$d/start.out" 2>&1 || { cat "$d/start.out"; fail "sshctl.sh start"; }
# shellcheck disable=SC1091
. "$s/env"
for v in SSH_PORT SSH_HOST SSH_USER SSH_KEY SSH_KNOWN_HOSTS SSH_CONFIG SSH_DIR SSH_HOME; do
  [ -n "${!v:-}" ] || fail "$v not set by $s/env"
done
for f in "$SSH_KEY" "$SSH_KNOWN_HOSTS" "$SSH_CONFIG" "$SSH_HOME/.ssh/config" "$SSH_HOME/.ssh/known_hosts" \
         "$SSH_HOME/.ssh/id_ed25519" "$SSH_HOME/.ssh/id_ed25519.pub"; do
  [ -s "$f" ] || fail "$f missing"
done
[ "$(stat -c %a "$SSH_HOME/.ssh")" = 700 ] || fail "$SSH_HOME/.ssh is not mode 700"
[ "$(stat -c %a "$SSH_HOME/.ssh/id_ed25519")" = 600 ] || fail "$SSH_HOME/.ssh/id_ed25519 is not mode 600"
ok "port $SSH_PORT"

unset SSH_AUTH_SOCK
S=(ssh -F "$SSH_CONFIG")

step "ssh ferrytest 'echo ok'"
out=$("${S[@]}" ferrytest 'echo ok' </dev/null 2>"$d/ssh.err") || { cat "$d/ssh.err"; fail "ssh"; }
[ "$out" = ok ] || fail "ssh printed '$out'"
ok

step "the fake HOME's config and the hashed known_hosts work"
ssh -F "$SSH_HOME/.ssh/config" -s ferrytest sftp </dev/null 2>"$d/ssh.err" || { cat "$d/ssh.err"; fail "ssh -F \$SSH_HOME/.ssh/config"; }
"${S[@]}" -o UserKnownHostsFile="$SSH_DIR/known_hosts.hashed" -s ferrytest sftp </dev/null 2>"$d/ssh.err" \
  || { cat "$d/ssh.err"; fail "hashed known_hosts"; }
ok

step "ssh://-style address without the alias"
ssh -p "$SSH_PORT" -i "$SSH_KEY" -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile="$SSH_KNOWN_HOSTS" \
  -o StrictHostKeyChecking=yes -F /dev/null -s "$SSH_USER@$SSH_HOST" sftp </dev/null 2>"$d/ssh.err" \
  || { cat "$d/ssh.err"; fail "ssh -p PORT USER@127.0.0.1"; }
ok

step "sftp -b put and get"
mkdir -p "$d/local" "$d/remote"
head -c 3000000 /dev/urandom >"$d/local/blob.bin"
printf 'put %s %s\nget %s %s\n' "$d/local/blob.bin" "$d/remote/blob.bin" "$d/remote/blob.bin" "$d/local/back.bin" >"$d/batch"
sftp -q -F "$SSH_CONFIG" -b "$d/batch" ferrytest >"$d/sftp.out" 2>&1 || { cat "$d/sftp.out"; fail "sftp -b"; }
cmp -s "$d/local/blob.bin" "$d/remote/blob.bin" || fail "put changed the bytes"
cmp -s "$d/local/blob.bin" "$d/local/back.bin" || fail "get changed the bytes"
ok

step "rsync -a a sweep tree, sha256 of every file"
"$PYTHON" "$here/gen_sweep.py" "$d/src" --runs 6 --big 2 --big-size 4M >"$d/gen.out"
rsync -a -e "ssh -F $SSH_CONFIG" "$d/src/" "ferrytest:$d/remote/tree/" 2>"$d/rsync.err" || { cat "$d/rsync.err"; fail "rsync"; }
tree_sums "$d/src" >"$d/src.sums"
tree_sums "$d/remote/tree" >"$d/dst.sums"
[ -s "$d/src.sums" ] || fail "no files generated"
diff -q "$d/src.sums" "$d/dst.sums" >/dev/null || fail "trees differ"
ok "$(wc -l <"$d/src.sums") files"

step "DIR/with_home: ssh finds ~/.ssh/config (needs nss_wrapper)"
if grep -q libnss_wrapper.so "$SSH_WITH_HOME" && for l in /usr/lib/*-linux-gnu/libnss_wrapper.so /usr/lib64/libnss_wrapper.so; do
     [ -e "$l" ] && break; done; then
  out=$("$SSH_WITH_HOME" sh -c 'ssh ferrytest "echo ok" && ssh ferryjump "echo jump"' </dev/null 2>"$d/ssh.err") \
    || { cat "$d/ssh.err"; fail "with_home ssh"; }
  [ "$out" = "ok
jump" ] || fail "with_home printed '$out'"
  ok
else
  echo "skipped (apt-get install libnss-wrapper)"
fi

step "16 connections at once"
pids=()
for i in $(seq 1 16); do
  "${S[@]}" -s ferrytest sftp </dev/null 2>"$d/par.$i.err" &
  pids+=($!)
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
[ "$bad" -eq 0 ] || { cat "$d"/par.*.err | sort | uniq -c; fail "$bad of 16 connections failed"; }
ok

step "empty known_hosts + StrictHostKeyChecking yes is refused"
: >"$d/empty_known_hosts"
if "${S[@]}" -o UserKnownHostsFile="$d/empty_known_hosts" -o GlobalKnownHostsFile=/dev/null \
     -o StrictHostKeyChecking=yes ferrytest true </dev/null >/dev/null 2>"$d/empty.err"; then
  fail "connected without a known host key"
fi
grep -q "Host key verification failed" "$d/empty.err" || { cat "$d/empty.err"; fail "failed for another reason"; }
ok

step "drop kills a running transfer; reconnecting works"
"$PYTHON" "$here/gen_sweep.py" "$d/bigsrc" --name big --runs 1 --ckpt-size 1K --big 1 --big-size 64M >/dev/null
big="$d/bigsrc/sweep_big/run_000/model.safetensors"
mkdir -p "$d/remote/big"
# 4 MB/s: the 64 MiB file would take 16 s, so the drop comes mid-transfer.
rsync -a --bwlimit=4000 -e "ssh -F $SSH_CONFIG" "$big" "ferrytest:$d/remote/big/" >"$d/drop.out" 2>&1 &
rsync_pid=$!
for _ in $(seq 1 100); do   # wait until the receiver has written something
  [ -n "$(find "$d/remote/big" -type f -size +100k 2>/dev/null)" ] && break
  sleep 0.05
done
[ -n "$(find "$d/remote/big" -type f -size +100k 2>/dev/null)" ] || fail "the rsync never started writing"
bash "$here/sshctl.sh" drop "$s" >"$d/drop.ctl" 2>&1 || { cat "$d/drop.ctl"; fail "sshctl.sh drop"; }
tdrop=$(date +%s.%N)
rc=0
wait "$rsync_pid" || rc=$?
rsync_pid=
tdead=$(date +%s.%N)
[ "$rc" -ne 0 ] || fail "rsync survived the drop"
[ ! -e "$d/remote/big/model.safetensors" ] || fail "the file was completed anyway"
"${S[@]}" -s ferrytest sftp </dev/null 2>"$d/ssh.err" || { cat "$d/ssh.err"; fail "reconnect after drop"; }
ok "rsync exit $rc after $(printf '%.2f' "$(echo "$tdead - $tdrop" | bc)") s"

step "rekey: the old known_hosts is refused"
old_port=$SSH_PORT
bash "$here/sshctl.sh" rekey "$s" >"$d/rekey.out" 2>&1 || { cat "$d/rekey.out"; fail "sshctl.sh rekey"; }
. "$s/env"
[ "$SSH_PORT" = "$old_port" ] || fail "port changed"
if "${S[@]}" -s ferrytest sftp </dev/null 2>"$d/rekey.err"; then fail "connected with a stale host key"; fi
grep -q "REMOTE HOST IDENTIFICATION HAS CHANGED" "$d/rekey.err" || { cat "$d/rekey.err"; fail "failed for another reason"; }
"${S[@]}" -o UserKnownHostsFile="$SSH_DIR/known_hosts.new" -s ferrytest sftp </dev/null 2>"$d/ssh.err" \
  || { cat "$d/ssh.err"; fail "known_hosts.new does not hold the new key"; }
bash "$here/sshctl.sh" trust "$s" >"$d/trust.out" 2>&1 || { cat "$d/trust.out"; fail "sshctl.sh trust"; }
"${S[@]}" -s ferrytest sftp </dev/null 2>"$d/ssh.err" || { cat "$d/ssh.err"; fail "after trust"; }
ok

step "stop"
pid=$(cat "$s/sshd.pid")
bash "$here/sshctl.sh" stop "$s" >"$d/stop.out" 2>&1 || { cat "$d/stop.out"; fail "sshctl.sh stop"; }
[ ! -e "$s/sshd.pid" ] || fail "sshd.pid left behind"
if "${S[@]}" -o ConnectTimeout=3 -s ferrytest sftp </dev/null 2>/dev/null; then fail "still accepting after stop"; fi
st=$(sed -E 's/^.*\) ([A-Za-z]).*/\1/' "/proc/$pid/stat" 2>/dev/null || echo gone)
[ "$st" = gone ] || [ "$st" = Z ] || fail "sshd $pid still running"
ok

echo "check_sshd: all passed in $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)") s"
