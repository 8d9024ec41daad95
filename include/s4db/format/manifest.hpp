// The format 3 manifest (docs/format.md, "Format 3: the manifest"): the root of a
// published database, one object (manifest.s4m) replaced by every commit under If-Match,
// as index.idx is on format 2; its number counts every commit, its `changes` those that
// changed keys or where their entries lie (a merge or a pin changes neither). It names every index segment
// in commit order (a lookup asks the newest first), every data file with its live bytes,
// the writers, the checkpoints, and what recent commits stopped naming (gc spares that for
// its grace); its size grows with those, never with the keys.
//
//   manifest   := "s4dbman3" | u64 number | u64 written (Unix ms) | u64 changes
//                 | u32 n | segment{n} | u32 n | file{n} | u32 n | writer{n} | u32 n | pin{n}
//                 | u32 n | retired file{n} | u32 n | retired segment{n}
//                 | u32 crc32(every byte before it)
//   segment    := u32 writer | u64 sequence | u8 level | u64 bytes | u64 entries
//                 | u16 n | first key | u16 n | last key
//   file       := u64 file id | u64 bytes | u64 live bytes         (ascending ids)
//   writer     := u32 id | u64 its newest segment's sequence        (ascending ids)
//   pin        := u16 n | checkpoint name | u64 manifest number     (ascending names)
//   retired file    := u64 file id | u64 when (Unix ms)
//   retired segment := u32 writer | u64 sequence | u64 when (Unix ms)
// Integers are big-endian. Anything else is corruption_error, memory bounded by the bytes.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "../error.hpp"
#include "../options.hpp"
#include "crc.hpp"
#include "endian.hpp"
#include "entry.hpp"
#include "index_file.hpp"

