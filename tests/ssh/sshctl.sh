#!/usr/bin/env bash
# A private OpenSSH server for ferry's ssh:// tests, run as the current user
# (root or not) with its own keys and config in DIR.  /etc/ssh and the system's
# sshd service are never used or touched.
#
#   sshctl.sh start DIR   start sshd on 127.0.0.1:PORT (a free port); write DIR/env
#   sshctl.sh stop DIR    kill sshd and every connection it serves
#   sshctl.sh rekey DIR   new host key, restart on the same port; the known_hosts
#                         files keep the OLD key (for "changed host key is refused"
#                         tests); DIR/known_hosts.new holds the new one
#   sshctl.sh trust DIR   write the current host key into both known_hosts files
#   sshctl.sh drop DIR    SIGKILL every per-connection sshd process (not the
#                         listener): clients see their connections die and can
#                         connect again
#
# ALWAYS redirect this script's output, e.g.
#     bash tests/ssh/sshctl.sh start "$d" >"$d/sshctl.out" 2>&1
# sshd keeps running in the background after `start` returns; a caller that reads
# this script's stdout/stderr through a pipe (`$(...)`, `| tee`, a test harness)
# may otherwise wait for it.  sshd's own output goes to DIR/sshd.log (-E).
#
# After start, `. DIR/env` gives SSH_PORT SSH_HOST SSH_USER SSH_KEY
# SSH_KNOWN_HOSTS SSH_CONFIG SSH_DIR SSH_HOME (see tests/ssh/README.md).
set -euo pipefail

usage() { echo "usage: $0 start|stop|rekey|trust|drop DIR" >&2; exit 2; }
die() { echo "sshctl: $*" >&2; exit 1; }

SSHD=${SSHD:-/usr/sbin/sshd}

