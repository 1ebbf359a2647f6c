#!/usr/bin/env bash
# ferry extract, entry by entry: data that does not match its CRC fails that
# entry (no file under its name) and the run exits 1; an entry that cannot be
# written (a name over NAME_MAX) fails alone while the rest of the archive
# arrives; names holding newlines, escape sequences or bytes that are not
# UTF-8 are printed escaped, never raw; UTF-8 names arrive as they are.
source "$(dirname "$0")/lib.sh"

python3 - "$WORK" <<'PY'
import io, json, struct, sys, tarfile, zipfile
work = sys.argv[1]
# A zip whose middle entry's CRC is wrong, in its local header and in the
# central directory alike (the bytes are intact: only the check can tell).
with zipfile.ZipFile(f"{work}/crc.zip", "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("crc/a.txt", b"first\n")
    z.writestr("crc/b.txt", b"second entry " * 100)
    z.writestr("crc/c.txt", b"third\n")
info = zipfile.ZipFile(f"{work}/crc.zip").getinfo("crc/b.txt")
data = bytearray(open(f"{work}/crc.zip", "rb").read())
bad = info.CRC ^ 0x5A5A5A5A
struct.pack_into("<I", data, info.header_offset + 14, bad)
at = data.find(b"PK\x01\x02")
while at >= 0:
    if data[at + 46:at + 46 + struct.unpack_from("<H", data, at + 28)[0]] == b"crc/b.txt":
        struct.pack_into("<I", data, at + 16, bad)
    at = data.find(b"PK\x01\x02", at + 4)
open(f"{work}/crc.zip", "wb").write(data)

def add(t, name, data=b"data\n"):
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), 1700000000
    t.addfile(info, io.BytesIO(data))

# Names over NAME_MAX, one with a newline and an escape sequence in it,
# between entries that must arrive.
with tarfile.open(f"{work}/long.tar", "w", format=tarfile.GNU_FORMAT) as t:
    add(t, "long/first.txt", b"first\n")
    add(t, "long/\x1b[2J" + "m" * 300 + "\nFAKE ERROR line.txt")
    add(t, "long/" + "n" * 300 + ".txt")
    add(t, "long/last.txt", b"last\n")

# Hostile names: refused ones (printed), and benign odd ones (extracted).
odd = ["names/new\nline.txt", "names/esc\x1b[31mred.txt", "names/\u00fc\u65e5.txt"]
with tarfile.open(f"{work}/names.tar", "w", format=tarfile.PAX_FORMAT) as t:
    add(t, "../\x1b]0;pwned\x07\nFAKE ERROR tar.txt")
    for name in odd:
        add(t, name, name.encode())
with zipfile.ZipFile(f"{work}/names.zip", "w") as z:
    z.writestr("../zip\x1b[2J\nFAKE ERROR zip.txt", "x")
    z.writestr("zipnames/\u00fc\u65e5.txt", "utf8\n")
json.dump(odd, open(f"{work}/odd.json", "w"))
PY

# --- a CRC mismatch fails the entry ---------------------------------------------------
may_fail ferry_np 1 extract --progress never "$WORK/crc.zip" -C "$WORK/crc" > "$WORK/crc.out" 2>&1
check "a CRC mismatch: exit 1 ($status)" test "$status" -eq 1
check "the entry is not there" test ! -e "$WORK/crc/crc/b.txt"
check "nor its part" test -z "$(find "$WORK/crc" -name '*.ferry-part')"
check "the entries before and after arrived" \
  test "$(cat "$WORK/crc/crc/a.txt" "$WORK/crc/crc/c.txt")" = "$(printf 'first\nthird')"
check "named with the cause" grep -q "failed: .*crc.zip: .*entry 'crc/b.txt': ZIP bad CRC" "$WORK/crc.out"
check "the summary counts it failed" grep -q "entries: 2 extracted .*, 1 failed" "$WORK/crc.out"
check "the archive is not journalled" test ! -s "$WORK/crc/.ferry/extract/extracted"
may_fail ferry_np 2 extract --progress never "$WORK/crc.zip" -C "$WORK/crc" > "$WORK/crc2.out" 2>&1
check "a rerun fails it again: exit 1 ($status)" test "$status" -eq 1

# --- an entry that cannot be written fails alone ------------------------------------
may_fail ferry_np 2 extract --progress never "$WORK/long.tar" -C "$WORK/long" \
  > "$WORK/long.out" 2> "$WORK/long.err"
check "names over NAME_MAX: exit 1 ($status)" test "$status" -eq 1
check "the entries before and after arrived" \
  test "$(cat "$WORK/long/long/first.txt" "$WORK/long/long/last.txt")" = "$(printf 'first\nlast')"
check "each long name is named with the cause" \
  test "$(grep -c "entry 'long/.*': File name too long" "$WORK/long.err")" -ge 2
check "the summary: 2 extracted, 2 failed" grep -q "entries: 2 extracted .*, 2 failed" "$WORK/long.out"
check "no part file is left" test -z "$(find "$WORK/long" -name '*.ferry-part')"

# --- names are printed escaped ------------------------------------------------------
may_fail ferry_np 2 extract --progress never "$WORK/names.tar" "$WORK/names.zip" -C "$WORK/names" \
  > "$WORK/names.out" 2>&1
check "odd names: exit 0 ($status)" test "$status" -eq 0
check "the odd names arrived as they are" python3 - "$WORK/names" "$WORK/odd.json" <<'PY'
import json, os, sys
root = sys.argv[1]
ok = all(open(os.path.join(root, n), "rb").read() == n.encode() for n in json.load(open(sys.argv[2])))
sys.exit(0 if ok and os.path.isfile(os.path.join(root, "zipnames/\u00fc\u65e5.txt")) else 1)
PY
cat "$WORK/long.out" "$WORK/long.err" >> "$WORK/names.out"
check "no escape byte reaches the output" test "$(tr -cd '\033\007' < "$WORK/names.out" | wc -c)" -eq 0
check "no name starts a line of its own" test "$(grep -c '^FAKE ERROR' "$WORK/names.out")" -eq 0
check "the tar's refused name, escaped" \
  grep -qF "entry '../\\x1b]0;pwned\\x07\\nFAKE ERROR tar.txt' refused" "$WORK/names.out"
check "the zip's refused name, escaped" \
  grep -qF "entry '../zip\\x1b[2J\\nFAKE ERROR zip.txt' refused" "$WORK/names.out"
check "a failed name, escaped in the log and the summary" \
  test "$(grep -cF "long/\\x1b[2Jmmm" "$WORK/names.out")" -ge 2

# --json keeps the raw name, JSON-escaped.
may_fail ferry_np 1 extract --json --progress never "$WORK/long.tar" -C "$WORK/long" \
  > "$WORK/long.json" 2>/dev/null
check "--json: the failure carries the raw name" python3 - "$WORK/long.json" <<'PY'
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if '"summary"' in l][-1]
sys.exit(0 if "long/\x1b[2J" + "m" * 300 + "\nFAKE" in s["failures"][0]["reason"] else 1)
PY

finish
