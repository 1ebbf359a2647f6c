#!/usr/bin/env bash
# A one-node Slurm cluster on localhost for the tests (and only for them):
# munge, slurmctld and slurmd from Debian's slurm-wlm, all state, sockets,
# logs and the configuration under DIR, on free ports.
#   slurmctl.sh start DIR    start; prints the path of slurm.conf (export it as SLURM_CONF)
#   slurmctl.sh stop DIR     cancel every job, stop the daemons
set -euo pipefail
cmd=${1:?usage: slurmctl.sh start|stop DIR}
dir=$(mkdir -p "${2:?usage: slurmctl.sh start|stop DIR}" && cd "$2" && pwd)
conf=$dir/slurm.conf

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop() {
  [ -f "$conf" ] && SLURM_CONF=$conf scancel --user="$(id -un)" 2>/dev/null || true
  for d in slurmd slurmctld munged; do
    [ -f "$dir/$d.pid" ] && kill "$(cat "$dir/$d.pid")" 2>/dev/null || true
  done
  for d in slurmd slurmctld munged; do
    for _ in $(seq 50); do
      [ -f "$dir/$d.pid" ] && kill -0 "$(cat "$dir/$d.pid")" 2>/dev/null || break
      sleep 0.1
    done
    rm -f "$dir/$d.pid"
  done
}

start() {
  stop
  mkdir -p "$dir/state" "$dir/spool"
  head -c 1024 /dev/urandom > "$dir/munge.key"
  chmod 400 "$dir/munge.key"
  munged --force --key-file "$dir/munge.key" --socket "$dir/munge.sock" \
    --pid-file "$dir/munged.pid" --log-file "$dir/munged.log" --seed-file "$dir/munge.seed"
  local user
  user=$(id -un)
  cat > "$conf" <<CONF
ClusterName=ferrytest
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
AuthInfo=socket=$dir/munge.sock
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
  export SLURM_CONF=$conf
  slurmctld -c -f "$conf"
  slurmd -f "$conf" -N localhost
  for _ in $(seq 100); do
    if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
      echo "$conf"
      return 0
    fi
    sleep 0.2
  done
  echo "slurm did not come up: see $dir/slurmctld.log and $dir/slurmd.log" >&2
  tail -5 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
  return 1
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) echo "usage: slurmctl.sh start|stop DIR" >&2; exit 2 ;;
esac
