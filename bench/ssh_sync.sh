#!/usr/bin/env bash
# ferry put against rsync over one OpenSSH server: the private sshd of the
# tests (tests/ssh/sshctl.sh) on 127.0.0.1, so the "remote" folder is on the
# same disk.  The data is a hyperparameter sweep as tests/ssh/gen_sweep.py
# writes it: RUNS (32) run folders of small files (configs, logs, metrics,
# checkpoints and W&B artifacts of CKPT_SIZE, 64K, each) and BIG (4) files of
# BIG_SIZE (64M) spread over the runs.  Tools, each copying the whole sweep
# into a fresh empty remote folder:
#   ferry       ferry put SRC ferrytest:DST, one process (up to 8 SFTP
#               connections a rank; FERRY_OPTS adds options, e.g. "--connections 8")
#   ferry-np2   the same under mpirun -np 2
#   rsync       rsync -a -e "ssh -F SSH_CONFIG" SRC/ ferrytest:DST/, one stream
#   rsync-p4    one rsync per top-level entry (run folder or root file), 4 at
#   rsync-p8    once (xargs -P 4), or 8
# ferry speaks SFTP (the server's internal-sftp: no shell, no remote
# process); rsync runs `rsync --server` through the user's login shell on
# the server, which reads ~/.bashrc: a slow one (pyenv init) costs rsync that
# much per connection, and so per parallel rsync.  That is part of what rsync
# costs on such a host, so it is measured as it is (the time of one
# `ssh ferrytest true` is printed with the table).  Every copy is checked: the
# remote folder's sha256 per path must equal the source's; a failed check
# marks the run failed.  REPS rounds (tools interleaved per round); median and
# best wall seconds (a final `sync` included), as a markdown table printed at
# the end and appended to OUT.
#
#   bash bench/ssh_sync.sh                  (BENCH_DIR=/var/tmp/sshbench, OUT=/tmp/ssh_bench.md)
#   QUICK=1 bash bench/ssh_sync.sh          (RUNS=8 BIG=1 BIG_SIZE=16M REPS=1)
#   RUNS=32 BIG=4 BIG_SIZE=64M CKPT_SIZE=64K REPS=3 TOOLS="ferry ferry-np2 rsync rsync-p4 rsync-p8"
#   FERRY_BIN=... FERRY_OPTS="--connections 8 --chunk-size 16M"
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${QUICK:-}" ]; then
  : "${RUNS:=8}" "${BIG:=1}" "${BIG_SIZE:=16M}" "${REPS:=1}"
fi
runs=${RUNS:-32}
nbig=${BIG:-4}
big_size=${BIG_SIZE:-64M}
ckpt_size=${CKPT_SIZE:-64K}
reps=${REPS:-3}
work=${BENCH_DIR:-/var/tmp/sshbench}
out_md=${OUT:-/tmp/ssh_bench.md}
ferry=${FERRY_BIN:-$top/build/ferry}
read -r -a ferry_opts <<<"${FERRY_OPTS:-}"
read -r -a tools <<<"${TOOLS:-ferry ferry-np2 rsync rsync-p4 rsync-p8}"
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
mpirun=(mpirun --oversubscribe -np 2)
source "$top/bench/benchlib.sh"
need_tools bc:bc rsync:rsync ssh:openssh-client /usr/sbin/sshd:openssh-server mpirun:openmpi-bin

# ferry without an ssh backend (an older build) is left out, not failed.
notes=()
if [[ " ${tools[*]} " == *" ferry"* ]]; then
  if [ ! -x "$ferry" ]; then
    notes+=("no ferry binary at $ferry: ferry left out")
    read -r -a tools <<<"$(printf '%s\n' "${tools[@]}" | grep -v '^ferry' | tr '\n' ' ')"
  elif "$ferry" get ssh://127.0.0.1:1/x /nonexistent/x --yes 2>&1 | grep -q "cannot reach 'ssh://'"; then
    notes+=("$ferry has no ssh:// backend: ferry left out")
    read -r -a tools <<<"$(printf '%s\n' "${tools[@]}" | grep -v '^ferry' | tr '\n' ' ')"
  fi
