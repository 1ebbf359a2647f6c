#!/usr/bin/env bash
# Install the Debian 12 packages ferry builds, tests and benchmarks with.
# Idempotent: only missing packages are installed.  Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
  libcurl4-openssl-dev libssl-dev libcjson-dev libarchive-dev
  libturbojpeg0-dev libpng-dev libopenblas-dev slurm-wlm munge
  clang nginx python3 python3-cryptography python3-h5py python3-numpy python3-pil rsync bc nodejs npm zstd
  awscli rclone curl openssl   # tests/s3: reference S3 clients (s3proxy.py needs only python3)
  libssh-dev openssh-server openssh-client libnss-wrapper   # ssh:// backend; tests/ssh runs its own sshd
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A Node.js that did not come from Debian is fine too.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}")
  missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
