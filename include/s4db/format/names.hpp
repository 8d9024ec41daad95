// The object names under a database's prefix: index.idx and the data files. A data file
// is named by its 64-bit id (writer << 32 | sequence, format/index_file.hpp): writer 0,
// the format 1 namespace, keeps `data_NNNNNN.s4db`; any other writer's files are
// `data_XXXXXXXX_NNNNNN.s4db` (8 lower-case hex digits, then the sequence). Sequences are
// six digits, zero padded; past 999999 they simply have more digits, so listings are
// ordered by the parsed id, never by the name. Only the canonical spelling of an id parses.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "index_file.hpp"

namespace s4db {
inline namespace v0 {
namespace format {

inline constexpr std::string_view index_name = "index.idx";

// Every data file name starts with this: listing prefix + it finds them all.
inline constexpr std::string_view data_file_head = "data_";

inline std::string data_file_name(file_id id) {
  std::string digits = std::to_string(sequence_of(id));
  if (digits.size() < 6) digits.insert(0, 6 - digits.size(), '0');
  if (writer_of(id) == 0) return std::string(data_file_head) + digits + ".s4db";
  char writer[9];
  std::snprintf(writer, sizeof writer, "%08x", static_cast<unsigned>(writer_of(id)));
  return std::string(data_file_head) + std::string(writer, 8) + "_" + digits + ".s4db";
}

// The id in a data file's name, or nullopt for any other name.
inline std::optional<file_id> parse_data_file_name(std::string_view name) {
  constexpr std::string_view head = data_file_head, tail = ".s4db";
  if (name.size() < head.size() + 6 + tail.size() || !name.starts_with(head) || !name.ends_with(tail))
    return std::nullopt;
  std::string_view digits = name.substr(head.size(), name.size() - head.size() - tail.size());
  std::uint32_t writer = 0;
  if (digits.size() > 9 && digits[8] == '_') {
    for (char c : digits.substr(0, 8))
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
    std::from_chars(digits.data(), digits.data() + 8, writer, 16);
    if (writer == 0) return std::nullopt;  // writer 0 is spelled without its id
    digits.remove_prefix(9);
  }
  if (digits.size() < 6 || (digits.size() > 6 && digits[0] == '0')) return std::nullopt;
  for (char c : digits)
    if (c < '0' || c > '9') return std::nullopt;
  std::uint32_t sequence = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), sequence);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return make_file_id(writer, sequence);
}

}  // namespace format
}  // namespace v0
}  // namespace s4db
