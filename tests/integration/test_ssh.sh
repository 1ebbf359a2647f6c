#!/usr/bin/env bash
# ssh:// and scp-form ([USER@]HOST:PATH) locations against a private OpenSSH
# server (tests/ssh/sshctl.sh) on 127.0.0.1: put, get and sync under 1, 2 and
# 4 ranks, through the ~/.ssh/config alias and the URL form.  The server is
# local, so the remote tree is a folder under $WORK: its bytes are compared by
# sha256 and its modes and mtimes by stat.  A big file goes in parts
# (--chunk-size 1m) and no NAME.ferry-part is left; a rerun moves nothing and
# rewrites no remote file; sync deletes what the source lacks; verify --against
# and plan read the server; an unknown and a changed host key are refused
# (exit 3) with the SHA256 fingerprint and nothing written; the scp form never
# makes a local folder named `HOST:`.  About 30 s on 2 cores (most of it
# mpirun and connection set-up; runs expected to fail go without mpirun).
source "$(dirname "$0")/lib.sh"

source "$(dirname "$0")/sshlib.sh"

# fssh NAME NP ARGS...: ferry under NP ranks (NP 0: the bare binary, no
# mpirun) with the fake home (its .ssh has the config, known_hosts and key);
# JSON to NAME.json, stderr to NAME.err; the exit status in $status (ferry's
# error lines are shown when it is not 0, unless quiet=1).  Runs expected to
# fail go without mpirun: its abort after a non-zero exit costs about 2 s.
fssh() {
  local name=$1 np=$2
  shift 2
  local run=(ferry_np "$np")
  [ "$np" = 0 ] && run=("$FERRY_BIN")
  status=0
  HOME=$SSH_HOME "${run[@]}" "$@" --json --progress never >"$WORK/$name.json" 2>"$WORK/$name.err" ||
    status=$?
  if [ "$status" -ne 0 ] && [ -z "${quiet:-}" ]; then
    echo "  ($name: ferry $* exited $status; stderr:)" >&2
    { grep -m6 -E '^ferry|ERROR|WARN' "$WORK/$name.err" || tail -3 "$WORK/$name.err"; } |
      cut -c1-400 | sed 's/^/    /' >&2
  fi
}

# tree_meta DIR: "PATH MODE MTIME" of every file (hidden folders and part
# files left out, as tree_sums).
tree_meta() {
  (cd "$1" 2>/dev/null && find . -type f -not -path '*/.*/*' -not -name '*.ferry-part' -print0 |
     sort -z | xargs -0 -r stat -c '%n %a %Y') || true
}
same_meta() { diff <(tree_meta "$1") <(tree_meta "$2") >/dev/null; }
# same_copy A B: the same bytes, modes and mtimes (prints the first differences).
same_copy() {
  diff <(tree_sums "$1") <(tree_sums "$2") | head -5 >&2
  diff <(tree_meta "$1") <(tree_meta "$2") | head -5 >&2
  same_tree "$1" "$2" && same_meta "$1" "$2"
}
# The inode, size and mtime of every file: a rename or rewrite changes one.
identity() {
  (cd "$1" 2>/dev/null && find . -type f -not -path '*/.*/*' -printf '%P %i %s %T@\n' | sort) || true
}
no_parts() { test -d "$1" && test -z "$(find "$1" -name '*.ferry-part')"; }
# nothing_moved NAME: the run's plan transfers 0 files and its summary (if
# any) counts 0 done.
nothing_moved() {
  local planned done_
  planned=$(plan_field "$WORK/$1.json" transfer files 2>/dev/null || echo missing)
  done_=$(json_field "$WORK/$1.json" files_done)
  echo "  ($1: plan transfers $planned, files_done $done_)"
  [ "$planned" = 0 ] && { [ "$done_" = none ] || [ "$done_" = 0 ]; }
}

# --- the source: a small sweep, a 6 MiB file in parts, modes and mtimes ----
python3 "$FERRY_SOURCE_DIR/tests/ssh/gen_sweep.py" "$WORK/gen" --runs 4 --ckpt-size 16K \
  --big 1 --big-size 6M >/dev/null
src="$WORK/gen/sweep_lr_search"     # scenes: run_000 .. run_003, root file sweep.yaml
big=$(cd "$src" && find . -name model.safetensors | head -1)
: >"$src/run_000/empty.bin"
echo "a name with spaces" >"$src/run_001/notes about run.txt"
chmod 600 "$src/run_000/config.json"
chmod 755 "$src/run_001/logs/train.log"
chmod 640 "$src/run_002/metrics.jsonl"
chmod 444 "$src/run_003/config.json"
chmod 700 "$src/$big"
touch -d @1500000000.25 "$src/run_000/metrics.jsonl"   # a fraction the SFTP v3 time lacks
touch -d @1234567890 "$src/run_002/logs/train.log"
nfiles=$(find "$src" -type f | wc -l)
echo "source: $nfiles files, $(du -sh --apparent-size "$src" | cut -f1), big file $big"

mkdir -p "$WORK/cwd"
cd "$WORK/cwd"      # relative scp-form mistakes would land here

