#!/usr/bin/env bash
# The token goes to the Hub's own origin only (issue 17), whatever URL the
# Hub's answers name: tree pages whose Link rel="next" points at another
# origin, and LFS verify actions on another origin, are fetched without it.
# The test hub's storage origin plays the other origin and logs whether an
# Authorization header arrived.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netlib.sh"

start_hub '{"page_size": 4, "lfs_threshold": 65536, "seed": 2}'
make_repo ds "$WORK/ds.jsonl" --scenes 2 --files 12 --sizes '8k:70%,200k:30%' --seed 7
export HF_TOKEN=hf_test_alice
hub_faults '{"foreign_links": true}'

may_fail ferry_np 2 get --yes -q --progress never hf://datasets/alice/ds "$WORK/get" > "$WORK/get.out" 2>&1
check "listing pages on another origin: exit 0 ($status)" test "$status" -eq 0
check "every file is right" matches_manifest "$WORK/get" "$WORK/ds.jsonl"
check "pages were asked of the other origin" \
  test "$(hub_count origin=storage method=GET status=200)" -gt 0
check "the first page was asked with the token" test "$(hub_count origin=hub bucket=api auth=true)" -gt 0

mkdir -p "$WORK/up/a"
head -c 300000 /dev/urandom > "$WORK/up/a/big.bin"
printf 'small\n' > "$WORK/up/a/small.txt"
may_fail ferry_np 1 put --yes -q --progress never --create "$WORK/up" hf://datasets/alice/up \
  > "$WORK/put.out" 2>&1
check "put with a verify action on another origin: exit 0 ($status)" test "$status" -eq 0
check "the verify call went there" test "$(hub_count origin=storage bucket=verify status=200)" -eq 1
check "no Authorization header ever reached another origin" \
  python3 "$HUBLOG" "$WORK/hub" --assert-no-auth-at storage,cdn

finish
