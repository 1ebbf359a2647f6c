#!/usr/bin/env bash
# Usage errors exit 2 with a message, always: bad numbers and enums, missing
# arguments, unknown options, options that exclude each other, and sources or
# destinations of the wrong kind.  None may crash (139, 134) or start work.
source "$(dirname "$0")/lib.sh"

src=$WORK/src
mkdir -p "$src/scene_a"
echo data > "$src/scene_a/f.txt"
printf 'file://%s/scene_a/f.txt\n' "$src" > "$WORK/list.txt"
mkdir -p "$WORK/images"
# One real image, so that an embed that wrongly starts leaves a file behind.
/usr/bin/python3 -c 'import sys; from PIL import Image; Image.new("RGB", (8, 8), (9, 99, 199)).save(sys.argv[1])' \
  "$WORK/images/one.png"
# No request may leave the machine: a Hub nobody answers.
export HF_ENDPOINT=http://127.0.0.1:9 HF_TOKEN=hf_usage_test_token

S=$src D=$WORK/dst M=@$WORK/list.txt I=$WORK/images H=$WORK/e.h5
cases=(
  # SSH locations that ssh would not take (a bad port, a host that could read
  # as an option, a user with a shell character), refused before connecting;
  # targets that are not in the config, and options that need targets
  "put $S ssh://user@host:99999/x"
  "sync $S ssh://-oProxyCommand=x/y"
  "put $S 'us;er@host:x'"
  "sync $S --target nowhere"
  "put $S $D --watch 5"
  "get $S $D --target x"
  # buckets' names and endpoints are checked
  "put $S s3://Not_A_Bucket/x"
  "get s3://bucket/x $D --endpoint ftp://example.org"
  "put --endpoint http://127.0.0.1:9 $S gs://b!/x"
  # numbers out of range or not numbers at all
  "get --connections 0 $S $D"
  "get --connections -5 $S $D"
  "get --connections abc $S $D"
  "get --connections 8x $S $D"
  "get --connections 257 $S $D"
  "get --connections '' $S $D"
  "get --chunk-size 0 $S $D"
  "get --chunk-size abc $S $D"
  "get --chunk-size -1M $S $D"
  "put --files-per-commit 0 $S hf://datasets/me/x"
  "put --files-per-commit abc $S hf://datasets/me/x"
  "get --limiter-jobs 0 $S $D"
  "get --limiter-jobs 3x $S $D"
  "get --schedule --slurm-array-parallelism 0 $S $D"
  "get --schedule --slurm-array-parallelism many $S $D"
  "embed $I --out $H --dim 0"
  "embed $I --out $H --dim abc"
  "embed $I --out $H --dim 99999999999999"
  "embed $I --out $H --batch -1"
  "embed $I --out $H --seed abc"
  "embed $I --out $H --seed 12x"
  "embed $I --out $H --commit-every 0"
  "embed $I --out $H --commit-every abc"
  "embed $I --out $H --commit-every 1s"
  "knn $H -k 0"
  "knn $H -k abc"
  # enums
  "get --progress sometimes $S $D"
  "embed $I --out $H --embedder bogus"
  "embed $I --out $H --device tpu"
  "knn $H --metric manhattan"
  # missing arguments
  "get"
  "get $S"
  "put $S $D extra"
  "plan"
  "embed"
  "embed $I"
  "knn"
  "extract $WORK/a.tar"
  "verify $D"
  "status"
  "locks"
  "run"
  "get $S $D --connections"
  "get $S $D --rate"
  # unknown options and commands
  "get --bogus $S $D"
  "get -Z $S $D"
  "frobnicate $S $D"
  "--help frobnicate"
  # options that exclude each other or belong to other commands
  "get --scenes a --scene-includes b $S $D"
  "put --public $S $D"
  "get --create $S $D"
  "put --hf-cache $S $D"
  "put --extract $WORK/x $S $D"
  "get --extract $WORK/x --hf-cache hf://datasets/me/x $D"
  "plan --schedule $S $D"
  "get --slurm-time 1:00:00 $S $D"
  "knn $H --geo $WORK/meta.csv --metric l2"
  "get --rate api=x $S $D"
  # sources and destinations of the wrong kind
  "put $M hf://datasets/me/x"
  "sync $M hf://datasets/me/x"
  "put http://127.0.0.1:9/f.txt $D"
  "put hf://datasets/me/x $D"
  "get $S hf://datasets/me/x"
  "get $S http://127.0.0.1:9/dst"
  "get hf://datasets/me/x http://127.0.0.1:9/dst"
  "sync hf://datasets/me/x $M"
)

