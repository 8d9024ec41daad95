// index.idx: the serialised key -> location map, byte for byte the Python s4db formats
// (docs/format.md). Version 1 (s4db 0.5-0.8) names data files by a 32-bit number;
// version 2 (0.9 and later) by a 64-bit file id, and ends with a CRC-32 of everything
// before it. Both are read; either is written. Bytes in, bytes out; no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "../error.hpp"
#include "crc.hpp"
#include "endian.hpp"

namespace s4db {
inline namespace v0 {

// A data file's id: the writer's 32-bit namespace in the high half, the writer's sequence
// number in the low half. Writer 0 is the format 1 namespace (data_000001.s4db ...).
using file_id = std::uint64_t;

constexpr file_id make_file_id(std::uint32_t writer, std::uint32_t sequence) {
  return file_id{writer} << 32 | sequence;
}
constexpr std::uint32_t writer_of(file_id id) { return static_cast<std::uint32_t>(id >> 32); }
constexpr std::uint32_t sequence_of(file_id id) { return static_cast<std::uint32_t>(id); }

// Where a key's newest entry sits: the data file's id, the offset of the entry's flags
// byte, and the length of the whole entry.
struct location {
  file_id file = 0;
  std::uint64_t offset = 0;
  std::uint32_t length = 0;
  friend bool operator==(const location&, const location&) = default;
};

namespace format {

inline constexpr std::size_t index_header_size = 9;
// key_len (2) + file (4) + offset (8) + length (4); version 2 has an 8-byte file id
inline constexpr std::size_t index_entry_overhead_v1 = 18;
inline constexpr std::size_t index_entry_overhead_v2 = 22;
inline constexpr std::size_t index_crc_size = 4;

// Encodes an index of `version` 1 or 2. `entries` is any range of pairs (key, location),
// with `count` elements. Version 1 cannot name a file outside writer 0's namespace:
// usage_error.
template <class Range>
std::string encode_index(int version, std::uint32_t next_file, std::size_t count, const Range& entries) {
  std::string out;
  out.reserve(index_header_size + count * (index_entry_overhead_v2 + 16) + index_crc_size);
  out.push_back(static_cast<char>(version));
  append_be(out, next_file);
  append_be(out, static_cast<std::uint32_t>(count));
  for (const auto& [key, loc] : entries) {
    append_be(out, static_cast<std::uint16_t>(key.size()));
    out.append(key);
    if (version == 1) {
      if (writer_of(loc.file) != 0)
        detail::throw_usage(
            "format version 1 cannot name data files of writer namespaces (the index names one); compact() with "
            "format_version 1 rewrites the database into format 1 files");
      append_be(out, sequence_of(loc.file));
    } else {
      append_be(out, loc.file);
    }
    append_be(out, loc.offset);
    append_be(out, loc.length);
  }
  if (version != 1) append_be(out, crc32_of(out));
  return out;
}

struct index_header {
  int version = 2;
  std::uint32_t next_file = 1;
  std::uint32_t count = 0;
};

// Calls on_entry(std::string_view key, location) for every entry in file order, then
// returns the header. Throws corruption_error for any other version, a CRC mismatch
// (version 2), a short or an overlong file; `where` names the file in the message.
template <class OnEntry>
index_header decode_index(std::string_view bytes, const std::string& where, OnEntry&& on_entry) {
  if (bytes.size() < index_header_size) detail::throw_corruption(where + ": index shorter than its 9-byte header");
  const int version = static_cast<std::uint8_t>(bytes[0]);
  if (version != 1 && version != 2)
    detail::throw_corruption(where + ": unsupported index version " + std::to_string(version));
  if (version == 2) {
    if (bytes.size() < index_header_size + index_crc_size)
      detail::throw_corruption(where + ": index shorter than its header and checksum");
    const std::string_view body = bytes.substr(0, bytes.size() - index_crc_size);
    if (crc32_of(body) != load_be<std::uint32_t>(bytes.data() + body.size()))
      detail::throw_corruption(where + ": index checksum mismatch");
    bytes = body;
  }
  const std::size_t overhead = version == 1 ? index_entry_overhead_v1 : index_entry_overhead_v2;
  index_header h{version, load_be<std::uint32_t>(bytes.data() + 1), load_be<std::uint32_t>(bytes.data() + 5)};
  std::size_t pos = index_header_size;
  for (std::uint32_t i = 0; i < h.count; ++i) {
    if (bytes.size() - pos < 2) detail::throw_corruption(where + ": index truncated in entry " + std::to_string(i));
    const std::size_t key_len = load_be<std::uint16_t>(bytes.data() + pos);
    if (bytes.size() - pos < overhead + key_len)
      detail::throw_corruption(where + ": index truncated in entry " + std::to_string(i));
    const char* p = bytes.data() + pos + 2 + key_len;
    const file_id file = version == 1 ? file_id{load_be<std::uint32_t>(p)} : load_be<std::uint64_t>(p);
    p += version == 1 ? 4 : 8;
    on_entry(bytes.substr(pos + 2, key_len), location{file, load_be<std::uint64_t>(p), load_be<std::uint32_t>(p + 8)});
    pos += overhead + key_len;
  }
  if (pos != bytes.size())
    detail::throw_corruption(where + ": " + std::to_string(bytes.size() - pos) + " bytes after the last index entry");
  return h;
}

}  // namespace format
}  // namespace v0
}  // namespace s4db