namespace s4db {
inline namespace v0 {
namespace format {

inline constexpr std::string_view manifest_magic = "s4dbman3";

struct manifest {
  struct segment {
    std::uint32_t writer = 0;
    std::uint64_t sequence = 0;
    std::uint8_t level = 0;  // 0 as committed; a merge's output is one above its inputs'
    std::uint64_t bytes = 0;
    std::uint64_t entries = 0;
    std::string first_key, last_key;
    friend bool operator==(const segment&, const segment&) = default;
  };
  struct data_file {
    file_id id = 0;
    std::uint64_t bytes = 0;
    std::uint64_t live_bytes = 0;
    friend bool operator==(const data_file&, const data_file&) = default;
  };
  struct writer {
    std::uint32_t id = 0;
    std::uint64_t last_segment = 0;
    friend bool operator==(const writer&, const writer&) = default;
  };
  struct pin {
    std::string name;
    std::uint64_t manifest = 0;
    friend bool operator==(const pin&, const pin&) = default;
  };
  // What a commit stopped naming (a compaction's inputs), and when: gc spares it for its
  // grace after that, as a reader of the manifest before may still read it.
  struct retired_file {
    file_id id = 0;
    std::uint64_t when_ms = 0;
    friend bool operator==(const retired_file&, const retired_file&) = default;
  };
  struct retired_segment {
    std::uint32_t writer = 0;
    std::uint64_t sequence = 0;
    std::uint64_t when_ms = 0;
    friend bool operator==(const retired_segment&, const retired_segment&) = default;
  };

  std::uint64_t number = 0;
  std::uint64_t written_ms = 0;
  // The commits that changed keys or where their entries lie: writes, compactions,
  // rebuilds, a conversion. A merge or a checkpoint's pin does not count, so a copy that
  // finds only this unchanged knows no key changed (engine/recovery.hpp).
  std::uint64_t changes = 0;
  std::vector<segment> segments;  // oldest first
  std::vector<data_file> files;
  std::vector<writer> writers;
  std::vector<pin> pins;
  std::vector<retired_file> retired_files;
  std::vector<retired_segment> retired_segments;
  friend bool operator==(const manifest&, const manifest&) = default;
};

// The time manifests carry: Unix milliseconds, by `clock` (options::clock; empty: the system's).
inline std::uint64_t unix_ms_now(const clock_source& clock = {}) {
  const auto now = clock ? clock() : std::chrono::system_clock::now();
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
}

// What was retired more than a week ago is no longer listed: gc then spares it by its age
// only (the grace), as any object no manifest names.
inline constexpr std::uint64_t retired_listed_ms = 7ull * 24 * 3600 * 1000;

inline void drop_old_retired(manifest& m, std::uint64_t now_ms) {
  std::erase_if(m.retired_files, [&](const auto& r) { return r.when_ms + retired_listed_ms < now_ms; });
  std::erase_if(m.retired_segments, [&](const auto& r) { return r.when_ms + retired_listed_ms < now_ms; });
}

// The one manifest object of a format 3 prefix, replaced by every commit (If-Match).
inline constexpr std::string_view manifest_object = "manifest.s4m";

inline constexpr std::string_view segment_head = "segment_";

// segment_XXXXXXXX_NNNNNN.s4s: the writer's id in 8 hex digits, its sequence (6 digits or more).
inline std::string segment_name(std::uint32_t writer, std::uint64_t sequence) {
  char out[64];
  std::snprintf(out, sizeof out, "%08x_%06llu.s4s", static_cast<unsigned>(writer),
                static_cast<unsigned long long>(sequence));
  return std::string(segment_head) + out;
}

// index.idx of a format 3 prefix: version 3, nothing else (docs/format.md), so that older
// readers refuse the prefix instead of seeing an empty database.
inline std::string format_3_marker() { return std::string("\x03\0\0\0\0\0\0\0\0", 9); }
inline bool is_format_3_marker(std::string_view bytes) { return bytes == format_3_marker(); }

// The pin a conversion to format 2 seals the manifest with (engine/converter.hpp): no
// format 3 reader or writer uses a sealed manifest. Not a valid checkpoint name.
inline constexpr std::string_view sealed_pin = "~sealed-for-format-2";
inline bool is_sealed(const manifest& m) { return !m.pins.empty() && m.pins.back().name == sealed_pin; }

// checkpoint_NNNNNNNN_<name>.s4m: the copy of manifest NNNNNNNN (its number, 8 digits or
// more) that checkpoint <name> pins (its manifest entry says which number).
inline constexpr std::string_view checkpoint_head = "checkpoint_";

inline std::string checkpoint_object(const manifest::pin& p) {
  char number[32];
  std::snprintf(number, sizeof number, "%08llu_", static_cast<unsigned long long>(p.manifest));
  return std::string(checkpoint_head) + number + p.name + ".s4m";
}

// A checkpoint's name: 1 to 64 of A-Z a-z 0-9 . _ - (it is part of an object key).
inline bool valid_checkpoint_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

inline std::string encode_manifest(const manifest& m) {
  std::string out(manifest_magic);
  append_be(out, m.number);
  append_be(out, m.written_ms);
  append_be(out, m.changes);
  auto key = [&](std::string_view k) {
    if (k.size() > max_key_size) detail::throw_usage("manifest: a key or name over 65,535 bytes");
    append_be(out, static_cast<std::uint16_t>(k.size()));
    out += k;
  };
  append_be(out, static_cast<std::uint32_t>(m.segments.size()));
  for (const auto& s : m.segments) {
    append_be(out, s.writer);
    append_be(out, s.sequence);
    out.push_back(static_cast<char>(s.level));
    append_be(out, s.bytes);
    append_be(out, s.entries);
    key(s.first_key);
    key(s.last_key);
  }
  append_be(out, static_cast<std::uint32_t>(m.files.size()));
  for (const auto& f : m.files) {
    append_be(out, f.id);
    append_be(out, f.bytes);
    append_be(out, f.live_bytes);
  }
  append_be(out, static_cast<std::uint32_t>(m.writers.size()));
  for (const auto& w : m.writers) {
    append_be(out, w.id);
    append_be(out, w.last_segment);
  }
  append_be(out, static_cast<std::uint32_t>(m.pins.size()));
  for (const auto& p : m.pins) {
    key(p.name);
    append_be(out, p.manifest);
  }
  append_be(out, static_cast<std::uint32_t>(m.retired_files.size()));
  for (const auto& r : m.retired_files) {
    append_be(out, r.id);
    append_be(out, r.when_ms);
  }
  append_be(out, static_cast<std::uint32_t>(m.retired_segments.size()));
  for (const auto& r : m.retired_segments) {
    append_be(out, r.writer);
    append_be(out, r.sequence);
    append_be(out, r.when_ms);
  }
  append_be(out, crc32_of(out));
  return out;
}

// Throws corruption_error for bad magic, a CRC mismatch, a count or a length past the end,
// a segment whose first key is above its last, one named twice, files, writers or pins
// out of order, or bytes after the end; `where` names the object in the message.
inline manifest decode_manifest(std::string_view bytes, const std::string& where) {
  if (bytes.size() < manifest_magic.size() + 16 + 24 + 4 || !bytes.starts_with(manifest_magic))
    detail::throw_corruption(where + ": not an s4db manifest (bad magic or too short)");
  const std::string_view body = bytes.substr(0, bytes.size() - 4);
  if (crc32_of(body) != load_be<std::uint32_t>(bytes.data() + body.size()))
    detail::throw_corruption(where + ": manifest checksum mismatch");
  std::size_t pos = manifest_magic.size();
  auto need = [&](std::size_t n) {
    if (body.size() - pos < n) detail::throw_corruption(where + ": manifest truncated");
  };
  auto u8 = [&] {
    need(1);
    return static_cast<std::uint8_t>(body[pos++]);
  };
  auto u32 = [&] {
    need(4);
    pos += 4;
    return load_be<std::uint32_t>(body.data() + pos - 4);
  };
  auto u64 = [&] {
    need(8);
    pos += 8;
    return load_be<std::uint64_t>(body.data() + pos - 8);
  };
  auto text = [&] {
    need(2);
    const std::size_t n = load_be<std::uint16_t>(body.data() + pos);
    pos += 2;
    need(n);
    pos += n;
    return std::string(body.substr(pos - n, n));
  };
  // A count no larger than the bytes left could hold, at `least` bytes per element.
  auto count = [&](std::size_t least) {
    const std::uint32_t n = u32();
    if (n > (body.size() - pos) / least) detail::throw_corruption(where + ": manifest claims more elements than fit");
    return n;
  };
  manifest m;
  std::set<std::pair<std::uint32_t, std::uint64_t>> named;  // (writer, sequence) of each segment
  m.number = u64();
  m.written_ms = u64();
  m.changes = u64();
  if (m.changes > m.number) detail::throw_corruption(where + ": manifest counts more changes than commits");
  for (std::uint32_t i = count(41); i > 0; --i) {
    manifest::segment s;
    s.writer = u32();
    s.sequence = u64();
    s.level = u8();
    s.bytes = u64();
    s.entries = u64();
    s.first_key = text();
    s.last_key = text();
    if (s.first_key > s.last_key) detail::throw_corruption(where + ": manifest segment with its keys reversed");
    if (!named.emplace(s.writer, s.sequence).second)
      detail::throw_corruption(where + ": manifest names a segment twice");
    m.segments.push_back(std::move(s));
  }
  for (std::uint32_t i = count(24); i > 0; --i) {
    manifest::data_file f{u64(), u64(), u64()};
    if ((!m.files.empty() && f.id <= m.files.back().id) || f.live_bytes > f.bytes)
      detail::throw_corruption(where + ": manifest data files out of order, or with more live bytes than bytes");
    m.files.push_back(f);
  }
  for (std::uint32_t i = count(12); i > 0; --i) {
    manifest::writer w{u32(), u64()};
    if (!m.writers.empty() && w.id <= m.writers.back().id)
      detail::throw_corruption(where + ": manifest writers out of order");
    m.writers.push_back(w);
  }
  for (std::uint32_t i = count(10); i > 0; --i) {
    manifest::pin p;
    p.name = text();
    p.manifest = u64();
    if ((!m.pins.empty() && p.name <= m.pins.back().name) || p.manifest > m.number)
      detail::throw_corruption(where + ": manifest checkpoints out of order, or pinning a later manifest");
    m.pins.push_back(std::move(p));
  }
  for (std::uint32_t i = count(16); i > 0; --i) m.retired_files.push_back({u64(), u64()});
  for (std::uint32_t i = count(20); i > 0; --i) {
    const auto writer = u32();
    const auto sequence = u64();
    m.retired_segments.push_back({writer, sequence, u64()});
  }
  if (pos != body.size())
    detail::throw_corruption(where + ": " + std::to_string(body.size() - pos) + " bytes after the manifest's end");
  return m;
}

}  // namespace format
}  // namespace v0
}  // namespace s4db
