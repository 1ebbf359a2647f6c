#!/usr/bin/env bash
# A real Slurm (Debian's slurm-wlm and munge, one node on localhost, see
# tests/slurm/): `ferry get --schedule` writes and submits an array job over
# three scenes of a test-hub dataset; jobs/pull.sbatch and jobs/scenes.sbatch
# run with sbatch --wait; jobs/pipeline.sbatch is signalled mid-download
# (USR1 to the batch shell, as --signal=B:USR1 does), stops with 75,
# requeues itself and finishes after the requeue.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netlib.sh"
SLURMCTL=$FERRY_SOURCE_DIR/tests/slurm/slurmctl.sh
stop_all() {
  bash "$SLURMCTL" stop "$WORK/slurm" >/dev/null 2>&1 || true
  stop_servers
}
trap stop_all EXIT
SLURM_CONF=$(bash "$SLURMCTL" start "$WORK/slurm")
export SLURM_CONF
# The tasks start ferry themselves: one process per task here, or mpirun where set.
export FERRY="$FERRY_BIN" FERRY_LAUNCH=""
export HF_TOKEN=hf_test_alice
start_hub
make_repo scenes3 "$WORK/scenes3.jsonl" --scenes 3 --files 5 --sizes 16k --seed 4

# wait_job ID: until Slurm no longer lists the job (at most 300 s: a loaded
# machine schedules a requeued job slowly).
wait_job() {
  for _ in $(seq 1500); do
    squeue -h -j "$1" 2>/dev/null | grep -q . || return 0
    sleep 0.2
  done
  return 1
}

# --- get --schedule: an array, one scene a task, two at a time ------------------------
may_fail "$FERRY_BIN" get hf://datasets/alice/scenes3 "$WORK/dst" --schedule --yes \
  --slurm-array-parallelism 2 --slurm-job-name ferry-test --slurm-time 00:10:00 > "$WORK/sched.out" 2>&1
check "--schedule: exit 0 ($status)" test "$status" -eq 0
job=$(sed -n 's/^Submitted batch job \([0-9]*\).*/\1/p' "$WORK/sched.out")
check "sbatch took it (job '$job')" test -n "$job"
script=$(sed -n 's/^scheduling 3 scenes as a Slurm array job: //p' "$WORK/sched.out")
check "the script caps the array at two tasks at once" grep -q "^#SBATCH --array=0-2%2$" "$script"
check "the token is nowhere in the script" bash -c "! grep -q '$HF_TOKEN' '$script'"
check "the array finished" wait_job "$job"
check "every file of the three scenes arrived" matches_manifest "$WORK/dst" "$WORK/scenes3.jsonl"
check "each task wrote its log" test "$(find "$(dirname "$script")" -name 'ferry-test-*.out' | wc -l)" -eq 3
check "each task had its own state" test "$(find "$(dirname "$script")" -maxdepth 1 -name 'scene-*' | wc -l)" -eq 3
check "and one limiter file for all" test -e "$(dirname "$script")/limiter"

# --- jobs/pull.sbatch, with mpirun inside the allocation -------------------------------
may_fail env SRC=hf://datasets/alice/scenes3 DST="$WORK/pull" \
  FERRY_LAUNCH="mpirun --oversubscribe -np 2" sbatch --wait --nodes=1 --ntasks-per-node=2 --output="$WORK/pull-%j.out" \
  "$FERRY_SOURCE_DIR/jobs/pull.sbatch" > /dev/null 2>&1
check "pull.sbatch: exit 0 ($status)" test "$status" -eq 0
check "pull.sbatch: the dataset arrived" matches_manifest "$WORK/pull" "$WORK/scenes3.jsonl"

# --- jobs/scenes.sbatch: two chosen scenes, one task at a time -------------------------
printf 'scene_000\nscene_002\n' > "$WORK/scenes.txt"
may_fail env SRC=hf://datasets/alice/scenes3 DST="$WORK/some" SCENES="$WORK/scenes.txt" \
  sbatch --wait --array=0-1%1 --output="$WORK/scenes-%A_%a.out" \
  "$FERRY_SOURCE_DIR/jobs/scenes.sbatch" > /dev/null 2>&1