fi
[ ${#tools[@]} -gt 0 ] || { echo "no tool to run" >&2; exit 1; }

mkdir -p "$work/data" "$work/logs" "$work/sums"
rm -rf "$work/run" "$work/state"
mkdir -p "$work/run" "$work/state"

# tree_sums DIR: "SHA256  PATH" of every file under DIR (but hidden folders
# such as .ferry/), by path.
tree_sums() {
  (cd "$1" && find . -type f -not -path '*/.*/*' -printf '%P\0' |
    xargs -0 -r -n 256 -P "$(nproc)" sha256sum) | LC_ALL=C sort -k2
}

# --- the data, generated once per shape and kept ----------------------------
tag=sweep-r$runs-c$ckpt_size-b${nbig}x$big_size
data=$work/data/$tag
sums=$work/sums/$tag
if [ ! -f "$data.done" ]; then
  rm -rf "$data"
  python3 "$top/tests/ssh/gen_sweep.py" "$data" --runs "$runs" --ckpt-size "$ckpt_size" \
    --big "$nbig" --big-size "$big_size"
  touch "$data.done"
fi
src=$(echo "$data"/sweep_*)
[ -f "$sums" ] || tree_sums "$src" >"$sums"
nfiles=$(wc -l <"$sums")
mib=$(du -sm --apparent-size "$src" | cut -f1)
what="$runs runs, $nfiles files, $mib MiB ($nbig x $big_size, the rest ${ckpt_size} or less)"

# --- the server ---------------------------------------------------------------
srv=$work/srv
bash "$top/tests/ssh/sshctl.sh" stop "$srv" >/dev/null 2>&1 || true
rm -rf "$srv"
# Always redirected: sshd stays in the background and would hold a pipe open.
bash "$top/tests/ssh/sshctl.sh" start "$srv" >"$work/sshctl.log" 2>&1 || { cat "$work/sshctl.log" >&2; exit 1; }
trap 'bash "$top/tests/ssh/sshctl.sh" stop "$srv" >/dev/null 2>&1 || true' EXIT
# shellcheck disable=SC1091
source "$srv/env"
ssh_=(ssh -F "$SSH_CONFIG")
# What one remote command costs before it does anything (login shell, .bashrc).
t0=$(date +%s.%N)
"${ssh_[@]}" ferrytest true
shell_s=$(echo "$(date +%s.%N) - $t0" | bc -l)

# --- the tools ----------------------------------------------------------------
# copy TOOL DST STATE: SRC's contents into the (existing, empty) folder DST.
copy() {
  local tool=$1 dst=$2 state=$3
  case $tool in
    ferry) HOME=$SSH_HOME "$ferry" put -y -q --progress never --state-dir "$state" \
             "${ferry_opts[@]}" "$src" "ferrytest:$dst" ;;
    ferry-np2) HOME=$SSH_HOME "${mpirun[@]}" "$ferry" put -y -q --progress never --state-dir "$state" \
                 "${ferry_opts[@]}" "$src" "ferrytest:$dst" ;;
    rsync) rsync -a -e "${ssh_[*]}" "$src/" "ferrytest:$dst/" ;;
    rsync-p*)
      # One rsync per top-level entry: the run folders and the root files.
      (cd "$src" && find . -mindepth 1 -maxdepth 1 -printf '%P\0' |
        xargs -0 -P "${tool#rsync-p}" -I{} rsync -a -e "${ssh_[*]}" "$src/{}" "ferrytest:$dst/") ;;
    *) echo "unknown tool $tool" >&2; return 2 ;;
  esac
}

# measure LOG COMMAND...: sync, run COMMAND (its output to LOG), sync; sets secs.
measure() {
  local log=$1 start end
  shift
  sync
  sleep 1      # let write-back of the last run settle
  start=$(date +%s.%N)
  if ! "$@" >"$log" 2>&1; then
    echo "FAILED: $* (log $log):" >&2
    tail -20 "$log" >&2
    return 1
  fi
  sync
  end=$(date +%s.%N)
  secs=$(echo "$end - $start" | bc -l)
}

declare -A times=() fails=()
run_no=0
for rep in $(seq "$reps"); do
  echo "round $rep/$reps ($what):"
  for tool in "${tools[@]}"; do
    run_no=$((run_no + 1))
    dst=$work/run/$run_no-$tool
    state=$work/state/$run_no-$tool
    rm -rf "$dst" "$state"
    mkdir -p "$dst"
    if measure "$work/logs/$run_no-$tool.log" copy "$tool" "$dst" "$state"; then
      if cmp -s <(tree_sums "$dst") "$sums"; then
        times[$tool]+="$secs "
        printf '  %-10s %8.2f s\n' "$tool" "$secs"
      else
        fails[$tool]=$(( ${fails[$tool]:-0} + 1 ))
        notes+=("$tool (round $rep): the remote folder's sha256 differ from the source's")
        diff <(tree_sums "$dst") "$sums" | head -5 >&2 || true
      fi
    else
      fails[$tool]=$(( ${fails[$tool]:-0} + 1 ))
      notes+=("$tool (round $rep) exited non-zero, log $work/logs/$run_no-$tool.log")
    fi
    rm -rf "$dst" "$state"
  done
done

# --- the table ----------------------------------------------------------------
{
  echo
  echo "### ferry put vs rsync over ssh on a local sshd ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "$(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB; $(ssh -V 2>&1 | cut -d, -f1)" \
    "(tests/ssh/sshctl.sh, 127.0.0.1), $(rsync --version | head -1 | awk '{print $1, $3}');" \
    "ferry $ferry ${FERRY_OPTS:+($FERRY_OPTS) }(the tree was at" \
    "$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo "?") when the table was written;" \
    "FERRY_BIN may be older); data: $what; REPS=$reps; wall seconds including a final sync." \
    "One \`ssh ferrytest true\` (login shell and ~/.bashrc) took $(printf '%.2f' "$shell_s") s."
  echo
  echo "| tool | median s | best s | MiB/s (median) | files/s (median) | ok runs |"
  echo "|---|---:|---:|---:|---:|---:|"
  for tool in "${tools[@]}"; do
    t=${times[$tool]:-}
    n=$(echo "$t" | wc -w)
    if [ "$n" -eq 0 ]; then
      echo "| $tool | failed | | | | 0/$reps |"
      continue
    fi
    read -r med best <<<"$(median_best "$t")"
    printf '| %s | %.2f | %.2f | %.0f | %.0f | %d/%d |\n' "$tool" "$med" "$best" \
      "$(echo "$mib / $med" | bc -l)" "$(echo "$nfiles / $med" | bc -l)" "$n" "$reps"
  done
  if [ ${#notes[@]} -gt 0 ]; then
    echo
    for n in "${notes[@]}"; do echo "- $n"; done
  fi
} | tee -a "$out_md"
[ ${#fails[@]} -eq 0 ]
