# SSH test helpers: a private OpenSSH server (tests/ssh/sshctl.sh) started
# for one test on 127.0.0.1, stopped on exit, and its env (SSH_HOST,
# SSH_PORT, SSH_USER, SSH_HOME, ...; see tests/ssh/README.md) loaded.  A test
# that must undo more on exit defines ssh_cleanup_more.  Source after lib.sh.

SSHCTL="$FERRY_SOURCE_DIR/tests/ssh/sshctl.sh"
SRV="$WORK/srv"
bash "$SSHCTL" start "$SRV" >"$WORK/sshctl.out" 2>&1 || {
  cat "$WORK/sshctl.out" >&2
  exit 1
}
ssh_cleanup() {
  bash "$SSHCTL" stop "$SRV" >/dev/null 2>&1
  if declare -F ssh_cleanup_more >/dev/null; then ssh_cleanup_more; fi
  rm -rf "$WORK"
}
trap ssh_cleanup EXIT
# shellcheck disable=SC1091
source "$SRV/env"
URL="ssh://$SSH_USER@$SSH_HOST:$SSH_PORT"
