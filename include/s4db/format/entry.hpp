// Data files: the 9-byte header and the entries after it, byte for byte the Python s4db
// formats: version 1 (0.5-0.8) and version 2 (0.9 and later), which adds the flags 0x02
// (value stored raw) and 0x04 (value is not UTF-8 text). docs/format.md is the reference,
// with golden vectors. Bytes in, bytes out; no I/O.
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
namespace format {

inline constexpr std::string_view file_magic = "S4DB";
inline constexpr std::size_t file_header_size = 9;
// flags (1) + key_len (4) + value_len (4) + crc (4)
inline constexpr std::size_t entry_overhead = 13;
inline constexpr std::size_t max_key_size = 65535;

inline constexpr std::uint8_t flag_put = 0x00;  // value is a raw Snappy block
inline constexpr std::uint8_t flag_tombstone = 0x01;
inline constexpr std::uint8_t flag_raw = 0x02;     // value stored uncompressed
inline constexpr std::uint8_t flag_binary = 0x04;  // value is bytes, not UTF-8 text (version 2)
inline constexpr std::uint8_t known_flags = flag_tombstone | flag_raw | flag_binary;

// The header stores the low 32 bits of the file's sequence; the file's name gives its writer.
inline std::string file_header(std::uint32_t sequence, int version) {
  std::string out(file_magic);
  out.push_back(static_cast<char>(version));
  append_be(out, sequence);
  return out;
}

struct file_header_fields {
  int version = 1;
  std::uint32_t sequence = 0;
};

// Parses a data file's header; `where` says which file, for the message.
inline file_header_fields parse_file_header(std::string_view bytes, const std::string& where) {
  if (bytes.size() < file_header_size) detail::throw_corruption(where + ": shorter than the 9-byte file header");
  if (bytes.substr(0, 4) != file_magic) detail::throw_corruption(where + ": bad magic (not an s4db data file)");
  const int version = static_cast<std::uint8_t>(bytes[4]);
  if (version != 1 && version != 2)
    detail::throw_corruption(where + ": unsupported data file version " + std::to_string(version));
  return {version, load_be<std::uint32_t>(bytes.data() + 5)};
}

// Whether `bytes` are well-formed UTF-8 as Python decodes it (no overlong forms, no
// surrogates, nothing past U+10FFFF): version 2 flags any other value 0x04.
inline bool is_utf8(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = p + bytes.size();
  while (p < end) {
    const unsigned c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t n = 0;
    unsigned lo = 0x80, hi = 0xbf;  // the allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) <= n || p[1] < lo || p[1] > hi) return false;
    for (std::size_t i = 2; i <= n; ++i)
      if (p[i] < 0x80 || p[i] > 0xbf) return false;
    p += n + 1;
  }
  return true;
}

// Appends one entry; returns its whole length (what the index stores).
inline std::size_t append_entry(std::string& out, std::uint8_t flags, std::string_view key,
                                std::string_view stored_value) {
  const std::size_t start = out.size();
  out.push_back(static_cast<char>(flags));
  append_be(out, static_cast<std::uint32_t>(key.size()));
  append_be(out, static_cast<std::uint32_t>(stored_value.size()));
  out.append(key);
  out.append(stored_value);
  append_be(out, crc32_of(std::string_view(out).substr(start)));
  return out.size() - start;
}

struct entry_view {
  std::uint8_t flags = 0;
  std::string_view key;
  std::string_view value;  // as stored: compressed by the codec, empty for a tombstone
  std::size_t size = 0;    // the whole entry, header and crc included
};

enum class parse_status {
  ok,
  truncated,  // the bytes end before the entry does
  bad_crc,    // the entry is all there (entry.size says how long) but its checksum differs
  bad_key,    // a key length the format cannot hold (over 65,535 bytes)
};

struct parse_result {
  parse_status status;
  entry_view entry;
};

// Parses the entry that starts at bytes[0]; bytes may run on past it.
inline parse_result parse_entry(std::string_view bytes) {
  if (bytes.size() < entry_overhead) return {parse_status::truncated, {}};
  const auto key_len = load_be<std::uint32_t>(bytes.data() + 1);
  const auto value_len = load_be<std::uint32_t>(bytes.data() + 5);
  if (key_len > max_key_size) return {parse_status::bad_key, {}};
  const std::uint64_t size = entry_overhead + std::uint64_t{key_len} + value_len;
  if (bytes.size() < size) return {parse_status::truncated, {}};
  const auto body = static_cast<std::size_t>(size - 4);
  entry_view e;
  e.size = static_cast<std::size_t>(size);
  if (crc32_of(bytes.substr(0, body)) != load_be<std::uint32_t>(bytes.data() + body)) return {parse_status::bad_crc, e};
  e.flags = static_cast<std::uint8_t>(bytes[0]);
  e.key = bytes.substr(9, key_len);
  e.value = bytes.substr(9 + key_len, value_len);
  return {parse_status::ok, e};
}

inline const char* describe(parse_status s) {
  switch (s) {
    case parse_status::ok:
      return "ok";
    case parse_status::truncated:
      return "truncated entry";
    case parse_status::bad_crc:
      return "CRC mismatch";
    case parse_status::bad_key:
      return "key length over 65,535 bytes";
  }
  return "unknown";
}

// Whether the bytes from `offset` (where an entry failed to parse) to the end of `file`
// are what a crash mid-append leaves: a torn last batch, after which no whole entry
// follows. One flipped length byte also makes an entry look cut short, but the entries
// after it still parse, so a valid entry anywhere after `offset` means corruption, never
// a tail to drop. The search is bounded (`crc_budget` bytes checksummed); past it the
// answer is "not torn", which refuses to cut rather than guess.
inline bool is_torn_tail(std::string_view file, std::size_t offset, std::uint64_t crc_budget = 256u << 20) {
  for (std::size_t q = offset + 1; q + entry_overhead <= file.size(); ++q) {
    const auto flags = static_cast<std::uint8_t>(file[q]);
    const auto key_len = load_be<std::uint32_t>(file.data() + q + 1);
    const auto value_len = load_be<std::uint32_t>(file.data() + q + 5);
    if (flags > 0x07 || key_len > max_key_size || (flags == flag_tombstone && value_len != 0)) continue;
    const std::uint64_t size = entry_overhead + std::uint64_t{key_len} + value_len;
    if (size > file.size() - q) continue;
    if (size > crc_budget) return false;
    crc_budget -= size;
    if (parse_entry(file.substr(q)).status == parse_status::ok) return false;
  }
  return true;
}

// Parses exactly one entry that must fill `bytes` and carry `key`: what a point read got.
inline entry_view parse_exact_entry(std::string_view bytes, std::string_view key, const std::string& where) {
  const parse_result r = parse_entry(bytes);
  if (r.status != parse_status::ok) detail::throw_corruption(where + ": " + describe(r.status));
  if (r.entry.size != bytes.size())
    detail::throw_corruption(where + ": entry length " + std::to_string(r.entry.size) + " differs from the index's " +
                             std::to_string(bytes.size()));
  if (r.entry.key != key) detail::throw_corruption(where + ": entry holds another key than the index says");
  return r.entry;
}

}  // namespace format
}  // namespace v0
}  // namespace s4db
