// A format 3 index segment (docs/format.md, "Format 3: index segments"): an immutable,
// sorted run of key -> location (or tombstone, or a small entry inline), in blocks of a
// few KiB with a CRC each, then a Bloom filter, a block index, and a fixed-size trailer
// that finds both, so a reader can use a segment without reading it whole (LevelDB's
// table and SlateDB's SST have the same shape). Bytes in, bytes out; no I/O.
//
//   segment  := block* filter block_index trailer
//   block    := u32 count | entry{count} | u32 crc32(the block's bytes before it)
//   entry    := u16 shared | u16 unshared | key[shared:] (unshared bytes) | u8 kind | body
//               kind 0 put:        u64 file_id | u64 offset | u32 length
//               kind 1 tombstone:  nothing
//               kind 2 inline put: u64 file_id | u64 offset | u32 length | the data file's
//                                  entry at that place, `length` bytes (its own CRC)
//   filter   := format/bloom.hpp's bytes | u32 crc32(them) (a flipped bit there would hide
//               a key: a false negative is a wrong read, not a slower one)
//   index    := u32 blocks | per block: u64 offset | u32 length | u16 n | its last key (n)
//               | u32 crc32(the index's bytes before it)
//   trailer  := u8 version (3) | 3 zero bytes | u64 entries | u64 filter offset | u32 filter
//               length | u64 index offset | u32 index length | u32 crc32(the 36 bytes
//               before) | "s4dbseg3"                                          (48 bytes)
// Keys ascend strictly (unsigned bytes) through the segment; `shared` counts the bytes a
// key shares with the one before it in its block (0 for a block's first). Integers are
// big-endian, as everywhere in s4db. Anything else is corruption_error, with memory bounded
// by the bytes given.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "../error.hpp"
#include "bloom.hpp"
#include "crc.hpp"
#include "endian.hpp"
#include "entry.hpp"
#include "index_file.hpp"

