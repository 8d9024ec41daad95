// A transparent string hash, so hash-based indexes find by std::string_view without
// building a std::string per lookup.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace s4db {
inline namespace v0 {
namespace detail {

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

}  // namespace detail
}  // namespace v0
}  // namespace s4db
