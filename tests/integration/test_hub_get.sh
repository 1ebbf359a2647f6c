#!/usr/bin/env bash
# ferry get from the test hub: every byte checked against the fixture, the
# calls counted from the hub's log, the token never seen off the Hub's
# origin, auth and not-found errors mapped to their exit statuses.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netlib.sh"

start_hub '{"page_size": 100}'
make_repo ds "$WORK/ds.jsonl" --scenes 3 --files 80 --sizes '8k:90%,2m:10%' --seed 7
files=$(( $(wc -l < "$WORK/ds.jsonl") + 1 ))     # and the repo's .gitattributes
export HF_TOKEN=hf_test_alice
get() { ferry_np "$1" get --yes --progress never -q --chunk-size 512k "${@:2}"; }

for np in 1 2 4; do
  api0=$(hub_count origin=hub bucket=api)
  res0=$(hub_count origin=hub bucket=resolvers)
  may_fail get "$np" hf://datasets/alice/ds "$WORK/dst$np" > "$WORK/get$np.out" 2>&1
  check "-np $np: exit 0 ($status)" test "$status" -eq 0
  check "-np $np: every file matches the fixture's sha256" matches_manifest "$WORK/dst$np" "$WORK/ds.jsonl"
  api=$(( $(hub_count origin=hub bucket=api) - api0 ))
  res=$(( $(hub_count origin=hub bucket=resolvers) - res0 ))
  # One revision call plus one tree page per 100 files; one resolve per file.
  check "-np $np: $api API calls for $files files (3 pages + revision)" test "$api" -eq 4
  check "-np $np: $res resolver calls for $files files" test "$res" -eq "$files"
done
check "the token never reached the CDN or storage" \
  python3 "$HUBLOG" "$WORK/hub" --assert-no-auth-at cdn,storage

res0=$(hub_count origin=hub bucket=resolvers)
may_fail get 2 hf://datasets/alice/ds "$WORK/dst2" > "$WORK/rerun.out" 2>&1
check "a rerun exits 0 ($status)" test "$status" -eq 0
check "a rerun fetches nothing" test "$(hub_count origin=hub bucket=resolvers)" -eq "$res0"

