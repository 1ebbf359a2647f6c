#!/usr/bin/env bash
# ferry get --extract from a manifest of archive URLs on a real nginx: each
# archive is extracted once it is downloaded and checked, while a slow file
# is still downloading; a rerun fetches and extracts nothing; a journal lost
# means only the missing entries are written again; a corrupt archive fails
# alone.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netlib.sh"

www=$WORK/www
mkdir -p "$www/slow" "$www/arch"
python3 - "$www/arch" "$WORK/expected.json" <<'PY'
import hashlib, io, json, os, random, subprocess, sys, tarfile, zipfile
out, manifest = sys.argv[1:]
rnd, expected = random.Random(11), {}
def tree(folder, n):
    files = {f"{folder}/f{i:03d}.bin": rnd.randbytes(rnd.choice([0, 700, 40000, 200000]))
             for i in range(n)}
    expected.update({p: hashlib.sha256(d).hexdigest() for p, d in files.items()})
    return files
def tar(name, mode, files):
    with tarfile.open(os.path.join(out, name), mode) as t:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mtime = len(data), 1700000000
            t.addfile(info, io.BytesIO(data))
tar("one.tar.gz", "w:gz", tree("one", 60))
tar("two.tar", "w", tree("two", 30))
subprocess.run(["zstd", "-q", "--rm", os.path.join(out, "two.tar"),
                "-o", os.path.join(out, "two.tar.zst")], check=True)
with zipfile.ZipFile(os.path.join(out, "three.zip"), "w", zipfile.ZIP_DEFLATED) as z:
    for path, data in tree("three", 45).items():
        z.writestr(path, data)
json.dump(expected, open(manifest, "w"))
PY
# A corrupt archive (its checksum is right: the bytes arrive as served).
head -c 4096 /dev/urandom > "$www/arch/bad.tar.gz"
head -c $((8 * 1024 * 1024)) /dev/urandom > "$www/slow/big.bin"
start_nginx "$www"
sha() { sha256sum "$1" | cut -d' ' -f1; }

{
  printf '%s/slow/big.bin\n' "$WEB"
  for a in one.tar.gz two.tar.zst three.zip; do
    printf '%s/arch/%s\n  dir=arch\n  checksum=sha-256=%s\n' "$WEB" "$a" "$(sha "$www/arch/$a")"
  done
} > "$WORK/list.txt"

# The slow file takes about 4 s at 2 MiB/s; the archives arrive at once.
ferry_np 2 get --yes --json --progress never "@$WORK/list.txt" "$WORK/dl" --extract "$WORK/x" \
  > "$WORK/get.out" 2>&1 &
pid=$!
for _ in $(seq 300); do
  [ -f "$WORK/x/one/f059.bin" ] && break
  sleep 0.01
done
check "an archive is extracted while the slow file still downloads" \
  test -f "$WORK/x/one/f059.bin" -a ! -e "$WORK/dl/big.bin"
status=0
wait "$pid" || status=$?
check "get --extract: exit 0 ($status)" test "$status" -eq 0
check "every entry of the three archives is right" tree_matches "$WORK/x" "$WORK/expected.json"
check "the archives are kept" test -f "$WORK/dl/arch/one.tar.gz" -a -f "$WORK/dl/arch/three.zip"
check "the slow file arrived" cmp "$WORK/dl/big.bin" "$www/slow/big.bin"
check "the summary counts 3 archives extracted" python3 - "$WORK/get.out" <<'PY'
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if '"summary"' in l][-1]
x = s["extract"]
sys.exit(0 if x["archives_done"] == 3 and x["entries_extracted"] == 135 else 1)
PY
check "no part file is left" test -z "$(find "$WORK/x" "$WORK/dl" -name '*.ferry-part')"
check "each byte figure means one thing: downloaded, extracted, archives read" \
  python3 - "$WORK/get.out" "$WORK/x" "$www" <<'PY'
import json, os, sys
out, x, www = sys.argv[1:]
lines = [json.loads(l) for l in open(out) if l.startswith("{")]
s = [l for l in lines if l["event"] == "summary"][-1]
events = [l for l in lines if l["event"] == "progress"]
archives = sum(os.path.getsize(f"{www}/arch/{a}") for a in ("one.tar.gz", "two.tar.zst", "three.zip"))
written = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(x)
              if "/.ferry" not in d for f in fs)
