#!/usr/bin/env bash
# Installs what s4db needs on Debian 12, idempotently: only what is missing, with
# `apt-get update` only when something must be installed.
#
#   scripts/setup.sh build    what the README's first command needs: the compiler, CMake and
#                             the libraries the library, the example and the tool build with
#   scripts/setup.sh [test]   everything: also clang, Meson, Boost.Test, the AWS CLI and Python
#                             (interop tests), cpp-httplib (the loopback credential endpoints
#                             and scripted S3 in tests/s3/), openssl (the test CA for the TLS
#                             run), Ceph's monitor, OSD and RADOS Gateway (tests/s3/start-rgw.sh
#                             runs the S3 suites against RGW), Node.js with the npm S3 test server in
#                             tests/s3/node_modules, and LevelDB, RocksDB and LMDB, which only
#                             the benchmarks use (benchmarks/peers.cpp; CI builds it)
#   scripts/setup.sh --list build|test   prints that list of Debian packages, one per line
#
# scripts/check-packages.sh proves that every package a build used is in these lists.
set -euo pipefail

build_packages=(
  g++ cmake ninja-build pkg-config
  libisal-dev libxxhash-dev libsnappy-dev robin-map-dev libcurl4-openssl-dev libssl-dev libpugixml-dev
  nlohmann-json3-dev libcli11-dev help2man
)
test_packages=(
  "${build_packages[@]}"
  clang libclang-rt-14-dev meson clang-format libboost-test-dev
  python3 python3-snappy awscli curl libcpp-httplib-dev openssl
  libleveldb-dev librocksdb-dev liblmdb-dev
  ceph-mon ceph-osd radosgw ceph-common
)

list=false
if [[ ${1:-} == --list ]]; then
  list=true
  shift
fi
mode=${1:-test}
case $mode in
  build) packages=("${build_packages[@]}") ;;
  test) packages=("${test_packages[@]}") ;;
  *) echo "usage: $0 [--list] [build|test]" >&2; exit 2 ;;
esac
if $list; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js runs the S3 test server: the machine's own if it has one, else its apt's.
if [[ $mode == test ]] && ! { command -v node && command -v npm; } >/dev/null; then missing+=(nodejs npm); fi
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [[ $mode == test ]]; then
  node_major=$(node -p 'process.versions.node.split(".")[0]')
  if ((node_major < 20)); then
    echo "setup: the S3 test server (s3rver 4) needs Node.js 20 or later; this machine's is $(node --version)." >&2
    echo "       Debian 12's own is 18: add a Node.js 20 apt source (e.g. NodeSource) and run this again." >&2
    exit 1
  fi
  here=$(cd "$(dirname "$0")/.." && pwd)
  if [[ ! -d $here/tests/s3/node_modules/@20minutes/s3rver ]]; then
    echo "setup: installing the S3 test server (@20minutes/s3rver 4.0.4, npm)"
    (cd "$here/tests/s3" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
fi
echo "setup ($mode): all packages present"
