#!/usr/bin/env bash
# The benchmark's S3 figures against s3rver on loopback (started and stopped here), next
# to the local ones. Builds the Release benchmark first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >/dev/null
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DS4DB_BUILD_TESTS=OFF >/dev/null
cmake --build build/release --target s4db_bench >/dev/null
tests/s3/run-with-server.sh s3rver ./build/release/benchmarks/s4db_bench "$@" --s3
