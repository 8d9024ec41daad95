#!/usr/bin/env bash
# Sets up, builds and runs the main example on the local-directory store (no server).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cmake -S . -B build/example -G Ninja -DCMAKE_BUILD_TYPE=Release -DS4DB_BUILD_TESTS=OFF -DS4DB_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build/example --target quickstart
dir=$(mktemp -d)
./build/example/examples/quickstart "$dir"
./build/example/examples/quickstart "$dir"
rm -rf "$dir"
