#!/usr/bin/env bash
# A manifest that lists Hub repositories beside plain URLs: one get pulls
# two datasets (one private, one folder of it pinned to a commit) and a
# file from nginx; every byte checked; the allow-list applies to every line.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netlib.sh"

start_hub '{"page_size": 20}'
make_repo ds "$WORK/ds.jsonl" --scenes 2 --files 30 --sizes '4k:80%,1m:20%' --seed 21
make_repo secret "$WORK/secret.jsonl" --scenes 2 --files 6 --sizes 2k --seed 22 --private
mkdir -p "$WORK/www"
head -c 100000 /dev/urandom > "$WORK/www/plain.bin"
start_nginx "$WORK/www"
export HF_TOKEN=hf_test_alice
commit=$(curl -sf -H "Authorization: Bearer $HF_TOKEN" "$HUB/api/datasets/alice/secret/revision/main" \
         | python3 -c 'import json,sys; print(json.load(sys.stdin)["sha"])')

# alice/ds under its default folder alice/ds; one scene of the private
# alice/secret at a commit under hub/s1; the plain file under web/.
cat > "$WORK/list.txt" <<EOF
hf://datasets/alice/ds
hf://datasets/alice/secret@$commit/scene_001
  dir=hub
  out=s1
$WEB/plain.bin
  dir=web
EOF

for np in 1 2; do
  dst=$WORK/dst$np
  may_fail ferry_np "$np" get --yes -q --progress never --chunk-size 256k "@$WORK/list.txt" "$dst" \
    > "$WORK/get$np.out" 2>&1
  check "-np $np: exit 0 ($status)" test "$status" -eq 0
  check "-np $np: alice/ds in alice/ds/, every sha256 right" matches_manifest "$dst/alice/ds" "$WORK/ds.jsonl"
  check "-np $np: alice/secret's scene_001 in hub/s1/" matches_manifest "$dst/hub/s1" "$WORK/secret.jsonl" scene_001
  check "-np $np: the plain URL in web/" cmp "$dst/web/plain.bin" "$WORK/www/plain.bin"
  check "-np $np: nothing else" test "$(find "$dst" -type f -not -path '*/.ferry/*' | wc -l)" -eq \
    $(( $(wc -l < "$WORK/ds.jsonl") + 1 + $(grep -c '"scene_001/' "$WORK/secret.jsonl") + 1 ))
done
check "the token never reached the CDN" python3 "$HUBLOG" "$WORK/hub" --assert-no-auth-at cdn,storage

res0=$(hub_count origin=hub bucket=resolvers)
may_fail ferry_np 2 get --yes -q --progress never "@$WORK/list.txt" "$WORK/dst2" > /dev/null 2>&1
check "a rerun exits 0 ($status)" test "$status" -eq 0
check "and fetches nothing" test "$(hub_count origin=hub bucket=resolvers)" -eq "$res0"

# A line outside allowed_prefixes is refused before any request, named.
printf '{"allowed_prefixes": ["datasets/alice/ds", "%s/"]}\n' "$WEB" > "$WORK/allow.json"
calls=$(hub_count origin=hub)
may_fail "$FERRY_BIN" --config "$WORK/allow.json" get --yes "@$WORK/list.txt" "$WORK/refused" \
  2> "$WORK/refused.err"
check "a line outside allowed_prefixes: exit 2 ($status)" test "$status" -eq 2
check "it is named" grep -qF "hf://datasets/alice/secret@$commit/scene_001: not under any" "$WORK/refused.err"
check "no request was made" test "$(hub_count origin=hub)" -eq "$calls"
check "nothing was written" test ! -e "$WORK/refused"

# Bad hf:// lines are usage errors naming the line.
printf 'hf://datasets/alice/ds\t%s/plain.bin\n' "$WEB" > "$WORK/bad1.txt"
may_fail "$FERRY_BIN" get --yes "@$WORK/bad1.txt" "$WORK/bad" 2> "$WORK/bad1.err"
check "an hf:// line with mirrors: exit 2 ($status)" test "$status" -eq 2
check "it says so" grep -q "bad1.txt:1: an hf:// location has no mirrors" "$WORK/bad1.err"
printf 'hf://datasets/alice\n' > "$WORK/bad2.txt"
may_fail "$FERRY_BIN" get --yes "@$WORK/bad2.txt" "$WORK/bad" 2> "$WORK/bad2.err"
check "an hf:// line without a repo: exit 2 ($status)" test "$status" -eq 2
check "it names the line" grep -q "bad2.txt:1: hf://datasets/alice" "$WORK/bad2.err"

finish
