#!/usr/bin/env bash
# get, put and sync of a generated tree under mpirun -np 1, 2 and 4: every
# byte equal to the source, chunked files spread over ranks, hidden folders
# left out, a rerun moves nothing, selection picks the right files.
source "$(dirname "$0")/lib.sh"

src=$WORK/src
gen_tree "$src" --scenes 3 --small 60 --small-size 8K --large 1 --large-size 6M --seed 11
mkdir -p "$src/.cache" "$src/scene_000/.git"
echo secret > "$src/.cache/x"
echo hidden > "$src/scene_000/.git/config"
: > "$src/scene_001/empty file.bin"
echo "at the root" > "$src/README.txt"

for np in 1 2 4; do
  dst=$WORK/get_$np
  ferry_np "$np" get --yes --json --progress never --chunk-size 1M "$src" "$dst" > "$WORK/get_$np.json"
  check "get -np $np: every file byte-identical" same_tree "$src" "$dst"
  check "get -np $np: hidden folders not copied" test ! -e "$dst/.cache" -a ! -e "$dst/scene_000/.git"
  check "get -np $np: empty file and space in name" test -f "$dst/scene_001/empty file.bin"
  check "get -np $np: root files copied" test -f "$dst/README.txt"
  check "get -np $np: no part files left" test -z "$(find "$dst" -name '*.ferry-part')"
  files=$(json_field "$WORK/get_$np.json" files_done)
  check "get -np $np: report counts 188 files ($files)" test "$files" = 188
  ferry_np "$np" get --yes --json --progress never "$src" "$dst" > "$WORK/again_$np.json"
  moved=$(plan_field "$WORK/again_$np.json" transfer files)
  check "get -np $np: a rerun plans nothing ($moved)" test "$moved" = 0
  check "get -np $np: a rerun prints no summary (nothing ran)" \
    test "$(json_field "$WORK/again_$np.json" files_done)" = none
done

# put and sync between local trees under 2 ranks.
ferry_np 2 put --yes -q "$src" "$WORK/put"
check "put: byte-identical" same_tree "$src" "$WORK/put"
echo changed > "$src/scene_002/meta.json"
ferry_np 2 sync --yes --json --progress never "$src" "$WORK/put" > "$WORK/sync.json"
check "sync: a changed file is copied again" same_tree "$src" "$WORK/put"
check "sync: one file transferred" test "$(json_field "$WORK/sync.json" files_done)" = 1

# --fsync takes the same path with a flush before each journal record.
ferry_np 2 get --yes -q --fsync --chunk-size 1M "$src" "$WORK/synced"
check "--fsync: byte-identical" same_tree "$src" "$WORK/synced"

# file:// URLs name local directories too.
ferry_np 1 get --yes -q "file://$src" "file://localhost$WORK/url"
check "file:// URLs: byte-identical" same_tree "$src" "$WORK/url"

# Names from the config stand for locations: `put gt` copies root gt to remote gt.
cat > "$WORK/ferry.json" <<JSON
{"roots": {"gt": "$src"}, "remotes": {"gt": "$WORK/remote"}, "default_excludes": ["*/frames/0[0-8]/"]}
JSON
ferry_np 2 put --yes -q --config "$WORK/ferry.json" gt
check "put NAME: the config's root went to its remote" test -f "$WORK/remote/scene_000/meta.json"
check "put NAME: default excludes left frames/00-08 out" test ! -e "$WORK/remote/scene_000/frames/03"
check "put NAME: the rest of the frames went" test -d "$WORK/remote/scene_000/frames/09"
ferry_np 2 put --yes -q --config "$WORK/ferry.json" --no-default-excludes gt
check "--no-default-excludes: everything went" same_tree "$src" "$WORK/remote"
echo '{"roots": {"gt": 5}}' > "$WORK/bad.json"
may_fail "$FERRY_BIN" --config "$WORK/bad.json" put --yes gt > "$WORK/bad.out" 2>&1
check "a bad config gives exit 2 ($status)" test "$status" -eq 2
check "naming the file and the key" grep -q "bad.json: \"roots\".\"gt\" must be" "$WORK/bad.out"

# Selection.
ferry_np 2 get --yes -q --scenes scene_001,scene_002 --exclude '*/frames/0[0-4]/' \
  "$src" "$WORK/sel"
check "--scenes: unselected scene absent" test ! -e "$WORK/sel/scene_000"
check "--scenes: root files not selected" test ! -e "$WORK/sel/README.txt"
check "--exclude folder: excluded frames absent" test ! -e "$WORK/sel/scene_001/frames/03"
check "--exclude folder: other frames present" test -d "$WORK/sel/scene_001/frames/07"
ferry_np 1 get --yes -q --scene-includes _00 --include '*.json' "$src" "$WORK/inc"
check "--include: only matching files" \
  test "$(find "$WORK/inc" -type f -not -path '*/.ferry/*' | wc -l)" = 3


# --recheck: a byte flipped in DST with size and mtime kept is found by
# hashing both sides (-np 2), and only that file is copied again.
r=$WORK/recheck
ferry_np 1 get --yes -q "$src" "$r"
for f in scene_000/meta.json scene_001/video_0.bin; do
  stamp=$(stat -c %Y "$r/$f")
  printf 'X' | dd of="$r/$f" bs=1 seek=2 conv=notrunc status=none
  touch -d "@$stamp" "$r/$f"
done
ferry_np 2 get --yes --json --progress never "$src" "$r" > "$WORK/norecheck.json"
check "without --recheck the damage goes unseen" test "$(tree_sums "$src")" != "$(tree_sums "$r")"
ferry_np 2 get --yes --json --progress never --recheck "$src" "$r" > "$WORK/recheck.json"
check "--recheck: every file byte-identical again" same_tree "$src" "$r"
check "--recheck: two files copied" test "$(json_field "$WORK/recheck.json" files_done)" = 2

# misc/ folders (a scene's debug output) stay out of put and sync at any
# depth unless --no-default-excludes; get copies everything.
m=$WORK/misc_src
mkdir -p "$m/scene_a/misc" "$m/scene_a/sub/misc" "$m/scene_a/miscellaneous" \
  "$m/scene_b/deep/er/misc" "$m/misc"
for f in scene_a/misc/x scene_a/sub/misc/y scene_b/deep/er/misc/w misc/root.txt \
         scene_a/miscellaneous/z scene_a/data.bin scene_b/keep.txt scene_a/misc.txt; do
  echo "$f" > "$m/$f"
done
kept="scene_a/data.bin scene_a/miscellaneous/z scene_a/misc.txt scene_b/keep.txt"
misc_left_out() {
  [ "$(cd "$1" && find . -type f -not -path './.ferry/*' | sed 's|^\./||' | sort | xargs)" = \
    "$(echo $kept | tr ' ' '\n' | sort | xargs)" ]
}
ferry_np 2 put --yes -q "$m" "$WORK/misc_put"
check "put: misc/ left out at every depth, the rest copied" misc_left_out "$WORK/misc_put"
ferry_np 1 sync --yes -q "$m" "$WORK/misc_sync"
check "sync: misc/ left out at every depth" misc_left_out "$WORK/misc_sync"
ferry_np 1 put --yes -q --no-default-excludes "$m" "$WORK/misc_all"
check "put --no-default-excludes: misc/ copied too" same_tree "$m" "$WORK/misc_all"
ferry_np 1 get --yes -q "$m" "$WORK/misc_get"
check "get: misc/ copied (default excludes are for uploads)" same_tree "$m" "$WORK/misc_get"

finish
