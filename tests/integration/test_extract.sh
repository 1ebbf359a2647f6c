#!/usr/bin/env bash
# ferry extract: every format, across ranks; a hostile-archive suite where
# nothing may appear outside DEST and the benign entries must arrive intact;
# corrupt and truncated archives fail alone; a rerun skips what is there.
source "$(dirname "$0")/lib.sh"

mkdir -p "$WORK/in" "$WORK/box"
# make_archives DIR: one archive per format, each with the same tree under
# a folder named after the format, and a manifest of path -> sha256.
python3 - "$WORK/in" "$WORK/expected.json" <<'PY'
import hashlib, io, json, os, random, subprocess, sys, tarfile, zipfile
out, manifest = sys.argv[1:]
rnd = random.Random(7)
tree = {f"f{i:03d}.bin": rnd.randbytes(rnd.choice([0, 100, 5000, 300000])) for i in range(40)}
tree["sub/dir/text.txt"] = b"hello\n"
expected = {}
def tar(name, mode):
    with tarfile.open(os.path.join(out, name), mode) as t:
        folder = name.split(".", 1)[1]
        for path, data in tree.items():
            info = tarfile.TarInfo(f"{folder}/{path}")
            info.size, info.mtime, info.mode = len(data), 1700000000, 0o644
            t.addfile(info, io.BytesIO(data))
            expected[f"{folder}/{path}"] = hashlib.sha256(data).hexdigest()
tar("a.tar", "w")
tar("a.tar.gz", "w:gz")
tar("a.tar.xz", "w:xz")
tar("a.tar.bz2", "w:bz2")
subprocess.run(["zstd", "-q", "-f", os.path.join(out, "a.tar"), "-o", os.path.join(out, "b.tar.zst")], check=True)
for path, data in tree.items():
    expected[f"tar/{path}"] = hashlib.sha256(data).hexdigest()   # b.tar.zst holds a.tar's tree
with zipfile.ZipFile(os.path.join(out, "a.zip"), "w", zipfile.ZIP_DEFLATED) as z:
    for path, data in tree.items():
        z.writestr(f"zip/{path}", data)
        expected[f"zip/{path}"] = hashlib.sha256(data).hexdigest()
json.dump(expected, open(manifest, "w"))
PY

for np in 1 2 4; do
  dest=$WORK/out$np
  mkdir -p "$dest"
  may_fail ferry_np "$np" extract "$WORK/in" -C "$dest" > "$WORK/x$np.out" 2>&1
  check "-np $np: every format extracted: exit 0 ($status)" test "$status" -eq 0
  check "-np $np: every file is right" tree_matches "$dest" "$WORK/expected.json"
  check "-np $np: no part file left" test -z "$(find "$dest" -name '*.ferry-part')"
done
check "mtimes come from the archive" test "$(stat -c %Y "$WORK/out1/tar.gz/sub/dir/text.txt")" -eq 1700000000
may_fail ferry_np 2 extract "$WORK/in" -C "$WORK/out2" > "$WORK/again.out" 2>&1
check "a rerun: exit 0 ($status)" test "$status" -eq 0
check "skips every archive the journal has" grep -q "6 archives (0 done now, 6 done before" "$WORK/again.out"
rm "$WORK/out2/.ferry/extract/extracted"
may_fail ferry_np 2 extract "$WORK/in" -C "$WORK/out2" > "$WORK/again.out" 2>&1
check "without the journal, every entry is skipped as present" \
  grep -q "entries: 0 extracted .*, 246 skipped" "$WORK/again.out"

# --- hostile archives ---------------------------------------------------------------
python3 - "$WORK/box" <<'PY'
import io, os, sys, tarfile, zipfile
box = sys.argv[1]
def entry(t, name, data=b"x", **kw):
    info = tarfile.TarInfo(name)
    info.size = len(data) if kw.get("type", tarfile.REGTYPE) == tarfile.REGTYPE else 0
    for k, v in kw.items():
        setattr(info, k, v)
    t.addfile(info, io.BytesIO(data) if info.size else None)