# 1. put -np 1 through the alias (scp form), big file in 1 MiB parts.
fssh put1 1 put "$src" "ferrytest:$WORK/r1" --yes --chunk-size 1m
check "put -np 1 ferrytest:PATH exits 0" test "$status" -eq 0
check "put -np 1: bytes, modes and mtimes kept" same_copy "$src" "$WORK/r1"
check "put -np 1: no part file left on the server" no_parts "$WORK/r1"
check "put -np 1: the report counts $nfiles files ($(json_field "$WORK/put1.json" files_done))" \
  test "$(json_field "$WORK/put1.json" files_done)" = "$nfiles"

# 2. The same put again: nothing planned or sent, no remote file rewritten.
identity "$WORK/r1" >"$WORK/r1.before"
fssh put1again 1 put "$src" "ferrytest:$WORK/r1" --yes --chunk-size 1m
check "put again exits 0" test "$status" -eq 0
check "put again moves nothing" nothing_moved put1again
check "put again rewrote no remote file" diff "$WORK/r1.before" <(identity "$WORK/r1")

# 3. put -np 2 through the URL form: the parts of the big file over both ranks.
fssh put2 2 put "$src" "$URL$WORK/r2" --yes --chunk-size 1m
check "put -np 2 ssh://USER@HOST:PORT/PATH exits 0" test "$status" -eq 0
check "put -np 2: bytes, modes and mtimes kept" same_copy "$src" "$WORK/r2"
check "put -np 2: no part file left on the server" no_parts "$WORK/r2"
fssh put2again 2 put "$src" "$URL$WORK/r2" --yes --chunk-size 1m
check "put -np 2 again moves nothing" nothing_moved put2again

# 4. put -np 4 (oversubscribed on 2 cores).
fssh put4 4 put "$src" "$URL$WORK/r4" --yes --chunk-size 1m --connections 4
check "put -np 4 exits 0" test "$status" -eq 0
check "put -np 4: bytes, modes and mtimes kept" same_copy "$src" "$WORK/r4"

# 5. get -np 2 through the URL form, then again: nothing moves.
fssh get2 2 get "$URL$WORK/r1" "$WORK/down2" --yes --chunk-size 1m
check "get -np 2 exits 0" test "$status" -eq 0
check "get -np 2: bytes, modes and mtimes kept" same_copy "$src" "$WORK/down2"
check "get -np 2: no part file left" no_parts "$WORK/down2"
fssh get2again 2 get "$URL$WORK/r1" "$WORK/down2" --yes --chunk-size 1m
check "get -np 2 again moves nothing" nothing_moved get2again

# 6. get -np 1 through the alias, from a relative cwd.
fssh get1 1 get "ferrytest:$WORK/r2" "$WORK/down1" --yes --chunk-size 1m
check "get -np 1 ferrytest:PATH exits 0" test "$status" -eq 0
check "get -np 1: bytes, modes and mtimes kept" same_copy "$src" "$WORK/down1"

# 7. sync up deletes what the source lacks (in its scenes), sends only changes.
cp -a "$src" "$WORK/src2"
rm "$WORK/src2/run_001/checkpoints/ckpt_v1.pt" "$WORK/src2/run_002/wandb"/run-*/artifacts/model:v1
echo "changed, longer than before" >>"$WORK/src2/run_000/logs/train.log"
echo "new" >"$WORK/src2/run_003/added.txt"
fssh sync2 2 sync "$WORK/src2" "$URL$WORK/r2" --yes --chunk-size 1m
check "sync -np 2 exits 0" test "$status" -eq 0
check "sync: the server follows the source (bytes, modes, mtimes)" same_copy "$WORK/src2" "$WORK/r2"
check "sync: the deleted checkpoint is gone" test ! -e "$WORK/r2/run_001/checkpoints/ckpt_v1.pt"
check "sync: the report counts 2 deletions ($(json_field "$WORK/sync2.json" files_deleted))" \
  test "$(json_field "$WORK/sync2.json" files_deleted)" = 2
check "sync: 2 files sent ($(json_field "$WORK/sync2.json" files_done))" \
  test "$(json_field "$WORK/sync2.json" files_done)" = 2
fssh sync2again 1 sync "$WORK/src2" "ferrytest:$WORK/r2" --yes
check "sync again moves nothing" nothing_moved sync2again
deleted=$(json_field "$WORK/sync2again.json" files_deleted)
check "sync again deletes nothing ($deleted)" test "$deleted" = none -o "$deleted" = 0

# 8. verify --against the server: equal, then a file changed locally.
fssh verify 1 verify "$WORK/down2" --against "$URL$WORK/r1"
check "verify --against ssh:// exits 0" test "$status" -eq 0
echo "tampered" >>"$WORK/down2/run_002/config.json"
quiet=1 fssh verifybad 0 verify "$WORK/down2" --against "ferrytest:$WORK/r1"
check "verify finds the changed file ($status)" test "$status" -ne 0
check "verify names it" grep -q "run_002/config.json" "$WORK/verifybad.json" "$WORK/verifybad.err"

