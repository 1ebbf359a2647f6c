#!/usr/bin/env bash
# Fuzz ferry's parsers with libFuzzer: build build-fuzz/ (clang, ASan, UBSan,
# FERRY_FUZZ=ON) and run each target of tests/fuzz for SECONDS, one after
# another, at low priority.  Prints executions and findings per target.
#
#   bash bench/fuzz.sh SECONDS [NAME...]     (NAME: config, jobspec, cli, ...)
#
# Each target starts from its seed corpus (tests/fuzz/corpus/NAME, never
# written) and grows a working corpus in build-fuzz/fuzz/NAME/corpus that
# later runs start from too (tests/fuzz/NAME.dict, if there, is its
# dictionary); a crash, leak or timeout input is kept in
# build-fuzz/fuzz/NAME/ (crash-*, leak-*, timeout-*) with the run's log.
# Replay one with: build-fuzz/tests/fuzz/fuzz_NAME FILE
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/bench/benchlib.sh"
seconds=${1:?usage: bash bench/fuzz.sh SECONDS [NAME...]}
shift
need_tools clang:clang
build=$top/build-fuzz
CC=clang cmake -S "$top" -B "$build" -DFERRY_FUZZ=ON -DFERRY_WERROR=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in "$top"/tests/fuzz/fuzz_*.c; do
    f=${f##*/fuzz_}
    names+=("${f%.c}")
  done
fi
nice -n 10 cmake --build "$build" -j2 --target "${names[@]/#/fuzz_}" >/dev/null
export LSAN_OPTIONS=suppressions=$top/tests/lsan.supp
printf '%-10s %12s %10s %6s %8s\n' target executions exec/s cov findings
for name in "${names[@]}"; do
  out=$build/fuzz/$name
  mkdir -p "$out/corpus"
  log=$out/fuzz-$(date +%Y%m%d-%H%M%S).log
  touch "$out/.start"
  dict=()
  [ -f "$top/tests/fuzz/$name.dict" ] && dict=(-dict="$top/tests/fuzz/$name.dict")
  # A finding stops the run; its input is the artifact.
  nice -n 10 "$build/tests/fuzz/fuzz_$name" "${dict[@]}" -max_total_time="$seconds" -max_len=4096 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/" \
    "$out/corpus" "$top/tests/fuzz/corpus/$name" >"$log" 2>&1 || true
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  found=$(find "$out" -maxdepth 1 -newer "$out/.start" -regex '.*/\(crash\|leak\|timeout\|oom\)-.*')
  printf '%-10s %12s %10s %6s %8s\n' "$name" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
    "$(grep -c . <<<"$found" || true)"
  for f in $found; do
    echo "  finding: $f (log: $log)"
  done
done
