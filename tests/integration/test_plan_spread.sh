#!/usr/bin/env bash
# One scene of many files in many folders (one folder past the walk's batch
# of 2048 files) under mpirun -np 2 and 4: every rank walks a share of it
# and, with --recheck, hashes a share; the plan and the copied bytes are
# those of a -np 1 run; verify spreads its listing the same way.
source "$(dirname "$0")/lib.sh"

src=$WORK/src
python3 - "$src" <<'PY'
import os, sys
root = sys.argv[1]
def put(path, i):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"%d " % i * (1 + i % 40))
i = 0
for d in range(60):
    for k in range(40):
        put(f"{root}/only/d{d:02d}/sub{k % 3}/f{k:03d}.bin", i)
        i += 1
for k in range(5000):
    put(f"{root}/only/big/f{k:05d}.bin", i)
    i += 1
PY
files=$(find "$src" -type f | wc -l)

# plan_of FILE: the plan event of a --json run, as one canonical line.
plan_of() {
  python3 - "$1" <<'PY'
import json, sys
plans = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{") and '"plan"' in l]
p = plans[-1]
p.pop("destination", None)
print(json.dumps(p, sort_keys=True))
PY
}

# shares LOG WHAT: the per-rank numbers of the DEBUG lines "walked N folders
# and M files" (WHAT=walked: N+M) or "read H files" (WHAT=read), "rank count" per line.
shares() {
  python3 - "$1" "$2" <<'PY'
import re, sys
seen = {}
for line in open(sys.argv[1]):
    m = re.search(r"\[r(\d+)\] DEBUG plan: this rank walked (\d+) folders and (\d+) files, "
                  r"read (\d+) files", line)
    if m:
        r, folders, files, read = map(int, m.groups())
        seen[r] = folders + files if sys.argv[2] == "walked" else read
for r in sorted(seen):
    print(r, seen[r])
PY
}

# every_rank_share LOG WHAT NP: each of the NP ranks did some of it.
every_rank_share() {
  local n
  n=$(shares "$1" "$2" | awk '$2 > 0' | wc -l)
  [ "$n" -eq "$3" ]
}

ferry_np 1 get --yes --json --progress never "$src" "$WORK/get_1" > "$WORK/get_1.json"
check "-np 1: every file byte-identical ($files files)" same_tree "$src" "$WORK/get_1"
plan_of "$WORK/get_1.json" > "$WORK/plan_1"

for np in 2 4; do
  dst=$WORK/get_$np
  ferry_np "$np" -v get --yes --json --progress never "$src" "$dst" \
    > "$WORK/get_$np.json" 2> "$WORK/get_$np.log"
  check "-np $np: every file byte-identical" same_tree "$src" "$dst"
  check "-np $np: the same files as -np 1" same_tree "$WORK/get_1" "$dst"
  plan_of "$WORK/get_$np.json" > "$WORK/plan_$np"
  check "-np $np: the same plan as -np 1" cmp -s "$WORK/plan_1" "$WORK/plan_$np"
  total=$(shares "$WORK/get_$np.log" walked | awk '{s += $2} END {print s}')
  check "-np $np: every rank walked a share ($(shares "$WORK/get_$np.log" walked | tr '\n' ' '))" \
    every_rank_share "$WORK/get_$np.log" walked "$np"
  # Both sides: the source's files and folders, and the destination's root.
  check "-np $np: the shares add up to the whole source ($total)" test "$total" -ge "$files"

  # --recheck hashes every file that looks unchanged, spread over ranks;
  # two flipped bytes (size and mtime kept) are found and copied again.
  for f in only/d07/sub1/f004.bin only/big/f03333.bin; do
    stamp=$(stat -c %Y "$dst/$f")
    printf 'X' | dd of="$dst/$f" bs=1 seek=0 conv=notrunc status=none
    touch -d "@$stamp" "$dst/$f"
  done
  ferry_np "$np" -v get --yes --json --progress never --recheck "$src" "$dst" \
    > "$WORK/recheck_$np.json" 2> "$WORK/recheck_$np.log"
  read_total=$(shares "$WORK/recheck_$np.log" read | awk '{s += $2} END {print s}')
  check "-np $np: every rank hashed a share ($(shares "$WORK/recheck_$np.log" read | tr '\n' ' '))" \
    every_rank_share "$WORK/recheck_$np.log" read "$np"
  check "-np $np: every file rechecked once ($read_total)" test "$read_total" -eq "$files"
  check "-np $np: the two damaged files copied again" \
    test "$(json_field "$WORK/recheck_$np.json" files_done)" = 2
  check "-np $np: byte-identical again" same_tree "$src" "$dst"
done

# verify walks both sides over all ranks and agrees with -np 1.
rm "$WORK/get_2/only/big/f00010.bin"
echo stray > "$WORK/get_2/only/d03/stray.bin"
for np in 1 4; do
  may_fail ferry_np "$np" verify "$WORK/get_2" --against "$src" > "$WORK/verify_$np.out" 2>&1
  check "verify -np $np: exit 1 ($status)" test "$status" -eq 1
  grep -E '^(missing|extra|corrupt):' "$WORK/verify_$np.out" > "$WORK/verify_$np.lines" || true
done
check "verify: the missing file" grep -q '^missing: only/big/f00010.bin' "$WORK/verify_4.lines"
check "verify: the extra file" grep -q '^extra: only/d03/stray.bin' "$WORK/verify_4.lines"
check "verify -np 4 finds what -np 1 finds" cmp -s "$WORK/verify_1.lines" "$WORK/verify_4.lines"

finish
