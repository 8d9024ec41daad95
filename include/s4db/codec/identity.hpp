// identity_codec: values stored as given, marked with flag 0x02 ("not compressed", as
// later Python s4db versions write it). Stateless, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "../concepts.hpp"
#include "../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line

namespace s4db {
inline namespace v0 {

struct identity_codec {
  static constexpr std::uint8_t flag = 0x02;
  static constexpr std::string_view name = "identity";
  void encode(std::string_view in, std::string& out) const { out.assign(in); }
  bool decode(std::string_view in, std::string& out) const {
    out.assign(in);
    return true;
  }
};

static_assert(codec<identity_codec>);

}  // namespace v0
}  // namespace s4db