# /usr/bin/python3 when there is one: a pyenv shim costs most of a second.
PYTHON=${PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3 )}

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Pids of all descendants of $1 (read from /proc, so procps is not needed).
descendants() {
  local root=$1 p c
  local -A kids=()
  while read -r p c; do kids[$c]+="$p "; done < <(
    awk '{ s = $0; sub(/^.*\) /, "", s); split(s, a, " "); print $1, a[2] }' /proc/[0-9]*/stat 2>/dev/null || true)
  local queue=("$root") out=()
  while [ ${#queue[@]} -gt 0 ]; do
    p=${queue[0]}; queue=("${queue[@]:1}")
    for c in ${kids[$p]:-}; do out+=("$c"); queue+=("$c"); done
  done
  echo "${out[@]:-}"
}

# Running and not a zombie (an init that never reaps, as in some containers,
# leaves a killed sshd as a zombie that `kill -0` still finds).
alive() {
  local st
  kill -0 "$1" 2>/dev/null || return 1
  st=$(sed -E 's/^.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$st" != Z ] && [ "$st" != X ]
}

listener_pid() {
  local dir=$1 pid
  [ -s "$dir/sshd.pid" ] || return 1
  pid=$(cat "$dir/sshd.pid")
  alive "$pid" || return 1
  echo "$pid"
}

keygen() { rm -f "$1" "$1.pub"; ssh-keygen -q -t ed25519 -N '' -C "$2" -f "$1"; }

write_known_hosts() {   # FILE HOSTKEY.pub PORT
  local key
  key=$(cut -d' ' -f1,2 "$2")
  # Plain (unhashed) entries, the format OpenSSH and libssh look up for a port
  # other than 22: "[HOST]:PORT KEYTYPE BASE64".
  printf '[127.0.0.1]:%s %s\n[localhost]:%s %s\n' "$3" "$key" "$3" "$key" >"$1"
  chmod 600 "$1"
}

write_client_files() {
  local dir=$1 port=$2 user=$3
  local home=$dir/home
  write_known_hosts "$dir/known_hosts" "$dir/host_ed25519.pub" "$port"
  # The same entries hashed (ssh-keygen -H), for tests of hashed known_hosts.
  cp "$dir/known_hosts" "$dir/known_hosts.hashed"
  ssh-keygen -q -H -f "$dir/known_hosts.hashed" >/dev/null 2>&1
  rm -f "$dir/known_hosts.hashed.old"

  host() {     # NAME KEY KNOWN_HOSTS [EXTRA LINE]: one Host block for this server
    cat <<EOF
Host $1
  HostName 127.0.0.1
  Port $port
  User $user
  IdentityFile $2
  UserKnownHostsFile $3
  StrictHostKeyChecking yes
  IdentitiesOnly yes
  BatchMode yes
EOF
    [ -z "${4:-}" ] || echo "  $4"
  }
  config() {   # KEY KNOWN_HOSTS CONFIGFILE (for ProxyCommand)
    echo "# ferry test server (tests/ssh/sshctl.sh)"
    host ferrytest "$1" "$2"
    echo
    echo "# The same server reached through itself as a jump host (ProxyJump)."
    host ferryjump "$1" "$2" "ProxyJump ferrytest"
    echo
    echo "# The same again through an explicit ProxyCommand that names this file."
    host ferryproxy "$1" "$2" "ProxyCommand ssh -F $3 -W [%h]:%p ferrytest"
  }
  config "$dir/id_ed25519" "$dir/known_hosts" "$dir/ssh_config" >"$dir/ssh_config"

  mkdir -p "$home/.ssh"
  chmod 700 "$home" "$home/.ssh"
  cp "$dir/id_ed25519" "$dir/id_ed25519.pub" "$home/.ssh/"
  cp "$dir/known_hosts" "$home/.ssh/known_hosts"
  config "$home/.ssh/id_ed25519" "$home/.ssh/known_hosts" "$home/.ssh/config" >"$home/.ssh/config"
  chmod 600 "$home/.ssh/id_ed25519" "$home/.ssh/config" "$home/.ssh/known_hosts" "$dir/ssh_config"
  chmod 644 "$home/.ssh/id_ed25519.pub"

  # libssh 0.10 and OpenSSH's ssh take ~ from the passwd entry, not from $HOME.
  # DIR/with_home runs a command with HOME=DIR/home and, when libnss-wrapper is
  # installed, with an LD_PRELOADed passwd entry whose home is DIR/home too.
  { getent passwd "$(id -u)" | head -1 | awk -F: -v h="$home" 'BEGIN { OFS = ":" } { $6 = h; print }'
    [ "$(id -u)" -eq 0 ] || getent passwd 0 | head -1; } >"$dir/passwd"
  getent group "$(id -g)" | head -1 >"$dir/group"
  [ -s "$dir/group" ] || echo "$(id -gn):x:$(id -g):" >"$dir/group"
  cat >"$dir/with_home" <<EOF
#!/bin/sh
# with_home CMD [ARGS...]: run CMD with HOME=$home (tests/ssh/sshctl.sh).
export HOME='$home'
for lib in /usr/lib/*-linux-gnu/libnss_wrapper.so /usr/lib64/libnss_wrapper.so /usr/lib/libnss_wrapper.so; do
  if [ -e "\$lib" ]; then
    export LD_PRELOAD="\$lib\${LD_PRELOAD:+ \$LD_PRELOAD}"
    export NSS_WRAPPER_PASSWD='$dir/passwd' NSS_WRAPPER_GROUP='$dir/group'
    # For ASan builds: ASan refuses to start when another library is preloaded
    # first, and aborts on nss_wrapper's dlopen(RTLD_DEEPBIND) of libc.
    export ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0"
    export NSS_WRAPPER_DISABLE_DEEPBIND=1
    break
  fi
done
exec "\$@"
EOF
  chmod 755 "$dir/with_home"
}

write_sshd_config() {
  local dir=$1 port=$2
  cat >"$dir/sshd_config" <<EOF
# ferry test sshd (tests/ssh/sshctl.sh); run as $(id -un), not the system's.
ListenAddress 127.0.0.1
Port $port
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding yes
PermitUserEnvironment no
MaxStartups 100:30:200
MaxSessions 64
MaxAuthTries 10
LogLevel VERBOSE
Subsystem sftp internal-sftp
EOF
}

# Starts sshd on $port; returns 0 when it listens, 1 if it could not bind.
launch() {
  local dir=$1 port=$2 off pid
  write_sshd_config "$dir" "$port"
  rm -f "$dir/sshd.pid"
  touch "$dir/sshd.log"
  off=$(stat -c %s "$dir/sshd.log")
  # -D: stay in the foreground (so $! is the listener), -e with -E: log to the file.
  "$SSHD" -D -e -f "$dir/sshd_config" -E "$dir/sshd.log" </dev/null >>"$dir/sshd.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do
    if tail -c +$((off + 1)) "$dir/sshd.log" | grep -q "Server listening on 127.0.0.1 port $port\."; then
      echo "$pid" >"$dir/sshd.pid"   # sshd writes it too; same pid under -D
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null || true
      if tail -c +$((off + 1)) "$dir/sshd.log" | grep -qE "Bind to port .* failed|Cannot bind any address"; then
        return 1
      fi
      echo "sshctl: sshd exited; $dir/sshd.log:" >&2
      tail -c +$((off + 1)) "$dir/sshd.log" >&2
      exit 1
    fi
    sleep 0.05
  done
  kill "$pid" 2>/dev/null || true
  die "sshd did not report listening on port $port; see $dir/sshd.log"
}

# Ready = a client authenticates and opens the sftp subsystem (EOF on stdin ends
# it with status 0).  Unlike `ssh ferrytest true` this runs no login shell, so a
# slow ~/.bashrc or a nologin shell does not matter.
probe() {
  local dir=$1
  : >"$dir/probe.err"
  for _ in $(seq 1 20); do
    SSH_AUTH_SOCK='' ssh -F "$dir/ssh_config" -o ConnectTimeout=5 -s ferrytest sftp </dev/null >/dev/null 2>>"$dir/probe.err" && return 0
    # Only a server that is not there yet is worth waiting for.
    tail -1 "$dir/probe.err" | grep -q "Connection refused" || break
    sleep 0.1
  done
  echo "sshctl: ssh -F $dir/ssh_config -s ferrytest sftp fails:" >&2
  tail -5 "$dir/probe.err" >&2
  echo "--- $dir/sshd.log:" >&2
  tail -20 "$dir/sshd.log" >&2
  return 1
}

kill_all() {
  local dir=$1 pid kids
  pid=$(listener_pid "$dir") || { rm -f "$dir/sshd.pid"; return 0; }
  kids=$(descendants "$pid")
  kill "$pid" 2>/dev/null || true
  # shellcheck disable=SC2086
  [ -n "$kids" ] && kill -9 $kids 2>/dev/null || true
  for _ in $(seq 1 100); do
    alive "$pid" || break
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/sshd.pid"
}

start() {
  local dir=$1 user port
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  chmod 700 "$dir"
  [ -x "$SSHD" ] || die "$SSHD not found (apt-get install openssh-server, or bash tests/deps.sh)"
  command -v ssh >/dev/null || die "ssh not found (openssh-client)"
  if listener_pid "$dir" >/dev/null; then die "sshd already running for $dir (pid $(cat "$dir/sshd.pid"))"; fi
  # sshd started by root insists on its privilege separation directory (an empty
  # root-owned folder; the system's ssh service creates the same one).
  if [ "$(id -u)" -eq 0 ] && [ ! -d /run/sshd ]; then mkdir -m 755 /run/sshd; fi
  user=$(id -un)
  [ -e "$dir/host_ed25519" ] || keygen "$dir/host_ed25519" "ferry-test-host"
  [ -e "$dir/id_ed25519" ] || keygen "$dir/id_ed25519" "ferry-test-client"
  cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
  chmod 600 "$dir/authorized_keys"

  local ok=
  for _ in $(seq 1 10); do
    port=$(free_port)
    if launch "$dir" "$port"; then ok=1; break; fi
  done
  [ -n "$ok" ] || die "could not bind a port; see $dir/sshd.log"
  echo "$port" >"$dir/port"
  write_client_files "$dir" "$port" "$user"
  cat >"$dir/env" <<EOF
export SSH_PORT=$port
export SSH_HOST=127.0.0.1
export SSH_USER=$user
export SSH_KEY=$dir/id_ed25519
export SSH_KNOWN_HOSTS=$dir/known_hosts
export SSH_CONFIG=$dir/ssh_config
export SSH_DIR=$dir
export SSH_HOME=$dir/home
export SSH_ALIAS=ferrytest
export SSH_WITH_HOME=$dir/with_home
export SSHD_LOG=$dir/sshd.log
EOF
  probe "$dir" || { kill_all "$dir"; exit 1; }
}

stop() { kill_all "$1"; }

rekey() {
  local dir=$1 port
  dir="$(cd "$dir" && pwd)"
  [ -s "$dir/port" ] || die "$dir was never started"
  port=$(cat "$dir/port")
  kill_all "$dir"
  keygen "$dir/host_ed25519" "ferry-test-host-rekeyed"
  write_known_hosts "$dir/known_hosts.new" "$dir/host_ed25519.pub" "$port"
  launch "$dir" "$port" || die "port $port is taken; cannot restart on it"
}

trust() {
  local dir=$1 port
  dir="$(cd "$dir" && pwd)"
  port=$(cat "$dir/port")
  write_client_files "$dir" "$port" "$(id -un)"
}

drop() {
  local dir=$1 pid kids
  pid=$(listener_pid "$dir") || die "sshd is not running for $dir"
  kids=$(descendants "$pid")
  # shellcheck disable=SC2086
  [ -n "$kids" ] && kill -9 $kids 2>/dev/null || true
  echo "dropped: ${kids:-none}"
}

[ $# -eq 2 ] || usage
case $1 in
  start) start "$2" ;;
  stop) stop "$2" ;;
  rekey) rekey "$2" ;;
  trust) trust "$2" ;;
  drop) drop "$2" ;;
  *) usage ;;
esac