check "scenes.sbatch: exit 0 ($status)" test "$status" -eq 0
check "scenes.sbatch: its two scenes arrived" bash -c \
  "test -d '$WORK/some/scene_000' && test -d '$WORK/some/scene_002' && test ! -e '$WORK/some/scene_001'"
check "and are whole" matches_manifest "$WORK/some/scene_000" "$WORK/scenes3.jsonl" scene_000

# --- jobs/pipeline.sbatch: signalled mid-download, requeued, finished ------------------
mkdir -p "$WORK/www/slow"
head -c $((16 * 1024 * 1024)) /dev/urandom > "$WORK/www/slow/big.bin"
start_nginx "$WORK/www"
cat > "$WORK/job.json" <<EOF
{"name": "requeue", "settings": ["--yes", "--progress", "never"],
 "phases": [{"name": "fetch", "run": ["get", "$WEB/slow/big.bin", "$WORK/pipe", "--chunk-size", "4M",
                                      "--connections", "1"]},
            {"name": "again", "run": ["get", "hf://datasets/alice/scenes3", "$WORK/pipe/ds"]}]}
EOF
job=$(JOB=$WORK/job.json sbatch --parsable --ntasks=1 --output="$WORK/pipe-%j.out" \
  "$FERRY_SOURCE_DIR/jobs/pipeline.sbatch")
# Signal once a chunk is journalled (the slow file comes at 2 MiB/s, a chunk at a time).
wait_for_journal "$WORK/pipe" "^C " 1
scancel --signal=USR1 --batch "$job"
# Slurm holds a requeued job back for a couple of minutes (its BeginTime);
# once it is pending again, let it start now.
for _ in $(seq 600); do
  if scontrol show job "$job" | grep -q "Restarts=1" &&
     [ "$(squeue -h -j "$job" -o %T)" = PENDING ]; then
    scontrol update jobid="$job" StartTime=now || true
  fi
  [ "$(squeue -h -j "$job" -o %T)" = RUNNING ] && scontrol show job "$job" | grep -q "Restarts=1" && break
  sleep 0.2
done
check "the pipeline job finished after the requeue" wait_job "$job"
check "it was requeued once" bash -c "scontrol show job '$job' | grep -q 'Restarts=1'"
check "the first start stopped cleanly and asked to be requeued" \
  grep -q "stopped (exit 75): requeueing job $job" "$WORK/pipe-$job.out"
check "the second start resumed and finished every phase" grep -q "^2 of 2 phases done" "$WORK/pipe-$job.out"
check "the slow file is whole" cmp "$WORK/pipe/big.bin" "$WORK/www/slow/big.bin"
check "and the dataset too" matches_manifest "$WORK/pipe/ds" "$WORK/scenes3.jsonl"
check "the download resumed: journalled chunks were not fetched again" python3 - \
  "$NGINX_PREFIX/logs/access.log" <<'PY'
import re, sys
sent = sum(int(re.search(r'" \d{3} (\d+)', l).group(1)) for l in open(sys.argv[1])
           if "/slow/big.bin" in l and '"GET ' in l)
print("bytes served", sent)
sys.exit(0 if sent < 28 * 1024 * 1024 else 1)
PY

# --- jobs/pull.sbatch under mpirun, cancelled: scancel signals every process ----------
# of the job, mpirun too, which then exits 1; the script ends the job with 75.
gen_tree "$WORK/big" --scenes 2 --small 3000 --small-size 2K --large 1 --large-size 40M --seed 9
job=$(SRC=$WORK/big DST=$WORK/cancelled FERRY_ARGS="--json --chunk-size 256K" \
  FERRY_LAUNCH="mpirun --oversubscribe -np 2" sbatch --parsable --nodes=1 --ntasks-per-node=2 \
  --output="$WORK/cancel-%j.out" "$FERRY_SOURCE_DIR/jobs/pull.sbatch")
wait_for_journal "$WORK/cancelled" '^[CF] ' 50 || true
scancel "$job"
check "the cancelled job ended" wait_job "$job"
check "with exit 75" bash -c "scontrol show job '$job' | grep -q 'ExitCode=75:0'"
check "its ranks stopped cleanly" python3 -c "
import json, sys
r = json.load(open('$WORK/cancelled/.ferry/report.json'))
sys.exit(0 if r['interrupted'] and r['status'] == 75 else 1)"

finish
