#!/usr/bin/env bash
# ferry get --hf-cache: the Hugging Face cache layout, read back through
# @huggingface/hub's own cache functions with the network forbidden; blobs
# named by hash, relative snapshot links, refs written last; a rerun fetches
# nothing; a folder of the repo and a pinned commit land where the Hub's
# tools look for them.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netlib.sh"

READER=$FERRY_SOURCE_DIR/tests/hub/conformance/read_cache.mjs
start_hub '{"page_size": 50, "lfs_threshold": 65536}'
make_repo ds "$WORK/ds.jsonl" --scenes 2 --files 40 --sizes '4k:80%,1m:20%' --seed 11
export HF_TOKEN=hf_test_alice
commit=$(curl -sf -H "Authorization: Bearer $HF_TOKEN" "$HUB/api/datasets/alice/ds/revision/main" |
         python3 -c 'import json,sys; print(json.load(sys.stdin)["sha"])')
get() { ferry_np "$1" get --yes --progress never -q --chunk-size 256k "${@:2}"; }
repo=$WORK/cache/datasets--alice--ds

for np in 1 2 4; do
  rm -rf "$WORK/cache"
  may_fail get "$np" hf://datasets/alice/ds --hf-cache "$WORK/cache" > "$WORK/get$np.out" 2>&1
  check "-np $np: exit 0 ($status)" test "$status" -eq 0
  check "-np $np: @huggingface/hub reads every file from the cache, offline" \
    node "$READER" "$WORK/cache" alice/ds "$commit" main "$WORK/ds.jsonl"
done

check "refs/main holds the commit, no newline" test "$(cat "$repo/refs/main")" = "$commit"
check "refs/main is 40 bytes" test "$(stat -c %s "$repo/refs/main")" -eq 40
link=$(find "$repo/snapshots/$commit" -mindepth 2 -type l -print -quit)
check "snapshot links are relative (../../../blobs/HASH)" \
  bash -c "readlink '$link' | grep -Eq '^\.\./\.\./\.\./blobs/[0-9a-f]{40,64}$'"
check "no regular files in snapshots/" test -z "$(find "$repo/snapshots" -type f)"
check "no part files left anywhere" test -z "$(find "$WORK/cache" -name '*.ferry-part')"
lfs=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    m = json.loads(l)
    if m["lfs"]: print(m["sha256"]); break' "$WORK/ds.jsonl")
check "an LFS file's blob is named by its sha256" test -f "$repo/blobs/$lfs"
plain=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    m = json.loads(l)
    if not m["lfs"]: print(m["sha1"]); break' "$WORK/ds.jsonl")
check "a regular file's blob is named by its git sha1" test -f "$repo/blobs/$plain"

res0=$(hub_count origin=hub bucket=resolvers)
may_fail get 2 hf://datasets/alice/ds --hf-cache "$WORK/cache" > "$WORK/rerun.out" 2>&1
check "a rerun exits 0 ($status)" test "$status" -eq 0
check "a rerun fetches nothing" test "$(hub_count origin=hub bucket=resolvers)" -eq "$res0"

# --hf-cache=DIR, a pinned commit and a folder: the snapshot keeps the
# repo's own paths, and no ref is written for a commit.
may_fail get 2 "hf://datasets/alice/ds@$commit/scene_001" --hf-cache="$WORK/pinned" \
  > "$WORK/pinned.out" 2>&1
check "a pinned folder: exit 0 ($status)" test "$status" -eq 0
check "a pinned folder: @huggingface/hub reads it under its repo path" \
  node "$READER" "$WORK/pinned" alice/ds "$commit" - "$WORK/ds.jsonl" scene_001
check "a pinned commit writes no ref" test -z "$(ls "$WORK/pinned/datasets--alice--ds/refs")"

# The default cache is the one the Hub's tools use.
may_fail env HF_HOME="$WORK/hfhome" "$FERRY_BIN" get --yes -q --progress never \
  hf://datasets/alice/ds/scene_000 --hf-cache > "$WORK/default.out" 2>&1
check "the default cache is \$HF_HOME/hub ($status)" \
  test -L "$WORK/hfhome/hub/datasets--alice--ds/snapshots/$commit/scene_000/file_000000.bin"

# Only a Hub repository has a place in the cache.
mkdir -p "$WORK/plain"
may_fail "$FERRY_BIN" get --yes -q "$WORK/plain" --hf-cache "$WORK/x" > "$WORK/bad.out" 2>&1
check "a local source with --hf-cache is a usage error ($status)" test "$status" -eq 2
check "the error says why" grep -q "needs a Hub repository" "$WORK/bad.out"

# A link planted inside the cache (the repo's folder, its blobs, its refs)
# never leads a write outside it.
for planted in datasets--alice--ds datasets--alice--ds/blobs datasets--alice--ds/refs; do
  rm -rf "$WORK/linked" "$WORK/outside"
  mkdir -p "$WORK/outside" "$(dirname "$WORK/linked/$planted")"
  ln -s "$WORK/outside" "$WORK/linked/$planted"
  may_fail get 2 hf://datasets/alice/ds/scene_000 --hf-cache "$WORK/linked" \
    > "$WORK/linked.out" 2>&1
  check "a linked $planted: refused (exit $status)" test "$status" -ne 0
  check "naming it" grep -q "$WORK/linked/$planted is a symbolic link" "$WORK/linked.out"
  check "nothing written through it" test -z "$(ls -A "$WORK/outside")"
done
finish