for line in "${cases[@]}"; do
  eval "set -- $line"
  may_fail timeout 60 "$FERRY_BIN" --yes "$@" > "$WORK/out" 2> "$WORK/err"
  if [ "$status" -eq 2 ] && grep -q '^ferry: .\{10,\}' "$WORK/err" &&
     ! grep -q 'Segmentation\|Aborted\|signal' "$WORK/err"; then
    ok "exit 2 and a message: ferry $line"
  else
    fail "ferry $line: exit $status, stderr: $(head -c 300 "$WORK/err")"
  fi
done

# Each command takes its own options: a usage error names what is wrong, in
# so many words.  Cases are "ARGS|MESSAGE".
named=(
  # an option of another command
  "embed $I --out $H --connections 4|--connections is not an option of embed (see ferry embed --help)"
  "knn $H --chunk-size 1M|--chunk-size is not an option of knn"
  "extract $WORK/a.tar -C $WORK/x --against $S|--against is not an option of extract"
  "verify $D --against $S --out $H|--out is not an option of verify"
  "get $S $D -k 3|-k is not an option of get"
  "get $S $D -C $WORK/x|-C is not an option of get"
  "locks $D --connections 2|--connections is not an option of locks"
  "status $D --cleanup|--cleanup is not an option of status"
  "run $WORK/job.json --state-dir $WORK/s|--state-dir is not an option of run"
  "plan --create $S $D|--create is not an option of plan"
  "sync --hf-cache $S $D|--hf-cache is not an option of sync"
  "get --files-per-commit 5 $S $D|--files-per-commit is not an option of get"
  "embed $I --out $H --metric l2|--metric is not an option of embed"
  "knn $H --dim 8|--dim is not an option of knn"
  # zero, negative and overflowing numbers
  "get --connections 0 $S $D|--connections takes a whole number from 1 to 256, not '0'"
  "get --connections=0 $S $D|--connections takes a whole number from 1 to 256, not '0'"
  "get --connections -1 $S $D|--connections takes a whole number from 1 to 256, not '-1'"
  "get --connections 99999999999999999999 $S $D|--connections takes a whole number from 1 to 256, not '99999999999999999999'"
  "get --limiter-jobs -3 $S $D|--limiter-jobs takes a whole number"
  "embed $I --out $H --dim 4294967297|--dim takes a whole number from 1 to 1000000"
  "embed $I --out $H --batch 0|--batch takes a whole number"
  "embed $I --out $H --seed 99999999999999999999|--seed takes a whole number"
  "knn $H -k -1|-k takes a whole number"
  "knn $H -k 18446744073709551617|-k takes a whole number"
  "put --files-per-commit 10001 $S hf://datasets/me/x|--files-per-commit takes a whole number"
  "embed $I --out $H --commit-every -1|--commit-every takes seconds"
  "embed $I --out $H --commit-every 1e400|--commit-every takes seconds"
  "get --chunk-size 99999999999T $S $D|--chunk-size"
  # missing values
  "get $S $D --connections|--connections needs a value"
  "get $S $D --chunk-size=|--chunk-size needs a value"
  "extract $WORK/a.tar -C|-C needs a value"
  "knn $H -k|-k needs a value"
  "embed $I --out|--out needs a value"
  "verify $D --against|--against needs a value"
  "get --hf-cache= hf://datasets/me/x|--hf-cache="
  # unknown options, and values where none is taken
  "get --bogus $S $D|unknown option '--bogus'"
  "get --conections 4 $S $D|unknown option '--conections'"
  "knn $H -x|unknown option '-x'"
  "get --yes=no $S $D|--yes takes no value"
  # bad choices
  "--progress sometimes get $S $D|--progress takes auto, always or never"
  "embed $I --out $H --device tpu|--device takes auto, cpu or gpu"
  "knn $H --metric manhattan|--metric takes l2 or cosine"
)
for case in "${named[@]}"; do
  line=${case%%|*} want=${case#*|}
  eval "set -- $line"
  may_fail timeout 60 "$FERRY_BIN" --yes "$@" > "$WORK/out" 2> "$WORK/err"
  if [ "$status" -eq 2 ] && grep -qF -- "ferry: $want" "$WORK/err" && [ ! -s "$WORK/out" ]; then
    ok "exit 2, '$want': ferry $line"
  else
    fail "ferry $line: exit $status, want '$want', stderr: $(head -c 300 "$WORK/err")"
  fi
done
check "no usage error left anything behind" test ! -e "$D" -a ! -e "$H"

# Every option with a good value is taken (none silently dropped): the
# parse gets as far as the command, which is unknown here.
good=(-n -y -q -v --json "--progress never" "--state-dir $WORK/s" --all "--scenes a"
  "--scene-includes a" "--include '*.png'" "--exclude 'misc/'" "--chunk-size 1M" --force
  --no-default-excludes --cleanup --delete --fsync --recheck "--connections 4" "--against $S"
  --hf-cache "--hf-cache=$WORK/c" "--rate api=10/60" "--limiter-file $WORK/l" "--limiter-jobs 2"
  --create --public "--files-per-commit 10" "-C $WORK/x" "--directory $WORK/x" --overwrite
  --remove-archive "--spec $WORK/s.json" "--extract $WORK/x" "--out $H" "--embedder rp" "--dim 8"
  "--seed 3" "--weights $WORK/w.h5" "--batch 4" "--metric l2" "--geo $WORK/g" "--commit-every 0.5"
  "--device cpu" "-k 3" --schedule "--slurm-job-name j" "--slurm-time 1:00"
  "--slurm-array-parallelism 2" "--slurm-gres gpu:1" "--slurm-partition p" "--slurm-account a")
for opt in "${good[@]}"; do
  eval "set -- $opt"
  may_fail "$FERRY_BIN" "$@" frobnicate > "$WORK/out" 2> "$WORK/err"
  check "$opt is taken (exit $status)" grep -q "unknown command 'frobnicate'" "$WORK/err"
done

# Under mpirun every rank stops with the same status, and no rank crashes.
for line in "get --connections 0 $S $D" "put $M hf://datasets/me/x" "embed $I --out $H --dim x" \
            "--help frobnicate"; do
  eval "set -- $line"
  may_fail timeout 60 mpirun -np 2 --oversubscribe "$FERRY_BIN" --yes "$@" > "$WORK/out" 2> "$WORK/err"
  check "-np 2: exit 2 for ferry $line ($status)" test "$status" -eq 2
done
# The same for the options of other commands, numbers out of range, missing
# values and unknown options; the message is printed once (by rank 0).
for case in "embed $I --out $H --connections 4|--connections is not an option of embed" \
            "get --connections -1 $S $D|--connections takes a whole number from 1 to 256, not '-1'" \
            "embed $I --out $H --seed 99999999999999999999|--seed takes a whole number" \
            "get $S $D --connections|--connections needs a value" \
            "get --bogus $S $D|unknown option '--bogus'"; do
  line=${case%%|*} want=${case#*|}
  eval "set -- $line"
  may_fail timeout 60 mpirun -np 2 --oversubscribe "$FERRY_BIN" --yes "$@" > "$WORK/out" 2> "$WORK/err"
  check "-np 2: exit 2 and '$want' once for ferry $line ($status)" \
    test "$status" -eq 2 -a "$(grep -cF -- "ferry: $want" "$WORK/err")" = 1
done

# Each command's --help lists the options it takes, and only those.
"$FERRY_BIN" sync --help > "$WORK/help"
for opt in --create --public --files-per-commit --no-default-excludes --connections --schedule; do
  check "sync --help lists $opt" grep -q -- "^ *$opt\b" "$WORK/help"
done
for opt in --hf-cache --extract --delete -k --out; do
  check "sync --help does not list $opt" test "$(grep -c -- "^ *$opt\b" "$WORK/help")" = 0
done
"$FERRY_BIN" embed --help > "$WORK/help"
check "embed --help lists --dim, not --connections" \
  test "$(grep -c -- '^ *--dim\b' "$WORK/help")" = 1 -a "$(grep -c -- '--connections' "$WORK/help")" = 0

# The plan prompt needs a terminal: script(1) gives ferry one and types the
# answer.  Only Enter, y or yes (any case) starts; anything else cancels.
# answer TEXT ARGS...: run ferry ARGS on a terminal that reads TEXT.
answer() {
  local text=$1
  shift
  printf '%b' "$text" | script -qec "$FERRY_BIN --progress never $*" /dev/null > "$WORK/tty" 2>&1
}
n=0
for reply in 'n\n' 'no\n' 'N\n' 'x\n' 'yes please\n' 'yy\n' 'q\n' ''; do
  n=$((n + 1))
  may_fail answer "$reply" get "$S" "$WORK/cancel_$n"
  check "answer '$reply': exit 0 ($status), 'cancelled'" \
    test "$status" -eq 0 -a "$(grep -c '^.*cancels: cancelled' "$WORK/tty")" = 1
  check "answer '$reply': nothing copied" test ! -e "$WORK/cancel_$n/scene_a/f.txt"
done
for reply in '\n' 'y\n' 'Y\n' 'yes\n' 'YES\n' ' Yes \n'; do
  n=$((n + 1))
  may_fail answer "$reply" get "$S" "$WORK/go_$n"
  check "answer '$reply': exit 0 ($status), the file is there" \
    test "$status" -eq 0 -a "$(cat "$WORK/go_$n/scene_a/f.txt" 2>/dev/null)" = data
done
# --schedule asks the same question before it writes or submits a job.
may_fail answer 'n\n' get --schedule "$S" "$WORK/sched"
check "--schedule, answer n: exit 0 ($status), cancelled" \
  test "$status" -eq 0 -a "$(grep -c 'cancelled' "$WORK/tty")" = 1
check "--schedule, answer n: no job written" test -z "$(ls -d "$WORK"/sched/.ferry/slurm-* 2>/dev/null)"

finish