# 9. plan and --dry-run read the server, write nothing.
fssh plan 1 plan "$src" "$URL$WORK/fresh"
check "plan exits 0" test "$status" -eq 0
check "plan counts $nfiles files to send" test "$(plan_field "$WORK/plan.json" transfer files)" = "$nfiles"
fssh dry 2 put "$src" "ferrytest:$WORK/fresh" --yes --dry-run
check "put --dry-run exits 0" test "$status" -eq 0
check "plan and --dry-run wrote nothing on the server" test ! -e "$WORK/fresh"

# 10. An unknown host key (a home whose known_hosts is empty): refused, exit
# 3, the fingerprint named with how to accept it, nothing written.
fp=$(ssh-keygen -lf "$SSH_DIR/host_ed25519.pub" | awk '{print $2}')
uh="$WORK/home_unknown"
cp -a "$SSH_HOME" "$uh"
sed -i "s|$SSH_HOME|$uh|g" "$uh/.ssh/config"
: >"$uh/.ssh/known_hosts"
status=0
HOME=$uh "$FERRY_BIN" put "$src" "ferrytest:$WORK/unknown" --yes --progress never \
  >"$WORK/unknown.out" 2>&1 || status=$?
check "unknown host key (alias): exit 3 ($status)" test "$status" -eq 3
check "unknown host key: the message names $fp" grep -qF "$fp" "$WORK/unknown.out"
check "unknown host key: the message says how to accept it" \
  grep -qiE 'known_hosts|ssh-keyscan|accept|trust' "$WORK/unknown.out"
check "unknown host key: nothing written on the server" test ! -e "$WORK/unknown"
status=0
HOME=$uh ferry_np 2 get "$URL$WORK/r1" "$WORK/unknown_down" --yes --progress never \
  >"$WORK/unknown2.out" 2>&1 || status=$?
check "unknown host key (URL, get -np 2): exit 3 ($status)" test "$status" -eq 3
check "unknown host key (get): the message has SHA256:" grep -qF "$fp" "$WORK/unknown2.out"
check "unknown host key (get): nothing written locally" \
  test -z "$(find "$WORK/unknown_down" -type f -not -path '*/.ferry/*' 2>/dev/null)"
check "the unknown key was not added to known_hosts" test ! -s "$uh/.ssh/known_hosts"

# 11. The scp form never made a local folder named HOST: (nor any NAME:...).
check "no local folder 'ferrytest:' in the cwd" test ! -e "$WORK/cwd/ferrytest:"
check "nothing at all in the cwd" test -z "$(ls -A "$WORK/cwd")"

# 12. A changed host key (rekey; known_hosts keep the old one): refused, exit
# 3, "changed", the new fingerprint, nothing written; trusted again, it works.
bash "$FERRY_SOURCE_DIR/tests/ssh/sshctl.sh" rekey "$SRV" >"$WORK/rekey.out" 2>&1
newfp=$(ssh-keygen -lf "$SSH_DIR/host_ed25519.pub" | awk '{print $2}')
status=0
HOME=$SSH_HOME "$FERRY_BIN" put "$src" "ferrytest:$WORK/changed" --yes --progress never \
  >"$WORK/changed.out" 2>&1 || status=$?
check "changed host key: exit 3 ($status)" test "$status" -eq 3
check "changed host key: the message says changed" grep -qiw "changed" "$WORK/changed.out"
check "changed host key: the message names the new $newfp" grep -qF "$newfp" "$WORK/changed.out"
check "changed host key: nothing written on the server" test ! -e "$WORK/changed"
identity "$WORK/r2" >"$WORK/r2.before"
status=0
HOME=$SSH_HOME "$FERRY_BIN" sync "$src" "$URL$WORK/r2" --yes --progress never \
  >"$WORK/changed2.out" 2>&1 || status=$?
check "changed host key (URL, sync): exit 3 ($status)" test "$status" -eq 3
check "changed host key: sync changed nothing" diff "$WORK/r2.before" <(identity "$WORK/r2")
bash "$FERRY_SOURCE_DIR/tests/ssh/sshctl.sh" trust "$SRV" >"$WORK/trust.out" 2>&1
fssh trusted 1 put "$src" "ferrytest:$WORK/trusted" --yes
check "the new key trusted: put works again" test "$status" -eq 0
check "the new key trusted: bytes kept" same_tree "$src" "$WORK/trusted"

cd "$WORK"
# ProxyJump (libssh 0.10 runs OpenSSH's ssh for it, which takes ~ from the
# passwd entry: with_home gives it the fake home too).
if [ -e /usr/lib/x86_64-linux-gnu/libnss_wrapper.so ] || ldconfig -p | grep -q libnss_wrapper; then
  status=0
  "$SSH_WITH_HOME" "$FERRY_BIN" get "ferryjump:$WORK/r1" "$WORK/jump" --yes --progress never -q \
    >"$WORK/jump.out" 2>&1 || status=$?
  check "get through a ProxyJump host: exit 0 ($status)" test "$status" -eq 0
  check "  the same bytes" same_tree "$src" "$WORK/jump"
else
  echo "skipped: ProxyJump (no libnss-wrapper)"
fi

finish
