#!/usr/bin/env bash
# Runs the README's install command exactly as written (PREFIX a temporary directory),
# then checks what it installed: the tool runs, its man page and completion are there, and
# a program builds against the headers through pkg-config and CMake's find_package.
set -euo pipefail
cd "$(dirname "$0")/.."
command=$(grep -E '^cmake -S \. -B build/install ' README.md)
[[ -n "$command" ]] || { echo "FAIL: the README has no install command (cmake -S . -B build/install ...)"; exit 1; }
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
rm -rf build/install
echo "+ ${command//PREFIX/$prefix}"
eval "${command//PREFIX/$prefix}" >/dev/null
"$prefix/bin/s4db" --version
test -f "$prefix/share/bash-completion/completions/s4db" || { echo "FAIL: no bash completion installed"; exit 1; }
test -f "$prefix/share/doc/s4db/cli.md" || { echo "FAIL: docs/cli.md, which the tool's help names, is not installed"; exit 1; }
if command -v help2man >/dev/null; then
  test -f "$prefix/share/man/man1/s4db.1" || { echo "FAIL: no man page installed"; exit 1; }
fi
PKG_CONFIG_PATH="$prefix/share/pkgconfig" g++ -std=c++20 tests/consumer/main.cpp -o "$prefix/consumer" \
  $(PKG_CONFIG_PATH="$prefix/share/pkgconfig" pkg-config --cflags --libs s4db)
"$prefix/consumer"
cmake -S tests/consumer -B "$prefix/consumer-cmake" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/consumer-cmake" >/dev/null
echo "the README's install command installed a working tool and package into a fresh prefix"
