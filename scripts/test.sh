#!/usr/bin/env bash
# The whole test suite: installs what is missing, then builds and tests with CMake and
# with Meson, with g++ and with clang, under ASan+UBSan and under TSan, runs each fuzz
# target under libFuzzer for a short smoke run (S4DB_FUZZ_SECONDS each, default 10; longer runs: README, "Fuzzing"),
# checks formatting, builds consumer projects against the installed package, runs the
# README's first command, and checks that every Debian package a build used is one
# scripts/setup.sh installs (scripts/check-packages.sh). The S3 suites run against s3rver (and moto,
# and any endpoint S4DB_TEST_S3_* names), each started on 127.0.0.1 for the run by
# tests/s3/run-with-server.sh; Ceph RGW in the debug build's run (S4DB_TEST_RGW=0 skips it). Build trees go to build/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
jobs=$(nproc)
start=$SECONDS
step() { printf '\n== %s (%ds elapsed)\n' "$*" $((SECONDS - start)); }

step "format check (clang-format)"
git ls-files '*.hpp' '*.cpp' | xargs clang-format --dry-run -Werror

step "CMake, g++, debug"
cmake -S . -B build/debug -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/debug -j "$jobs"
ctest --test-dir build/debug --output-on-failure -j "$jobs"

step "Meson, g++"
if [[ -d build/meson ]]; then meson setup --reconfigure build/meson >/dev/null; else meson setup build/meson >/dev/null; fi
meson compile -C build/meson
# The S3 suites (suite s3) ran against the CMake build above: the same sources, the same servers.
meson test -C build/meson --print-errorlogs --no-suite s3

step "CMake, g++, ASan + UBSan"
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DS4DB_SANITIZE=address,undefined \
  -DS4DB_BUILD_EXAMPLES=OFF -DS4DB_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build/asan -j "$jobs"
ctest --test-dir build/asan --output-on-failure -j "$jobs" -E 'compile_fail|s3\.rgw'

step "CMake, g++, TSan"
cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DS4DB_SANITIZE=thread \
  -DS4DB_BUILD_EXAMPLES=OFF -DS4DB_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build/tsan -j "$jobs" --target s4db_tests
# Data races halt the run. The lock-order graph is off: std::mutex never calls
# pthread_mutex_destroy, so TSan takes a new mutex at a reused address for the old one and
# reports cycles between test cases that never hold those locks together (seen once).
export TSAN_OPTIONS="halt_on_error=1 detect_deadlocks=0"
./build/tsan/tests/s4db_tests --log_level=warning
tests/s3/run-with-server.sh s3rver ./build/tsan/tests/s4db_tests --log_level=warning --run_test='s3_*'
unset TSAN_OPTIONS

step "CMake, clang, debug"
CXX=clang++ cmake -S . -B build/clang -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DS4DB_BUILD_EXAMPLES=OFF -DS4DB_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build/clang -j "$jobs"
ctest --test-dir build/clang --output-on-failure -j "$jobs" -E 'compile_fail|s3\.'

fuzz_seconds=${S4DB_FUZZ_SECONDS:-10}
step "libFuzzer smoke run: ${fuzz_seconds} s per target (S4DB_FUZZ_SECONDS sets it)"
CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DS4DB_LIBFUZZER=ON \
  -DS4DB_BUILD_EXAMPLES=OFF -DS4DB_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build/fuzz -j "$jobs" --target fuzz_entry_decode fuzz_index_decode fuzz_checkpoint_load fuzz_api_model \
  fuzz_segment_decode fuzz_manifest_decode
for target in entry_decode index_decode checkpoint_load api_model segment_decode manifest_decode; do
  corpus=$(mktemp -d)  # new inputs go here, not into the checked-in corpus
  ./build/fuzz/fuzz/fuzz_$target -max_total_time="$fuzz_seconds" -print_final_stats=1 \
    "$corpus" fuzz/corpus/$target 2>&1 | grep -E '^(stat::number_of_executed_units|stat::new_units_added|==.*ERROR)' \
    | sed "s/^/  $target: /"
  rm -rf "$corpus"
done

step "the README's install command, into a fresh prefix"
./scripts/check-install.sh

step "consumer projects: find_package, an impossible version, add_subdirectory, Meson subproject, pkg-config"
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install build/debug --prefix "$prefix" >/dev/null
cmake -S tests/consumer -B build/consumer -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build build/consumer
./build/consumer/consumer
if cmake -S tests/consumer -B build/consumer-impossible -DCMAKE_PREFIX_PATH="$prefix" \
     -DS4DB_REQUIRED_VERSION=99.0 >/dev/null 2>&1; then
  echo "FAIL: find_package(s4db 99.0) was accepted"; exit 1
fi
echo "find_package(s4db 99.0) refused, as it must be"
export PKG_CONFIG_PATH="$prefix/share/pkgconfig"
g++ tests/consumer/main.cpp -o build/consumer/pkgconfig-consumer $(pkg-config --cflags --libs s4db)
./build/consumer/pkgconfig-consumer
g++ -DS4DB_CONSUMER_S3 tests/consumer/main.cpp -o build/consumer/pkgconfig-s3-consumer \
  $(pkg-config --cflags --libs s4db-s3)
./build/consumer/pkgconfig-s3-consumer
unset PKG_CONFIG_PATH
cmake -S tests/consumer-subdir -B build/consumer-subdir -G Ninja -DS4DB_SOURCE_DIR="$PWD" >/dev/null
cmake --build build/consumer-subdir --target consumer
./build/consumer-subdir/consumer
meson_consumer=$(mktemp -d)
trap 'rm -rf "$prefix" "$meson_consumer"' EXIT
cp -r tests/consumer-meson "$meson_consumer/project"
mkdir -p "$meson_consumer/project/subprojects" "$meson_consumer/consumer"
cp tests/consumer/main.cpp "$meson_consumer/consumer/"
ln -s "$PWD" "$meson_consumer/project/subprojects/s4db"
meson setup --force-fallback-for=s4db,s4db-s3 "$meson_consumer/build" "$meson_consumer/project" >/dev/null
meson compile -C "$meson_consumer/build"
"$meson_consumer/build/consumer"

step "the README's first command (scripts/example.sh), and the Debian packages every build used"
./scripts/example.sh >/dev/null
scripts/check-packages.sh build build/example
scripts/check-packages.sh test build/debug build/meson build/asan build/tsan build/clang build/fuzz build/consumer

step "done"
echo "all checks passed in $((SECONDS - start))s"
