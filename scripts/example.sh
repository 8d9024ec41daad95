#!/usr/bin/env bash
# Sets up, builds and runs the main example on the local-directory store (no server), then
# looks inside the database it made with the s4db command-line tool.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh build
cmake -S . -B build/example -G Ninja -DCMAKE_BUILD_TYPE=Release -DS4DB_BUILD_TESTS=OFF -DS4DB_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build/example --target quickstart s4db_tool
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
./build/example/examples/quickstart "$dir"
./build/example/examples/quickstart "$dir"
s4db() {
  printf '\n$ s4db --dir BUCKET/my-db %s\n' "$*"
  ./build/example/tools/s4db --dir "$dir/bucket/my-db" "$@"
}
s4db keys
s4db get greeting
echo
s4db put tool "was here"
s4db dump
s4db stat
s4db verify
