#!/usr/bin/env bash
# Compile time and memory of one translation unit that includes <s4db/s4db.hpp>, beside
# one that includes nlohmann/json.hpp, measured in the same run (g++ -std=c++20 -O0, the
# median of ROUNDS, default 3). Each is timed including the header only, and using it.
#   benchmarks/compile-time.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/s4db-include.cpp" <<'CPP'
#include <s4db/s4db.hpp>
int main() {}
CPP
cat >"$work/s4db-use.cpp" <<'CPP'
#include <s4db/s4db.hpp>
int main(int, char** argv) {
  s4db::basic_db<s4db::fs_store> db{s4db::fs_store{argv[0]}};
  db.put("k", "v");
  return static_cast<int>(db.get("k")->size());
}
CPP
cat >"$work/json-include.cpp" <<'CPP'
#include <nlohmann/json.hpp>
int main() {}
CPP
cat >"$work/json-use.cpp" <<'CPP'
#include <nlohmann/json.hpp>
int main(int, char** argv) {
  auto j = nlohmann::json::parse(argv[0], nullptr, false);
  j["k"] = "v";
  return static_cast<int>(j.dump().size());
}
CPP
# CPU seconds (user + system) and peak KB of one compile; the median over the rounds.
measure() {
  local runs=()
  for _ in $(seq "$rounds"); do
    runs+=("$( { /usr/bin/time -f '%U %S %M' g++ -std=c++20 -O0 -Iinclude -c "$work/$1.cpp" -o /dev/null; } 2>&1 |
      awk '{printf "%.2f %d\n", $1 + $2, $3}')")
  done
  printf '%s\n' "${runs[@]}" | sort -n | sed -n "$(((rounds + 1) / 2))p"
}
printf '%-14s %8s %8s\n' "unit" "cpu s" "peak MB"
declare -A cpu
for unit in s4db-include json-include s4db-use json-use; do
  read -r seconds kb < <(measure "$unit")
  cpu[$unit]=$seconds
  printf '%-14s %8s %8d\n' "$unit" "$seconds" $((kb / 1024))
done
awk -v a="${cpu[s4db-include]}" -v b="${cpu[json-include]}" -v c="${cpu[s4db-use]}" -v d="${cpu[json-use]}" \
  'BEGIN { printf "s4db / json: %.2fx including only, %.2fx using (goal: at most 2x)\n", a / b, c / d }'
