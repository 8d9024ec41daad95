#!/usr/bin/env bash
# Installs everything s4db needs to build, test and benchmark on Debian 12: Debian
# packages, and the npm S3 test server into tests/s3/node_modules. Idempotent: installs
# only what is missing, and runs `apt-get update` only when it must install.
set -euo pipefail

packages=(
  g++ clang libclang-rt-14-dev cmake ninja-build meson pkg-config clang-format
  zlib1g-dev libsnappy-dev robin-map-dev libboost-test-dev
  libcurl4-openssl-dev libssl-dev libpugixml-dev nlohmann-json3-dev libcli11-dev libleveldb-dev
  python3 python3-snappy awscli curl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js (20 or later) runs the S3 test server: the machine's own if it has one, else Debian's.
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
here=$(cd "$(dirname "$0")/.." && pwd)
if [[ ! -d $here/tests/s3/node_modules/@20minutes/s3rver ]]; then
  echo "setup: installing the S3 test server (@20minutes/s3rver 4.0.4, npm)"
  (cd "$here/tests/s3" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
echo "setup: all packages present"
