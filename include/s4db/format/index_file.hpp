// index.idx: the serialised key -> location map, byte for byte the Python s4db format
// (docs/format.md). Bytes in, bytes out; no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "../error.hpp"
#include "endian.hpp"

namespace s4db {
inline namespace v0 {

// Where a key's newest entry sits: the data file's number, the offset of the entry's
// flags byte, and the length of the whole entry.
struct location {
  std::uint32_t file = 0;
  std::uint64_t offset = 0;
  std::uint32_t length = 0;
  friend bool operator==(const location&, const location&) = default;
};

namespace format {

inline constexpr std::uint8_t index_version = 1;
inline constexpr std::size_t index_header_size = 9;
// key_len (2) + file (4) + offset (8) + length (4)
inline constexpr std::size_t index_entry_overhead = 18;

// `entries` is any range of pairs (key, location), with `count` elements.
template <class Range>
std::string encode_index(std::uint32_t next_file, std::size_t count, const Range& entries) {
  std::string out;
  out.reserve(index_header_size + count * (index_entry_overhead + 16));
  out.push_back(static_cast<char>(index_version));
  append_be(out, next_file);
  append_be(out, static_cast<std::uint32_t>(count));
  for (const auto& [key, loc] : entries) {
    append_be(out, static_cast<std::uint16_t>(key.size()));
    out.append(key);
    append_be(out, loc.file);
    append_be(out, loc.offset);
    append_be(out, loc.length);
  }
  return out;
}

struct index_header {
  std::uint32_t next_file = 1;
  std::uint32_t count = 0;
};

// Calls on_entry(std::string_view key, location) for every entry in file order, then
// returns the header. Throws corruption_error for any other version, a short or an
// overlong file; `where` names the file in the message.
template <class OnEntry>
index_header decode_index(std::string_view bytes, const std::string& where, OnEntry&& on_entry) {
  if (bytes.size() < index_header_size) detail::throw_corruption(where + ": index shorter than its 9-byte header");
  if (static_cast<std::uint8_t>(bytes[0]) != index_version)
    detail::throw_corruption(where + ": unsupported index version " +
                             std::to_string(static_cast<unsigned>(static_cast<std::uint8_t>(bytes[0]))));
  index_header h{load_be<std::uint32_t>(bytes.data() + 1), load_be<std::uint32_t>(bytes.data() + 5)};
  std::size_t pos = index_header_size;
  for (std::uint32_t i = 0; i < h.count; ++i) {
    if (bytes.size() - pos < 2) detail::throw_corruption(where + ": index truncated in entry " + std::to_string(i));
    const std::size_t key_len = load_be<std::uint16_t>(bytes.data() + pos);
    if (bytes.size() - pos < index_entry_overhead + key_len)
      detail::throw_corruption(where + ": index truncated in entry " + std::to_string(i));
    const char* p = bytes.data() + pos + 2 + key_len;
    on_entry(bytes.substr(pos + 2, key_len),
             location{load_be<std::uint32_t>(p), load_be<std::uint64_t>(p + 4), load_be<std::uint32_t>(p + 12)});
    pos += index_entry_overhead + key_len;
  }
  if (pos != bytes.size())
    detail::throw_corruption(where + ": " + std::to_string(bytes.size() - pos) + " bytes after the last index entry");
  return h;
}

}  // namespace format
}  // namespace v0
}  // namespace s4db
