#!/usr/bin/env bash
# Installs everything s4db needs to build, test and benchmark on Debian 12. Idempotent:
# installs only what is missing, and runs `apt-get update` only when it must install.
set -euo pipefail

packages=(
  g++ clang cmake ninja-build meson pkg-config clang-format
  zlib1g-dev libsnappy-dev robin-map-dev libboost-test-dev
  python3 python3-snappy
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "setup: all packages present"