# A file changed locally since (new mtime) is fetched again, and only it.
victim=$(head -1 "$WORK/ds.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["path"])')
printf 'X' | dd of="$WORK/dst2/$victim" bs=1 seek=10 conv=notrunc status=none
touch -d '2001-01-01' "$WORK/dst2/$victim"
res0=$(hub_count origin=hub bucket=resolvers)
may_fail get 2 hf://datasets/alice/ds "$WORK/dst2" > /dev/null 2>&1
check "a locally changed file is fetched again ($status)" matches_manifest "$WORK/dst2" "$WORK/ds.jsonl"
check "and only it" test "$(( $(hub_count origin=hub bucket=resolvers) - res0 ))" -eq 1

# A byte flipped with size and mtime kept looks unchanged; --recheck hashes
# DST against the listed sha256 (LFS) and git sha1 (regular files), -np 2.
small=$(python3 -c 'import json,sys; print([m["path"] for m in map(json.loads, open(sys.argv[1])) if not m["lfs"]][0])' "$WORK/ds.jsonl")
big=$(python3 -c 'import json,sys; print([m["path"] for m in map(json.loads, open(sys.argv[1])) if m["lfs"]][0])' "$WORK/ds.jsonl")
for f in "$small" "$big"; do
  stamp=$(stat -c %Y "$WORK/dst2/$f")
  printf 'X' | dd of="$WORK/dst2/$f" bs=1 seek=5 conv=notrunc status=none
  touch -d "@$stamp" "$WORK/dst2/$f"
done
may_fail get 2 hf://datasets/alice/ds "$WORK/dst2" > /dev/null 2>&1
if matches_manifest "$WORK/dst2" "$WORK/ds.jsonl" 2>/dev/null; then
  fail "without --recheck the damage goes unseen"
else
  ok "without --recheck the damage goes unseen"
fi
res0=$(hub_count origin=hub bucket=resolvers)
may_fail get 2 --recheck hf://datasets/alice/ds "$WORK/dst2" > "$WORK/recheck.out" 2>&1
check "--recheck: exit 0 ($status), both files fetched again" \
  matches_manifest "$WORK/dst2" "$WORK/ds.jsonl"
check "--recheck: only those two" test "$(( $(hub_count origin=hub bucket=resolvers) - res0 ))" -eq 2

# verify: all well, then a flipped byte, a missing file and an extra one.
may_fail ferry_np 2 verify "$WORK/dst2" --against hf://datasets/alice/ds > "$WORK/verify.out" 2>&1
check "verify of a good copy: exit 0 ($status)" test "$status" -eq 0
second=$(sed -n 2p "$WORK/ds.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["path"])')
printf 'X' | dd of="$WORK/dst2/$victim" bs=1 seek=3 conv=notrunc status=none
rm "$WORK/dst2/$second"
echo extra > "$WORK/dst2/scene_000/stray.txt"
may_fail ferry_np 2 verify "$WORK/dst2" --against hf://datasets/alice/ds > "$WORK/verify.out" 2>&1
check "verify of a damaged copy: exit 1 ($status)" test "$status" -eq 1
check "it names the corrupt file" grep -q "^corrupt: $victim" "$WORK/verify.out"
check "the missing one" grep -q "^missing: $second" "$WORK/verify.out"
check "and the extra one" grep -q "^extra: scene_000/stray.txt" "$WORK/verify.out"
rm "$WORK/dst2/scene_000/stray.txt"

# A pinned commit and a folder inside the repo.
commit=$(curl -sf -H "Authorization: Bearer $HF_TOKEN" "$HUB/api/datasets/alice/ds/revision/main" \
         | python3 -c 'import json,sys; print(json.load(sys.stdin)["sha"])')
may_fail get 2 "hf://datasets/alice/ds@$commit/scene_001" "$WORK/pinned" > /dev/null 2>&1
check "a pinned commit and a PATH: exit 0 ($status)" test "$status" -eq 0
check "the PATH's files land at DST's root" matches_manifest "$WORK/pinned" "$WORK/ds.jsonl" scene_001
check "nothing else came" test "$(find "$WORK/pinned" -type f -not -path '*/.ferry/*' | wc -l)" \
  -eq "$(grep -c '"scene_001/' "$WORK/ds.jsonl")"

# A PATH that names a file gets that file, into DST by its basename; an
# LFS file and a regular one.
for lfs in True False; do
  file=$(python3 -c 'import json, sys
print(next(m["path"] for m in map(json.loads, open(sys.argv[1])) if m["lfs"] == (sys.argv[2] == "True")))' \
         "$WORK/ds.jsonl" $lfs)
  n=$lfs
  may_fail get 2 "hf://datasets/alice/ds@$commit/$file" "$WORK/one$n" > /dev/null 2>&1
  check "a PATH naming a file ($file, LFS $lfs): exit 0 ($status)" test "$status" -eq 0
  check "it lands as DST/$(basename "$file") with its sha256" \
    matches_manifest "$WORK/one$n" <(grep -F "\"$file\"" "$WORK/ds.jsonl") "$(dirname "$file")"
  check "and alone" test "$(find "$WORK/one$n" -type f -not -path '*/.ferry/*' | wc -l)" -eq 1
done
may_fail "$FERRY_BIN" get --yes hf://datasets/alice/ds/scene_000/nothing.bin "$WORK/e7" 2> "$WORK/e7.err"
check "a PATH that is neither file nor folder: exit 4 ($status)" test "$status" -eq 4
check "and it names it" grep -q "no file or folder 'scene_000/nothing.bin'" "$WORK/e7.err"

# Errors: exit statuses and messages, and nothing written.
make_repo secret "$WORK/secret.jsonl" --scenes 1 --files 3 --sizes 1k --seed 2 --private
may_fail env -u HF_TOKEN "$FERRY_BIN" get --yes hf://datasets/alice/secret "$WORK/e1" 2> "$WORK/e1.err"
check "a private repo without a token: exit 3 ($status)" test "$status" -eq 3
check "and it says to set HF_TOKEN" grep -q "HF_TOKEN" "$WORK/e1.err"
may_fail env HF_TOKEN=hf_test_nobody "$FERRY_BIN" get --yes hf://datasets/alice/secret "$WORK/e2" 2> "$WORK/e2.err"
check "a bad token: exit 3 ($status)" test "$status" -eq 3
check "the token is in no message" bash -c "! grep -q hf_test_nobody '$WORK/e2.err'"
may_fail "$FERRY_BIN" get --yes hf://datasets/alice/ds@nope "$WORK/e3" 2> "$WORK/e3.err"
check "a bad revision: exit 4 ($status)" test "$status" -eq 4
check "and it says so" grep -q "revision not found" "$WORK/e3.err"
may_fail "$FERRY_BIN" get --yes hf://datasets/alice/nothing "$WORK/e4" 2> "$WORK/e4.err"
check "a missing repo: exit 4 ($status)" test "$status" -eq 4
check "no destination was made for failed starts" test ! -e "$WORK/e1" -a ! -e "$WORK/e3"

calls=$(hub_count origin=hub)
may_fail env HF_HUB_OFFLINE=1 "$FERRY_BIN" get --yes hf://datasets/alice/ds "$WORK/e5" 2> "$WORK/e5.err"
check "HF_HUB_OFFLINE=1: exit 2 ($status)" test "$status" -eq 2
check "and it says why" grep -q "HF_HUB_OFFLINE" "$WORK/e5.err"
echo '{"allowed_prefixes": ["hf://datasets/bob/"]}' > "$WORK/allow.json"
may_fail "$FERRY_BIN" --config "$WORK/allow.json" get --yes hf://datasets/alice/ds "$WORK/e6" 2> "$WORK/e6.err"
check "a repo outside allowed_prefixes: exit 2 ($status)" test "$status" -eq 2
check "neither made a request" test "$(hub_count origin=hub)" -eq "$calls"

finish