with tarfile.open(os.path.join(box, "evil.tar"), "w", format=tarfile.GNU_FORMAT) as t:
    entry(t, "good/one.txt", b"benign\n")
    entry(t, "../escaped.txt")
    entry(t, "good/../../escaped2.txt")
    entry(t, "/tmp/ferry-test-absolute.txt")
    entry(t, "out", type=tarfile.SYMTYPE, linkname="/")
    entry(t, "up", type=tarfile.SYMTYPE, linkname="../..")
    entry(t, "inside", type=tarfile.SYMTYPE, linkname="good")
    entry(t, "inside/through.txt", b"through a symlink\n")
    entry(t, "hard", type=tarfile.LNKTYPE, linkname="../../etc/passwd")
    entry(t, "hard2", type=tarfile.LNKTYPE, linkname="/etc/passwd")
    entry(t, "hard3", type=tarfile.LNKTYPE, linkname="good/one.txt")
    entry(t, "dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
    entry(t, "fifo", type=tarfile.FIFOTYPE)
    entry(t, "setuid.sh", b"#!/bin/sh\n", mode=0o6755)
    entry(t, "good/" + "n" * 200 + ".txt", b"long\n")
    entry(t, "good/odd name ü\t.txt", b"odd\n")
with zipfile.ZipFile(os.path.join(box, "evil.zip"), "w") as z:
    z.writestr("../zip-escaped.txt", "x")
    z.writestr("zipgood/ok.txt", "ok\n")
data = open(os.path.join(box, "evil.tar"), "rb").read()
open(os.path.join(box, "truncated.tar"), "wb").write(data[: len(data) // 2 + 100])
open(os.path.join(box, "corrupt.tar.gz"), "wb").write(b"\x1f\x8b\x08\x00" + os.urandom(4000))
PY
mkdir -p "$WORK/box/dest"
may_fail ferry_np 2 extract "$WORK/box/evil.tar" "$WORK/box/evil.zip" -C "$WORK/box/dest" \
  > "$WORK/evil.out" 2>&1
check "hostile archives: exit 0, refusals are not failures ($status)" test "$status" -eq 0
check "nothing appeared outside DEST" \
  test "$(cd "$WORK/box" && ls | sort | tr '\n' ' ')" = "corrupt.tar.gz dest evil.tar evil.zip truncated.tar "
check "nothing at the absolute path" test ! -e /tmp/ferry-test-absolute.txt
check "nothing in the parent of the work folder" test ! -e "$WORK/escaped.txt"
check "nothing written through the archive's own symlink" test ! -e "$WORK/box/dest/good/through.txt"
check "benign entries arrived" test "$(cat "$WORK/box/dest/good/one.txt")" = "benign"
check "a hardlink inside DEST is kept" test "$(cat "$WORK/box/dest/hard3")" = "benign"
check "the long name arrived" test -f "$WORK/box/dest/good/$(printf 'n%.0s' $(seq 200)).txt"
check "the odd name arrived" test -f "$WORK/box/dest/good/odd name ü	.txt"
check "the zip's benign entry arrived" test "$(cat "$WORK/box/dest/zipgood/ok.txt")" = "ok"
check "no device node, FIFO, or escaping link" \
  test -z "$(cd "$WORK/box/dest" && ls -d dev fifo out up hard hard2 2>/dev/null)"
check "setuid and setgid dropped" test "$(stat -c %a "$WORK/box/dest/setuid.sh")" = "755"
for what in "../escaped.txt" "/tmp/ferry-test-absolute.txt" "out" "up" "hard2" "dev" "fifo" \
            "inside/through.txt" "../zip-escaped.txt"; do
  check "refusal of '$what' names archive and entry" grep -qF "entry '$what' refused" "$WORK/evil.out"
done

may_fail ferry_np 2 extract "$WORK/box/truncated.tar" "$WORK/box/corrupt.tar.gz" "$WORK/in/a.zip" \
  -C "$WORK/box/dest2" > "$WORK/bad.out" 2>&1
check "corrupt and truncated archives: exit 1 ($status)" test "$status" -eq 1
check "each fails alone, with its reason" grep -q "corrupt.tar.gz: .*" "$WORK/bad.out"
check "the truncated one is named" grep -q "truncated.tar" "$WORK/bad.out"
check "the good one in the same run arrived" test -f "$WORK/box/dest2/zip/sub/dir/text.txt"
check "the summary counts two failed archives" grep -q "1 done now, 0 done before, 2 failed" "$WORK/bad.out"

# --- kill -9 in the middle, then resume --------------------------------------------
# wait_for_files DIR N: wait (at most 4 s) until DIR holds N .bin files.
wait_for_files() {
  for _ in $(seq 400); do
    [ "$(find "$1" -name '*.bin' 2>/dev/null | wc -l)" -ge "$2" ] && return 0
    sleep 0.01
  done
  return 1
}

python3 - "$WORK/big.tar" "$WORK/big.json" <<'PY'
import hashlib, io, json, random, sys, tarfile
rnd, expected = random.Random(3), {}
with tarfile.open(sys.argv[1], "w") as t:
    for i in range(300):
        data = rnd.randbytes(1 << 20)
        info = tarfile.TarInfo(f"big/{i:04d}.bin")
        info.size, info.mtime = len(data), 1700000000
        t.addfile(info, io.BytesIO(data))
        expected[info.name] = hashlib.sha256(data).hexdigest()
json.dump(expected, open(sys.argv[2], "w"))
PY
ferry_np 1 extract "$WORK/big.tar" -C "$WORK/big" > "$WORK/kill.out" 2>&1 &
pid=$!
wait_for_files "$WORK/big/big" 20
pkill -9 -f "ferry extract $WORK/big.tar" || true
wait "$pid" 2>/dev/null || true
check "killed in the middle" test "$(find "$WORK/big/big" -name '*.bin' | wc -l)" -lt 300
check "no file under its real name is half-written" python3 - "$WORK/big" "$WORK/big.json" <<'PY'
import hashlib, json, os, sys
root, want = sys.argv[1], json.load(open(sys.argv[2]))
bad = [p for p, h in want.items() if os.path.exists(os.path.join(root, p))
       and hashlib.sha256(open(os.path.join(root, p), "rb").read()).hexdigest() != h]
sys.exit(1 if bad else 0)
PY
may_fail ferry_np 2 extract "$WORK/big.tar" -C "$WORK/big" > "$WORK/resume.out" 2>&1
check "the rerun: exit 0 ($status)" test "$status" -eq 0
check "skips the entries already there" grep -qE "entries: [0-9]+ extracted .*, [1-9][0-9]* skipped" "$WORK/resume.out"
check "every file is right" tree_matches "$WORK/big" "$WORK/big.json"
check "no part file is left" test -z "$(find "$WORK/big" -name '*.ferry-part')"

# --- SIGTERM stops cleanly; the rerun finishes -------------------------------------
rm -rf "$WORK/term"
ferry_np 2 extract "$WORK/big.tar" -C "$WORK/term" > "$WORK/term.out" 2>&1 &
pid=$!
wait_for_files "$WORK/term/big" 20
pkill -TERM -f "^$FERRY_BIN extract $WORK/big.tar -C $WORK/term" || true
status=0
wait "$pid" || status=$?
check "SIGTERM: the ranks stop with 75, mpirun reports it ($status)" test "$status" -ne 0
check "the summary says interrupted" grep -q "interrupted: run the same command again" "$WORK/term.out"
check "no part file is left behind" test -z "$(find "$WORK/term" -name '*.ferry-part')"
check "the archive is not journalled" test ! -s "$WORK/term/.ferry/extract/extracted"
may_fail ferry_np 2 extract "$WORK/big.tar" -C "$WORK/term" > "$WORK/term2.out" 2>&1
check "the rerun after SIGTERM: exit 0 ($status)" test "$status" -eq 0
check "and every file is right" tree_matches "$WORK/term" "$WORK/big.json"

# --- a big zip is cut by its entries across the ranks; progress counts entries ------
python3 - "$WORK/big.zip" "$WORK/bigzip.json" <<'PY'
import hashlib, json, random, sys, zipfile
rnd, expected = random.Random(5), {}
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_STORED) as z:
    for i in range(96):
        data = rnd.randbytes(1 << 20)
        z.writestr(f"z/{i:03d}.bin", data)
        expected[f"z/{i:03d}.bin"] = hashlib.sha256(data).hexdigest()
json.dump(expected, open(sys.argv[2], "w"))
PY
may_fail ferry_np 2 extract --json --progress always "$WORK/big.zip" -C "$WORK/zipped" \
  > "$WORK/zip.out" 2> "$WORK/zip.err"
check "a 96 MiB zip with -np 2: exit 0 ($status)" test "$status" -eq 0
check "every entry is right" tree_matches "$WORK/zipped" "$WORK/bigzip.json"
items=$(json_field "$WORK/zip.out" items)
rank0=$(json_field "$WORK/zip.out" items_rank0)
check "it went out in parts ($items items)" test "$items" -ge 2
check "both ranks took parts (rank 0: $rank0 of $items)" test "$rank0" -ge 1 -a "$rank0" -lt "$items"
check "96 entries counted" python3 -c '
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if "\"summary\"" in l][-1]
sys.exit(0 if s["extract"]["entries_extracted"] == 96 else 1)' "$WORK/zip.out"
check "the progress bar counts the entries" grep -q "entries 96" "$WORK/zip.err"

# --- one extraction per destination at a time ---------------------------------------
mkdir -p "$WORK/locked/.ferry/extract"
printf '{"host": "%s", "pid": %d, "slurm_job_id": "", "start_time": %d}\n' \
  "$(hostname)" $$ "$(date +%s)" > "$WORK/locked/.ferry/extract/lock"
may_fail ferry_np 1 extract "$WORK/in/a.tar" -C "$WORK/locked" > "$WORK/locked.out" 2>&1
check "a held lock: exit 5 ($status)" test "$status" -eq 5
check "naming the holder" grep -q "pid $$" "$WORK/locked.out"
check "nothing was extracted" test ! -e "$WORK/locked/tar"

may_fail "$FERRY_BIN" extract "$WORK/in/a.tar" > "$WORK/usage.out" 2>&1
check "no -C is a usage error ($status)" test "$status" -eq 2

finish
