#!/usr/bin/env bash
# ferry get when the Hub's answers are broken or hostile (served by the test
# hub's hostile_answers): every failure says which repo, which request and
# what is wrong, exits 1, and leaves nothing behind.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netlib.sh"

start_hub
make_repo ds "$WORK/ds.jsonl" --scenes 1 --files 3 --sizes 1k --seed 3
export HF_TOKEN=hf_test_alice
commit=$(curl -sf -H "Authorization: Bearer $HF_TOKEN" "$HUB/api/datasets/alice/ds/revision/main" \
         | python3 -c 'import json,sys; print(json.load(sys.stdin)["sha"])')
tree_url="$HUB/api/datasets/alice/ds/tree/$commit"

# hostile VERB [TEXT]: every VERB call answers 200 with TEXT; no VERB: none.
hostile() {
  hub_faults "$(python3 -c 'import json, sys
a = sys.argv[1:]
print(json.dumps({"hostile_answers": {a[0]: a[1]} if a else {}}))' "$@")"
}

# attempt NAME NP: a get into $WORK/NAME, stderr in $WORK/NAME.err.
attempt() {
  may_fail ferry_np "$2" get --yes --progress never hf://datasets/alice/ds@main "$WORK/$1" \
    > /dev/null 2> "$WORK/$1.err"
}

# refused NAME NP URL WHY TEXT: the tree (or revision) answer TEXT makes the
# get fail with exit 1, a message naming the repo, URL and WHY, and no DST.
refused() {
  local name=$1 np=$2 url=$3 why=$4
  attempt "$name" "$np"
  check "$name: exit 1 ($status)" test "$status" -eq 1
  check "$name: names the repo and revision" grep -qF "hf://datasets/alice/ds@main: GET " "$WORK/$name.err"
  check "$name: names the URL asked" grep -qF "$url" "$WORK/$name.err"
  check "$name: says why ($why)" grep -qF -- "$why" "$WORK/$name.err"
  check "$name: no token in the message" bash -c "! grep -q hf_test_alice '$WORK/$name.err'"
  check "$name: nothing written" test ! -e "$WORK/$name"
}

hostile tree '<html><body>502 Bad Gateway</body></html>'
refused html 1 "$tree_url" 'the tree answer is not JSON (it starts "<html>'
refused html-np2 2 "$tree_url" 'the tree answer is not JSON'
hostile tree '{}'
refused object 1 "$tree_url" 'the tree answer is not a list'
hostile tree '[1,2,3]'
refused numbers 2 "$tree_url" "the tree answer's entry 0 is not an object"
hostile tree '[{"type": "file", "size": 3}]'
refused no-path 1 "$tree_url" "the tree answer's entry 0 has no path"
hostile tree '[{"type": "file", "path": "a.txt", "size": -5}]'
refused negative 1 "$tree_url" "entry \"a.txt\" has a bad size \"-5\""
hostile tree '[{"type": "file", "path": "a.txt", "size": 1e300}]'
refused huge 1 "$tree_url" "entry \"a.txt\" has a bad size \"1e+300\""
# A NUL would have cut the path to "evil": refused, shown whole (as the JSON
# wrote it, its backslash doubled on the terminal like any other).
hostile tree '[{"type": "file", "path": "evil\u0000.txt", "size": 1}]'
refused nul 2 "$tree_url" 'NUL byte in "evil\\u0000.txt"'

hostile revision '{"sha": "abc123"}'
refused short-sha 1 "$HUB/api/datasets/alice/ds/revision/main" \
  'the revision answer'"'"'s sha "abc123" is not a commit id'
hostile

hub_faults '{"error_rate": 1.0, "error_codes": [500]}'
refused http500 2 "$HUB/api/datasets/alice/ds/revision/main" "HTTP 500 (after 8 tries)"
hub_faults '{"error_rate": 0}'

# A next page on another origin is asked without the token: test_hub_token.

attempt good 2
check "the same get with honest answers: exit 0 ($status)" test "$status" -eq 0
check "every file is right" matches_manifest "$WORK/good" "$WORK/ds.jsonl"

finish
