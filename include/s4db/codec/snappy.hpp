// snappy_codec: the default, and the Python s4db format: each value is one raw Snappy
// block (not the framed format), flag 0x00. Needs libsnappy. Stateless, thread-safe.
#pragma once

#include <snappy.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "../concepts.hpp"
#include "../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line

namespace s4db {
inline namespace v0 {

struct snappy_codec {
  static constexpr std::uint8_t flag = 0x00;
  static constexpr std::string_view name = "snappy";
  void encode(std::string_view in, std::string& out) const {
    out.clear();
    snappy::Compress(in.data(), in.size(), &out);
  }
  // A block's header claims its decoded length; one that no Snappy stream of this size can
  // reach (every element expands at most 64 / 3 times) is refused before any allocation,
  // since stored bytes come from an untrusted bucket.
  bool decode(std::string_view in, std::string& out) const {
    out.clear();
    std::size_t claimed = 0;
    if (!snappy::GetUncompressedLength(in.data(), in.size(), &claimed)) return false;
    if (claimed > in.size() * 22 + 64) return false;
    return snappy::Uncompress(in.data(), in.size(), &out);
  }
};

static_assert(codec<snappy_codec>);

}  // namespace v0
}  // namespace s4db
