#!/usr/bin/env bash
# ferry verify DIR --spec SPEC.json: a dataset of images and prompts that
# passes, then one with a broken JSON line, a missing folder and counts that
# disagree, which fails with the line numbers; a bad spec is a usage error.
source "$(dirname "$0")/lib.sh"

ds=$WORK/ds
mkdir -p "$ds/images/a" "$ds/prompts"
for i in 1 2 3; do printf 'jpeg%d' "$i" > "$ds/images/a/$i.jpg"; done
printf 'not an image' > "$ds/images/a/README"
printf '{"file": "a/%d.jpg", "prompt": "p%d"}\n' 1 1 2 2 3 3 > "$ds/metadata.jsonl"
printf '{"id": 1}\n\n{"id": 2}\n' > "$ds/prompts/p-train.jsonl"
cat > "$WORK/spec.json" <<'JSON'
{
  "required": ["metadata.jsonl", "images/"],
  "jsonl": ["metadata.jsonl", "prompts/p-*.jsonl"],
  "counts": [{"records": "metadata.jsonl", "files": "images/", "pattern": "*.jpg"}]
}
JSON
may_fail ferry_np 2 verify "$ds" --spec "$WORK/spec.json" > "$WORK/pass.out" 2>&1
check "a dataset that fits: exit 0 ($status)" test "$status" -eq 0
check "it says every check passes" grep -q "every check passes" "$WORK/pass.out"
check "the count is reported" grep -q "ok: count: metadata.jsonl has 3 records, images/ has 3 files" "$WORK/pass.out"
check "an empty line is not a record" grep -q "p-train.jsonl: 2 records" "$WORK/pass.out"

printf '{"file": "a/4.jpg", "prompt": \n{"file": "a/5.jpg"}\n{broken\n' >> "$ds/metadata.jsonl"
rm -r "$ds/prompts"
may_fail ferry_np 2 verify "$ds" --spec "$WORK/spec.json" > "$WORK/fail.out" 2>&1
check "a dataset that does not fit: exit 1 ($status)" test "$status" -eq 1
check "the bad lines are named by number" grep -q "FAIL: JSON lines metadata.jsonl: lines that do not parse: 4, 6" "$WORK/fail.out"
check "a pattern that matches nothing fails" grep -q "FAIL: JSON lines prompts/p-\*.jsonl: no file matches" "$WORK/fail.out"
check "the counts disagree" grep -q "FAIL: count: metadata.jsonl has 6 records, images/ has 3 files" "$WORK/fail.out"
check "the failures are counted" grep -q "3 checks failed" "$WORK/fail.out"

echo '{"required": "x", "colour": []}' > "$WORK/bad.json"
may_fail "$FERRY_BIN" verify "$ds" --spec "$WORK/bad.json" > "$WORK/bad.out" 2>&1
check "a bad spec: exit 2 ($status)" test "$status" -eq 2
check "that names the spec and the key" grep -q "bad.json: \"required\" must be a list" "$WORK/bad.out"

finish
