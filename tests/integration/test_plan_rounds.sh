#!/usr/bin/env bash
# A tree bigger than one round of the walk (dwalk.h: DWALK_ROUND_FILES,
# 65,536 files): small scenes around one scene that fills a round alone and
# one that takes half of one, so the walks go in several rounds.  The plan
# under mpirun -np 1, 2 and 4 is the same, and says what changed in each
# scene (sync --dry-run: deletes too); every rank walks a share of it;
# verify finds the same problems with 1 and 4 ranks.
source "$(dirname "$0")/lib.sh"

src=$WORK/src dst=$WORK/dst
python3 - "$src" <<'PY'
import os, sys
root = sys.argv[1]
def scene(name, folders, per_folder):
    for d in range(folders):
        path = f"{root}/{name}/d{d:03d}"
        os.makedirs(path)
        for k in range(per_folder):
            open(f"{path}/f{k:05d}.dat", "w").close()
scene("a_small", 2, 5)
scene("b_huge", 35, 2000)       # 70,000 files: more than a round
for s in "cdefgh":
    scene(f"{s}_small", 3, 4)
scene("z_mid", 15, 2000)        # 30,000 files
PY
files=$(find "$src" -type f | wc -l)
cp -a "$src" "$dst"
# One file gone, one grown, one stray: a transfer in b_huge and z_mid, a
# delete in d_small.
rm "$dst/b_huge/d034/f01999.dat"
echo grown > "$dst/z_mid/d007/f00123.dat"
echo stray > "$dst/d_small/d001/stray.dat"

# scenes FILE: each scene of the plan event: name transfer unchanged delete.
scenes() {
  python3 - "$1" <<'PY'
import json, sys
plans = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{") and '"plan"' in l]
for s in plans[-1]["scenes"]:
    print(s["name"], s["transfer"]["files"], s["unchanged"]["files"], s["delete"]["files"])
PY
}

for np in 1 2 4; do
  ferry_np "$np" -v --dry-run --json sync "$src" "$dst" \
    > "$WORK/plan_$np.json" 2> "$WORK/plan_$np.log"
  scenes "$WORK/plan_$np.json" > "$WORK/scenes_$np"
done
check "the plan of $files files lists every scene" test "$(wc -l < "$WORK/scenes_1")" -eq 9
check "b_huge: the missing file to transfer, the rest unchanged" \
  grep -qx 'b_huge 1 69999 0' "$WORK/scenes_1"
check "z_mid: the grown file to transfer, the rest unchanged" \
  grep -qx 'z_mid 1 29999 0' "$WORK/scenes_1"
check "d_small: the stray file to delete" grep -qx 'd_small 0 12 1' "$WORK/scenes_1"
check "a_small unchanged" grep -qx 'a_small 0 10 0' "$WORK/scenes_1"
check "h_small unchanged" grep -qx 'h_small 0 12 0' "$WORK/scenes_1"
for np in 2 4; do
  check "-np $np: the same plan as -np 1" cmp -s "$WORK/scenes_1" "$WORK/scenes_$np"
  n=$(grep -cE "DEBUG plan: this rank walked [1-9][0-9]* folders" "$WORK/plan_$np.log" || true)
  check "-np $np: every rank walked a share ($n)" test "$n" -eq "$np"
done

for np in 1 4; do
  may_fail ferry_np "$np" verify "$dst" --against "$src" > "$WORK/verify_$np.out" 2>&1
  check "verify -np $np: exit 1 ($status)" test "$status" -eq 1
  grep -E '^(missing|extra|corrupt):' "$WORK/verify_$np.out" > "$WORK/verify_$np.lines" || true
done
check "verify: the missing file" grep -qx 'missing: b_huge/d034/f01999.dat' "$WORK/verify_4.lines"
check "verify: the stray file" grep -qx 'extra: d_small/d001/stray.dat' "$WORK/verify_4.lines"
check "verify: the grown file" grep -q '^corrupt: z_mid/d007/f00123.dat' "$WORK/verify_4.lines"
check "verify -np 4 finds what -np 1 finds" cmp -s "$WORK/verify_1.lines" "$WORK/verify_4.lines"

finish
