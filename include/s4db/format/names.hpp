// The object names under a database's prefix: index.idx and data_000001.s4db, ... Six
// digits, zero padded; past 999999 the number simply has more digits, so listings are
// ordered by the parsed number, never by the name.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace s4db {
inline namespace v0 {
namespace format {

inline constexpr std::string_view index_name = "index.idx";

inline std::string data_file_name(std::uint32_t number) {
  std::string digits = std::to_string(number);
  if (digits.size() < 6) digits.insert(0, 6 - digits.size(), '0');
  return "data_" + digits + ".s4db";
}

// The number in a data file's name, or nullopt for any other name.
inline std::optional<std::uint32_t> parse_data_file_name(std::string_view name) {
  constexpr std::string_view head = "data_", tail = ".s4db";
  if (name.size() < head.size() + 6 + tail.size() || !name.starts_with(head) || !name.ends_with(tail))
    return std::nullopt;
  const std::string_view digits = name.substr(head.size(), name.size() - head.size() - tail.size());
  if (digits.size() > 6 && digits[0] == '0') return std::nullopt;
  std::uint32_t number = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return number;
}

}  // namespace format
}  // namespace v0
}  // namespace s4db
