#!/usr/bin/env bash
# ferry get from a real nginx: one URL, and aria2 manifests with mirrors,
# dir=/out= and sha-256 checksums, file:// entries, and hostile paths.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netlib.sh"

www=$WORK/www
mkdir -p "$www/sub" "$WORK/local"
for i in 1 2 3; do head -c $((3 * 1024 * 1024 + i)) /dev/urandom > "$www/big$i.bin"; done
for i in $(seq 1 17); do head -c $((i * 997)) /dev/urandom > "$www/sub/f$i.dat"; done
head -c 5000 /dev/urandom > "$WORK/local/here.dat"
: > "$www/empty.bin"
start_nginx "$www"
sha() { sha256sum "$1" | cut -d' ' -f1; }

may_fail ferry_np 1 get --yes -q --progress never "$WEB/sub/f3.dat" "$WORK/one"
check "one URL: exit 0 ($status)" test "$status" -eq 0
check "one URL lands under its name" cmp "$WORK/one/f3.dat" "$www/sub/f3.dat"

# 21 entries: big files (chunked at 1 MiB) behind a dead mirror, checksums,
# dir= and out=, an empty file, a file:// entry.
{
  for i in 1 2 3; do
    printf 'http://127.0.0.1:9/big%s.bin\t%s/big%s.bin\n  dir=big\n  checksum=sha-256=%s\n' \
      "$i" "$WEB" "$i" "$(sha "$www/big$i.bin")"
  done
  for i in $(seq 1 17); do
    printf '%s/sub/f%s.dat\n  dir=small\n  out=n%02d.dat\n' "$WEB" "$i" "$i"
  done
  printf '%s/empty.bin\n' "$WEB"
  printf 'file://%s/local/here.dat\n  dir=local\n' "$WORK"
} > "$WORK/list.txt"
for np in 1 2; do
  may_fail ferry_np "$np" get --yes -q --progress never --chunk-size 1m "@$WORK/list.txt" "$WORK/m$np"
  check "-np $np manifest: exit 0 ($status)" test "$status" -eq 0
  ok_files=0
  for i in 1 2 3; do cmp -s "$WORK/m$np/big/big$i.bin" "$www/big$i.bin" && ok_files=$((ok_files + 1)); done
  for i in $(seq 1 17); do
    cmp -s "$WORK/m$np/small/n$(printf %02d "$i").dat" "$www/sub/f$i.dat" && ok_files=$((ok_files + 1))
  done
  cmp -s "$WORK/m$np/local/here.dat" "$WORK/local/here.dat" && ok_files=$((ok_files + 1))
  test -f "$WORK/m$np/empty.bin" -a ! -s "$WORK/m$np/empty.bin" && ok_files=$((ok_files + 1))
  check "-np $np: all 22 files in place and identical ($ok_files)" test "$ok_files" -eq 22
done
requests=$(wc -l < "$NGINX_PREFIX/logs/access.log")
may_fail ferry_np 2 get --yes -q --progress never --chunk-size 1m "@$WORK/list.txt" "$WORK/m2"
check "a rerun exits 0 ($status)" test "$status" -eq 0
check "a rerun downloads nothing (only HEADs)" test \
  "$(tail -n +"$((requests + 1))" "$NGINX_PREFIX/logs/access.log" | grep -vc '"HEAD ')" -eq 0

# A byte flipped with size and mtime kept: --recheck hashes it against the
# manifest's checksum and downloads that file again, and nothing else.
stamp=$(stat -c %Y "$WORK/m2/big/big2.bin")
printf 'X' | dd of="$WORK/m2/big/big2.bin" bs=1 seek=100 conv=notrunc status=none
touch -d "@$stamp" "$WORK/m2/big/big2.bin"
requests=$(wc -l < "$NGINX_PREFIX/logs/access.log")
may_fail ferry_np 2 get --yes -q --progress never --recheck --chunk-size 1m "@$WORK/list.txt" "$WORK/m2"
check "--recheck: exit 0 ($status), the damaged file fetched again" \
  cmp "$WORK/m2/big/big2.bin" "$www/big2.bin"
gets=$(tail -n +"$((requests + 1))" "$NGINX_PREFIX/logs/access.log" | grep -v '"HEAD ' || true)
check "--recheck: only big2.bin downloaded" \
  test -n "$gets" -a "$(echo "$gets" | grep -vc '/big2.bin ')" -eq 0

# A wrong checksum fails that file only, and it never appears under its name.
printf '%s/sub/f1.dat\n  checksum=sha-256=%064d\n%s/sub/f2.dat\n' "$WEB" 0 "$WEB" > "$WORK/bad.txt"
may_fail ferry_np 1 get --yes --json --progress never "@$WORK/bad.txt" "$WORK/bad" > "$WORK/bad.json" 2>&1
check "a wrong checksum: exit 1 ($status)" test "$status" -eq 1
check "the report names the file and both hashes" grep -q 'f1.dat: sha256 mismatch: expected 0000' "$WORK/bad.json"
check "it is not in place" test ! -e "$WORK/bad/f1.dat"
check "the other file is" cmp "$WORK/bad/f2.dat" "$www/sub/f2.dat"

# Hostile paths are refused before anything is fetched or written.
printf '%s/sub/f1.dat\n  out=../evil.dat\n' "$WEB" > "$WORK/evil.txt"
may_fail ferry_np 1 get --yes "@$WORK/evil.txt" "$WORK/evil/dst" 2> "$WORK/evil.err"
check "out=../evil.dat: exit 2 ($status)" test "$status" -eq 2
check "the error names the line and the path" grep -q "evil.txt:1: refusing '../evil.dat'" "$WORK/evil.err"
check "nothing was written" test ! -e "$WORK/evil"

may_fail ferry_np 1 get --yes "$WEB/missing.bin" "$WORK/missing" 2> "$WORK/missing.err"
check "a URL that is not there: exit 4 ($status)" test "$status" -eq 4

finish
