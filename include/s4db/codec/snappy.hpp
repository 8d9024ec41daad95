// snappy_codec: the default, and the Python s4db format: each value is one raw Snappy
// block (not the framed format), flag 0x00. Needs libsnappy. Stateless, thread-safe.
#pragma once

#include <snappy.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "../concepts.hpp"

namespace s4db {
inline namespace v0 {

struct snappy_codec {
  static constexpr std::uint8_t flag = 0x00;
  static constexpr std::string_view name = "snappy";
  void encode(std::string_view in, std::string& out) const {
    out.clear();
    snappy::Compress(in.data(), in.size(), &out);
  }
  bool decode(std::string_view in, std::string& out) const {
    out.clear();
    return snappy::Uncompress(in.data(), in.size(), &out);
  }
};

static_assert(codec<snappy_codec>);

}  // namespace v0
}  // namespace s4db
