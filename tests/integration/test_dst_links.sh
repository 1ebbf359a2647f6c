#!/usr/bin/env bash
# Links planted in a destination never lead a write outside it: part files,
# scene and sub-folders, the state folder, the journal, the report's and the
# lock's temporary files, --schedule's script folder, and what sync deletes.
source "$(dirname "$0")/lib.sh"

src=$WORK/src out=$WORK/outside
mkdir -p "$src/scene/sub" "$src/other" "$out"
head -c 300000 /dev/urandom > "$src/scene/a.bin"
head -c 1000 /dev/urandom > "$src/scene/sub/b.bin"
head -c 2000 /dev/urandom > "$src/other/c.bin"
# What lies outside the destinations, made afresh before each case.
make_outside() {
  rm -rf "$out"
  mkdir -p "$out/dir"
  echo "precious" > "$out/victim"
  echo "precious too" > "$out/victim2"
  echo old > "$out/dir/old.bin"
}
outside_sums() { (cd "$out" && find . | sort && find . -type f | sort | xargs sha256sum); }
make_outside
before=$(outside_sums)
untouched() { test "$(outside_sums)" = "$before"; }

# A part file that is a link to a file elsewhere.
dst=$WORK/d1
make_outside
mkdir -p "$dst/scene"
ln -s "$out/victim" "$dst/scene/a.bin.ferry-part"
may_fail ferry_np 2 get --yes --progress never "$src" "$dst" > "$WORK/d1.out" 2>&1
check "a linked part file fails its file (exit $status)" test "$status" -eq 1
check "naming the link" grep -q "$dst/scene/a.bin.ferry-part.*link" "$WORK/d1.out"
check "the file it points to is untouched" untouched
check "the other files arrive" cmp -s "$src/other/c.bin" "$dst/other/c.bin"

# A part file that is another name (a hard link) of a file elsewhere.
dst=$WORK/d1h
make_outside
mkdir -p "$dst/scene"
ln "$out/victim" "$dst/scene/a.bin.ferry-part"
may_fail ferry_np 1 get --yes --progress never "$src" "$dst" > "$WORK/d1h.out" 2>&1
check "a hard-linked part file fails its file (exit $status)" test "$status" -eq 1
check "naming it" grep -q "$dst/scene/a.bin.ferry-part has other hard links" "$WORK/d1h.out"
check "the file it names is untouched" untouched

# A scene, and a folder inside one, that are links to folders elsewhere.
for link in scene scene/sub; do
  dst=$WORK/d2-${link////-}
  make_outside
  mkdir -p "$(dirname "$dst/$link")"
  ln -s "$out/dir" "$dst/$link"
  may_fail ferry_np 2 get --yes --progress never "$src" "$dst" > "$WORK/d2.out" 2>&1
  check "a linked folder $link fails the files under it (exit $status)" test "$status" -eq 1
  check "naming the link" grep -q "$dst/$link is a symbolic link" "$WORK/d2.out"
  check "nothing was written through $link" untouched
  check "the other files arrive" cmp -s "$src/other/c.bin" "$dst/other/c.bin"
done

# sync never deletes through a linked folder.
dst=$WORK/d3
make_outside
mkdir -p "$dst"
ln -s "$out/dir" "$dst/scene"
may_fail ferry_np 1 sync --yes --progress never "$src" "$dst" > "$WORK/d3.out" 2>&1
check "sync through a linked scene fails (exit $status)" test "$status" -eq 1
check "and deletes nothing it points to" untouched

# The state folder, the journal, and the report's and lock's temporary
# files.  bash's exec keeps its pid, which names the temporary files.
dst=$WORK/d4
make_outside
mkdir -p "$dst"
ln -s "$out/dir" "$dst/.ferry"
may_fail "$FERRY_BIN" get --yes "$src" "$dst" > "$WORK/d4.out" 2>&1
check "a linked state folder stops the run (exit $status)" test "$status" -eq 5
check "naming it" grep -q "$dst/.ferry is a symbolic link" "$WORK/d4.out"
check "and nothing was written there" untouched
rm "$dst/.ferry"
make_outside
mkdir -p "$dst/.ferry"
ln -s "$out/victim" "$dst/.ferry/journal"
may_fail "$FERRY_BIN" get --yes "$src" "$dst" > "$WORK/d5.out" 2>&1
check "a linked journal stops the run (exit $status)" test "$status" -eq 5
check "naming it" grep -q "ferry: destination not writable: $dst/.ferry/journal" "$WORK/d5.out"
check "and the file it points to is untouched" untouched
rm "$dst/.ferry/journal"
make_outside
may_fail bash -c 'ln -s "$1/victim" "$2/.ferry/report.json.tmp.$$"
                  ln -s "$1/victim2" "$2/.ferry/lock.$(hostname).$$"
                  exec "$3" get --yes "$4" "$2"' _ "$out" "$dst" "$FERRY_BIN" "$src" \
  > "$WORK/d6.out" 2>&1
check "linked temporary files do not stop the run (exit $status)" test "$status" -eq 0
check "which completes" same_tree "$src" "$dst"
check "and writes its report" grep -q '"status":0' "$dst/.ferry/report.json"
check "and nothing was written through them" untouched

# --schedule's folder of job scripts: a link where it will be made (named
# after the second it is made in) is refused before anything is submitted.
dst=$WORK/d7
make_outside
mkdir -p "$dst/.ferry"
now=$(date +%s)
for t in $(seq $((now - 1)) $((now + 10))); do
  ln -s "$out/dir" "$dst/.ferry/slurm-$(date -u -d "@$t" +%Y%m%d-%H%M%S)"
done
may_fail "$FERRY_BIN" get --yes --schedule "$src" "$dst" > "$WORK/d7.out" 2>&1
check "a linked job-script folder stops --schedule (exit $status)" test "$status" -eq 5
check "naming it" grep -q "$dst/.ferry/slurm-.* is a symbolic link" "$WORK/d7.out"
check "and nothing was written through it" untouched

finish