namespace s4db {
inline namespace v0 {
namespace format {

enum class segment_kind : std::uint8_t { put = 0, tombstone = 1, inline_put = 2 };

struct segment_entry {
  std::string_view key;
  segment_kind kind = segment_kind::put;
  location loc{};                 // put and inline put
  std::string_view inline_entry;  // inline put: the data file's entry at loc, loc.length bytes
};

inline constexpr std::size_t segment_trailer_size = 48;
inline constexpr std::string_view segment_magic = "s4dbseg3";
inline constexpr std::size_t segment_block_size = 4096;  // a block closes once it passes this

// Where a block lies, and the last key in it (the index a lookup searches).
struct block_handle {
  std::uint64_t offset = 0;
  std::uint32_t length = 0;
  std::string last_key;
};

struct segment_trailer {
  std::uint64_t entries = 0;
  std::uint64_t filter_offset = 0;
  std::uint32_t filter_length = 0;
  std::uint64_t index_offset = 0;
  std::uint32_t index_length = 0;
};

// Builds a segment from entries given in strictly ascending key order.
class segment_builder {
 public:
  explicit segment_builder(std::size_t block_size = segment_block_size) : block_size_(block_size) {}

  // Throws usage_error for a key not above the one before, or an inline entry whose bytes
  // are not loc.length long.
  void add(const segment_entry& e) {
    if (e.key.size() > max_key_size) detail::throw_usage("segment: a key over 65,535 bytes");
    if (count_ > 0 && !(e.key > last_key_))
      detail::throw_usage("segment: keys must ascend strictly; '" + std::string(e.key) + "' follows '" + last_key_ +
                          "'");
    if (e.kind == segment_kind::inline_put && e.inline_entry.size() != e.loc.length)
      detail::throw_usage("segment: an inline entry of " + std::to_string(e.inline_entry.size()) +
                          " bytes for a location of " + std::to_string(e.loc.length));
    if (block_entries_ == 0) {
      block_start_ = out_.size();
      append_be(out_, std::uint32_t{0});  // the count, set when the block closes
    }
    const std::size_t shared = block_entries_ == 0 ? 0 : common_prefix(last_key_, e.key);
    append_be(out_, static_cast<std::uint16_t>(shared));
    append_be(out_, static_cast<std::uint16_t>(e.key.size() - shared));
    out_.append(e.key.substr(shared));
    out_.push_back(static_cast<char>(e.kind));
    if (e.kind != segment_kind::tombstone) {
      append_be(out_, e.loc.file);
      append_be(out_, e.loc.offset);
      append_be(out_, e.loc.length);
      if (e.kind == segment_kind::inline_put) out_.append(e.inline_entry);
    }
    last_key_.assign(e.key);
    hashes_.push_back(key_hash(e.key));
    ++block_entries_;
    ++count_;
    if (out_.size() - block_start_ >= block_size_) close_block();
  }

  std::uint64_t entries() const noexcept { return count_; }
  const std::string& last_key() const noexcept { return last_key_; }

  // The segment's bytes; the builder is spent.
  std::string finish() {
    close_block();
    segment_trailer t;
    t.entries = count_;
    t.filter_offset = out_.size();
    bloom_builder filter(hashes_.size());
    for (const auto h : hashes_) filter.add(h);
    const std::string bloom = filter.finish();
    out_ += bloom;
    append_be(out_, crc32_of(bloom));
    t.filter_length = static_cast<std::uint32_t>(out_.size() - t.filter_offset);
    t.index_offset = out_.size();
    append_be(out_, static_cast<std::uint32_t>(blocks_.size()));
    for (const auto& b : blocks_) {
      append_be(out_, b.offset);
      append_be(out_, b.length);
      append_be(out_, static_cast<std::uint16_t>(b.last_key.size()));
      out_ += b.last_key;
    }
    append_be(out_, crc32_of(std::string_view(out_).substr(static_cast<std::size_t>(t.index_offset))));
    t.index_length = static_cast<std::uint32_t>(out_.size() - t.index_offset);
    const std::size_t trailer_start = out_.size();
    out_.push_back(3);
    out_.append(3, '\0');
    append_be(out_, t.entries);
    append_be(out_, t.filter_offset);
    append_be(out_, t.filter_length);
    append_be(out_, t.index_offset);
    append_be(out_, t.index_length);
    append_be(out_, crc32_of(std::string_view(out_).substr(trailer_start)));
    out_ += segment_magic;
    return std::move(out_);
  }

 private:
  static std::size_t common_prefix(std::string_view a, std::string_view b) {
    const auto n = std::min(a.size(), b.size());
    std::size_t i = 0;
    while (i < n && a[i] == b[i]) ++i;
    return i;
  }

  void close_block() {
    if (block_entries_ == 0) return;
    const auto count = static_cast<std::uint32_t>(block_entries_);
    for (int i = 0; i < 4; ++i)
      out_[block_start_ + static_cast<std::size_t>(i)] = static_cast<char>(count >> (24 - 8 * i));
    append_be(out_, crc32_of(std::string_view(out_).substr(block_start_)));
    blocks_.push_back({block_start_, static_cast<std::uint32_t>(out_.size() - block_start_), last_key_});
    block_entries_ = 0;
  }

  std::size_t block_size_;
  std::string out_;
  std::vector<block_handle> blocks_;
  std::vector<std::uint64_t> hashes_;
  std::string last_key_;
  std::size_t block_start_ = 0;
  std::size_t block_entries_ = 0;
  std::uint64_t count_ = 0;
};

// The trailer, from the segment's last 48 bytes and its size. Checks the magic, the CRC,
// the version, and that the blocks, the filter and the index tile the object exactly.
inline segment_trailer decode_segment_trailer(std::string_view tail, std::uint64_t size, const std::string& where) {
  if (size < segment_trailer_size || tail.size() != segment_trailer_size)
    detail::throw_corruption(where + ": segment shorter than its 48-byte trailer");
  if (tail.substr(40) != segment_magic) detail::throw_corruption(where + ": not an s4db index segment (bad magic)");
  if (crc32_of(tail.substr(0, 36)) != load_be<std::uint32_t>(tail.data() + 36))
    detail::throw_corruption(where + ": segment trailer checksum mismatch");
  if (tail[0] != 3 || tail[1] != 0 || tail[2] != 0 || tail[3] != 0)
    detail::throw_corruption(where + ": unsupported segment version " +
                             std::to_string(static_cast<std::uint8_t>(tail[0])));
  segment_trailer t;
  t.entries = load_be<std::uint64_t>(tail.data() + 4);
  t.filter_offset = load_be<std::uint64_t>(tail.data() + 12);
  t.filter_length = load_be<std::uint32_t>(tail.data() + 20);
  t.index_offset = load_be<std::uint64_t>(tail.data() + 24);
  t.index_length = load_be<std::uint32_t>(tail.data() + 32);
  const std::uint64_t body = size - segment_trailer_size;
  if (t.filter_offset > body || t.filter_length > body - t.filter_offset ||
      t.index_offset != t.filter_offset + t.filter_length || t.index_length > body - t.index_offset ||
      t.index_offset + t.index_length != body)
    detail::throw_corruption(where + ": segment trailer places the filter or the block index outside the object");
  // An entry takes at least 5 bytes: no more can be claimed than the blocks hold.
  if (t.entries > t.filter_offset / 5) detail::throw_corruption(where + ": segment claims more entries than fit");
  return t;
}

// The block index, from its bytes (the trailer's index_length bytes at index_offset).
// Checks the CRC, that the blocks tile [0, filter_offset) in order, and that their last
// keys ascend.
inline std::vector<block_handle> decode_block_index(std::string_view bytes, const segment_trailer& t,
                                                    const std::string& where) {
  if (bytes.size() < 8 || bytes.size() != t.index_length)
    detail::throw_corruption(where + ": segment block index shorter than its count and checksum");
  const std::string_view body = bytes.substr(0, bytes.size() - 4);
  if (crc32_of(body) != load_be<std::uint32_t>(bytes.data() + body.size()))
    detail::throw_corruption(where + ": segment block index checksum mismatch");
  const std::uint32_t n = load_be<std::uint32_t>(body.data());
  if (n > body.size() / 14) detail::throw_corruption(where + ": segment block index claims more blocks than fit");
  std::vector<block_handle> out;
  out.reserve(n);
  std::size_t pos = 4;
  std::uint64_t next = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (body.size() - pos < 14) detail::throw_corruption(where + ": segment block index truncated");
    block_handle b;
    b.offset = load_be<std::uint64_t>(body.data() + pos);
    b.length = load_be<std::uint32_t>(body.data() + pos + 8);
    const std::size_t key_len = load_be<std::uint16_t>(body.data() + pos + 12);
    if (body.size() - pos - 14 < key_len) detail::throw_corruption(where + ": segment block index truncated");
    b.last_key.assign(body.substr(pos + 14, key_len));
    pos += 14 + key_len;
    if (b.offset != next || b.length < 8 || b.length > t.filter_offset - b.offset)
      detail::throw_corruption(where + ": segment block " + std::to_string(i) + " lies outside the blocks");
    if (!out.empty() && !(b.last_key > out.back().last_key))
      detail::throw_corruption(where + ": segment block index keys out of order");
    next = b.offset + b.length;
    out.push_back(std::move(b));
  }
  if (pos != body.size() || next != t.filter_offset)
    detail::throw_corruption(where + ": segment blocks do not fill the space before the filter");
  return out;
}

// The filter, from its bytes (the trailer's filter_length bytes at filter_offset), its CRC checked.
inline bloom_view decode_segment_filter(std::string_view bytes, const std::string& where) {
  if (bytes.size() < 4) detail::throw_corruption(where + ": segment filter shorter than its checksum");
  const std::string_view bloom = bytes.substr(0, bytes.size() - 4);
  if (crc32_of(bloom) != load_be<std::uint32_t>(bytes.data() + bloom.size()))
    detail::throw_corruption(where + ": segment filter checksum mismatch");
  return bloom_view::of(bloom, where);
}

// Calls on_entry(const segment_entry&) for each entry of one block, in order, after
// checking its CRC. The entry's key and inline bytes are valid during the call. Keys must
// ascend, all above `after` (the last key of the block before; nullptr for the first) and
// the last equal to the index's `last_key`.
template <class OnEntry>
void decode_segment_block(std::string_view block, const std::string* after, std::string_view last_key,
                          const std::string& where, OnEntry&& on_entry) {
  if (block.size() < 8) detail::throw_corruption(where + ": segment block shorter than its count and checksum");
  const std::string_view body = block.substr(0, block.size() - 4);
  if (crc32_of(body) != load_be<std::uint32_t>(block.data() + body.size()))
    detail::throw_corruption(where + ": segment block checksum mismatch");
  const std::uint32_t count = load_be<std::uint32_t>(body.data());
  if (count == 0 || count > body.size() / 5) detail::throw_corruption(where + ": segment block entry count impossible");
  std::string key;  // the key before, until the next one is made from it
  std::size_t pos = 4;
  auto need = [&](std::size_t n) {
    if (body.size() - pos < n) detail::throw_corruption(where + ": segment block entry truncated");
  };
  for (std::uint32_t i = 0; i < count; ++i) {
    need(5);
    const std::size_t shared = load_be<std::uint16_t>(body.data() + pos);
    const std::size_t unshared = load_be<std::uint16_t>(body.data() + pos + 2);
    pos += 4;
    if (shared > key.size() || (i == 0 && shared != 0) || shared + unshared > max_key_size)
      detail::throw_corruption(where + ": segment entry shares more of a key than there is");
    need(unshared + 1);
    const std::string_view suffix = body.substr(pos, unshared);
    // Above the key before: past their shared bytes, the suffix is above the rest of it.
    const bool ascends =
        i > 0 ? suffix > std::string_view(key).substr(shared) : !after || suffix > std::string_view(*after);
    if (!ascends) detail::throw_corruption(where + ": segment keys out of order");
    key.resize(shared);
    key.append(suffix);
    pos += unshared;
    segment_entry e;
    e.kind = static_cast<segment_kind>(body[pos++]);
    if (e.kind != segment_kind::put && e.kind != segment_kind::tombstone && e.kind != segment_kind::inline_put)
      detail::throw_corruption(where + ": segment entry of unknown kind " + std::to_string(static_cast<int>(e.kind)));
    if (e.kind != segment_kind::tombstone) {
      need(20);
      e.loc = {load_be<std::uint64_t>(body.data() + pos), load_be<std::uint64_t>(body.data() + pos + 8),
               load_be<std::uint32_t>(body.data() + pos + 16)};
      pos += 20;
      if (e.kind == segment_kind::inline_put) {
        need(e.loc.length);
        e.inline_entry = body.substr(pos, e.loc.length);
        pos += e.loc.length;
      }
    }
    e.key = key;
    on_entry(static_cast<const segment_entry&>(e));
  }
  if (pos != body.size()) detail::throw_corruption(where + ": bytes after a segment block's last entry");
  if (key != last_key) detail::throw_corruption(where + ": a segment block's last key is not the index's");
}

// A whole segment in memory (fetched or mapped), checked as it is used: the trailer and
// the block index when it is opened (and the filter), each block when it is read.
class segment_view {
 public:
  static segment_view open(std::string_view bytes, std::string where) {
    segment_view v;
    v.bytes_ = bytes;
    v.where_ = std::move(where);
    v.trailer_ = decode_segment_trailer(bytes.substr(bytes.size() - std::min(bytes.size(), segment_trailer_size)),
                                        bytes.size(), v.where_);
    v.filter_ = decode_segment_filter(
        bytes.substr(static_cast<std::size_t>(v.trailer_.filter_offset), v.trailer_.filter_length), v.where_);
    v.blocks_ = decode_block_index(
        bytes.substr(static_cast<std::size_t>(v.trailer_.index_offset), v.trailer_.index_length), v.trailer_, v.where_);
    if (v.blocks_.empty() != (v.trailer_.entries == 0))
      detail::throw_corruption(v.where_ + ": segment with " + std::to_string(v.trailer_.entries) + " entries in " +
                               std::to_string(v.blocks_.size()) + " blocks");
    return v;
  }

  std::uint64_t entries() const noexcept { return trailer_.entries; }
  const std::vector<block_handle>& blocks() const noexcept { return blocks_; }

  // Calls on_entry for each entry of block i, in key order.
  template <class OnEntry>
  void for_each_in(std::size_t i, OnEntry&& on_entry) const {
    decode_segment_block(block(i), i ? &blocks_[i - 1].last_key : nullptr, blocks_[i].last_key, where_, on_entry);
  }

  // Calls on_entry for every entry, in key order; checks the count the trailer gives.
  template <class OnEntry>
  void for_each(OnEntry&& on_entry) const {
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < blocks_.size(); ++i)
      for_each_in(i, [&](const segment_entry& e) {
        if (++seen > trailer_.entries)
          detail::throw_corruption(where_ + ": segment holds more entries than its trailer says");
        on_entry(e);
      });
    if (seen != trailer_.entries)
      detail::throw_corruption(where_ + ": segment holds " + std::to_string(seen) + " entries, its trailer says " +
                               std::to_string(trailer_.entries));
  }

  // The key's entry (calls found(const segment_entry&) with it), or false: the filter
  // first, then the one block whose range holds the key.
  template <class Found>
  bool find(std::string_view key, Found&& found) const {
    if (!filter_.may_contain(key_hash(key))) return false;
    const auto it =
        std::lower_bound(blocks_.begin(), blocks_.end(), key,
                         [](const block_handle& b, std::string_view k) { return std::string_view(b.last_key) < k; });
    if (it == blocks_.end()) return false;
    const auto i = static_cast<std::size_t>(it - blocks_.begin());
    bool hit = false;
    for_each_in(i, [&](const segment_entry& e) {
      if (!hit && e.key == key) {
        hit = true;
        found(e);
      }
    });
    return hit;
  }

 private:
  std::string_view block(std::size_t i) const {
    return bytes_.substr(static_cast<std::size_t>(blocks_[i].offset), blocks_[i].length);
  }

  std::string_view bytes_;
  std::string where_;
  segment_trailer trailer_;
  bloom_view filter_;
  std::vector<block_handle> blocks_;
};

}  // namespace format
}  // namespace v0
}  // namespace s4db
