#!/usr/bin/env bash
# The benchmark's S3 figures against s3rver (or, with S4DB_BENCH_SERVER=moto, moto) on
# loopback, started and stopped here, next to the local ones. Builds the Release benchmark
# first. Fenced commits by several writers: benchmarks/run-s3.sh --no-local --writers
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >/dev/null
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DS4DB_BUILD_TESTS=OFF >/dev/null
cmake --build build/release --target s4db_bench >/dev/null
tests/s3/run-with-server.sh "${S4DB_BENCH_SERVER:-s3rver}" ./build/release/benchmarks/s4db_bench "$@" --s3