ok = (s["bytes_done"] == s["planned_bytes"] and s["extract"]["bytes"] == written and events
      and all(e["total_bytes"] == s["planned_bytes"] and e["bytes"] <= e["total_bytes"]
              and e.get("extract_total_bytes") == archives
              and e["extract_bytes"] <= e["extract_total_bytes"] for e in events))
print("summary:", s["bytes_done"], s["planned_bytes"], s["extract"]["bytes"], written,
      "events:", [(e["bytes"], e["total_bytes"], e.get("extract_bytes"))
                  for e in events][-2:], "archives:", archives) if not ok else None
sys.exit(0 if ok else 1)
PY

requests=$(wc -l < "$NGINX_PREFIX/logs/access.log")
may_fail ferry_np 2 get --yes --progress never "@$WORK/list.txt" "$WORK/dl" --extract "$WORK/x" \
  > "$WORK/again.out" 2>&1
check "a rerun: exit 0 ($status)" test "$status" -eq 0
check "downloads nothing (only HEADs)" test \
  "$(tail -n +"$((requests + 1))" "$NGINX_PREFIX/logs/access.log" | grep -vc '"HEAD ')" -eq 0
check "and extracts nothing" grep -q "^nothing to do" "$WORK/again.out"

# The journal lost and one entry gone: the archives are read again, only
# that entry is written, nothing is downloaded.
rm "$WORK/x/.ferry/extract/extracted" "$WORK/x/two/f007.bin"
may_fail ferry_np 2 get --yes --json --progress never "@$WORK/list.txt" "$WORK/dl" \
  --extract "$WORK/x" > "$WORK/lost.out" 2>&1
check "journal lost: exit 0 ($status)" test "$status" -eq 0
check "one entry written again, the rest skipped" python3 - "$WORK/lost.out" <<'PY'
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if '"summary"' in l][-1]
x = s["extract"]
sys.exit(0 if x["entries_extracted"] == 1 and x["entries_skipped"] == 134
          and s["files_done"] == 0 else 1)
PY
check "the entry is right" tree_matches "$WORK/x" "$WORK/expected.json"

# A corrupt archive fails alone: exit 1, named, the others extracted.
{
  cat "$WORK/list.txt"
  printf '%s/arch/bad.tar.gz\n  dir=arch\n  checksum=sha-256=%s\n' "$WEB" "$(sha "$www/arch/bad.tar.gz")"
} > "$WORK/list2.txt"
may_fail ferry_np 2 get --yes --progress never "@$WORK/list2.txt" "$WORK/dl2" --extract "$WORK/x2" \
  > "$WORK/bad.out" 2>&1
check "a corrupt archive: exit 1 ($status)" test "$status" -eq 1
check "named with its reason" grep -q "failed: .*bad.tar.gz: .*bad.tar.gz" "$WORK/bad.out"
check "the good archives are extracted" tree_matches "$WORK/x2" "$WORK/expected.json"
check "the corrupt one was downloaded and kept" cmp "$WORK/dl2/arch/bad.tar.gz" "$www/arch/bad.tar.gz"

# --recheck into a fresh extract folder: the archives in place are to be
# extracted, but one has a flipped byte (size and mtime kept): it is fetched
# again and extracted from the good copy, never from the damaged one.
stamp=$(stat -c %Y "$WORK/dl/arch/one.tar.gz")
printf 'X' | dd of="$WORK/dl/arch/one.tar.gz" bs=1 seek=200 conv=notrunc status=none
touch -d "@$stamp" "$WORK/dl/arch/one.tar.gz"
may_fail ferry_np 2 get --yes --json --progress never --recheck "@$WORK/list.txt" "$WORK/dl" \
  --extract "$WORK/x3" > "$WORK/recheck.out" 2>&1
check "--recheck --extract: exit 0 ($status)" test "$status" -eq 0
check "the damaged archive fetched again" cmp "$WORK/dl/arch/one.tar.gz" "$www/arch/one.tar.gz"
check "every entry extracted right" tree_matches "$WORK/x3" "$WORK/expected.json"
check "one file downloaded" test "$(json_field "$WORK/recheck.out" files_done)" = 1

may_fail "$FERRY_BIN" put "$WORK/dl" "$WORK/elsewhere" --extract "$WORK/x" > "$WORK/usage.out" 2>&1
check "--extract with put is a usage error ($status)" test "$status" -eq 2

finish
