// The Bloom filter of a format 3 index segment (docs/format.md, "Format 3"): which keys the
// segment may hold, so a lookup skips the segments that surely do not. A key sets k bits,
// (h1 + i * h2) mod m for i in 0..k-1 (Kirsch and Mitzenmacher's double hashing), from the
// two halves of its 64-bit XXH3 hash (xxHash 0.8, whose XXH3 output is frozen: Debian's
// libxxhash-dev, used header-only). 10 bits per key and k = 6 (ln 2 of the bits per key,
// rounded down) give about 0.8% false positives, as LevelDB's default does; unlike LevelDB's 32-bit hash, a
// 64-bit one keeps that rate at hundreds of millions of keys.
// Bytes: u8 k | u32 m (bits) | ceil(m / 8) bytes, bit b being bit b % 8 (least significant
// first) of byte b / 8. Bytes in, bytes out; no I/O.
#pragma once

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "../error.hpp"
#include "endian.hpp"

namespace s4db {
inline namespace v0 {
namespace format {

inline constexpr std::size_t bloom_header_size = 5;  // k, m

inline std::uint64_t key_hash(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

// Builds a filter for `count` keys, given one by one (as their hashes).
class bloom_builder {
 public:
  explicit bloom_builder(std::size_t count, unsigned bits_per_key = 10)
      : k_(static_cast<std::uint8_t>(std::clamp(bits_per_key * 69 / 100, 1u, 30u))),
        m_(static_cast<std::uint32_t>(
            std::max<std::size_t>(64, std::min<std::size_t>(count * bits_per_key, 0xffffffc0)))),
        bits_((m_ + 7) / 8, '\0') {}

  void add(std::uint64_t hash) {
    for (std::uint8_t i = 0; i < k_; ++i) {
      const std::uint64_t bit = probe(hash, i, m_);
      bits_[static_cast<std::size_t>(bit / 8)] |= static_cast<char>(1u << (bit % 8));
    }
  }

  std::string finish() const {
    std::string out;
    out.push_back(static_cast<char>(k_));
    append_be(out, m_);
    out += bits_;
    return out;
  }

  static std::uint64_t probe(std::uint64_t hash, std::uint8_t i, std::uint32_t m) {
    const std::uint64_t h1 = hash & 0xffffffff, h2 = (hash >> 32) | 1;
    return (h1 + i * h2) % m;
  }

 private:
  std::uint8_t k_;
  std::uint32_t m_;
  std::string bits_;
};

// A filter read back: a view of its bytes, checked once.
class bloom_view {
 public:
  bloom_view() = default;
  // Throws corruption_error when the bytes are not a filter: too short, k of 0 or over 30,
  // or a bit count the bytes do not hold.
  static bloom_view of(std::string_view bytes, const std::string& where) {
    if (bytes.size() < bloom_header_size) detail::throw_corruption(where + ": Bloom filter shorter than its header");
    bloom_view v;
    v.k_ = static_cast<std::uint8_t>(bytes[0]);
    v.m_ = load_be<std::uint32_t>(bytes.data() + 1);
    v.bits_ = bytes.substr(bloom_header_size);
    if (v.k_ < 1 || v.k_ > 30 || v.m_ == 0 || v.bits_.size() != (std::uint64_t{v.m_} + 7) / 8)
      detail::throw_corruption(where + ": Bloom filter with k " + std::to_string(v.k_) + " and " +
                               std::to_string(v.m_) + " bits in " + std::to_string(v.bits_.size()) + " bytes");
    return v;
  }

  // False only when the key is surely not in the segment.
  bool may_contain(std::uint64_t hash) const {
    if (m_ == 0) return true;
    for (std::uint8_t i = 0; i < k_; ++i) {
      const std::uint64_t bit = bloom_builder::probe(hash, i, m_);
      if (!(static_cast<unsigned char>(bits_[static_cast<std::size_t>(bit / 8)]) & (1u << (bit % 8)))) return false;
    }
    return true;
  }

 private:
  std::uint8_t k_ = 0;
  std::uint32_t m_ = 0;
  std::string_view bits_;
};

}  // namespace format
}  // namespace v0
}  // namespace s4db
