// ordered_index: std::map, so keys() and items() come sorted by key (bytewise).
#pragma once

#include <functional>
#include <map>
#include <string>

#include "../concepts.hpp"
#include "../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line

namespace s4db {
inline namespace v0 {

struct ordered_index {
  template <class Value>
  using map_type = std::map<std::string, Value, std::less<>>;
};

static_assert(index<ordered_index>);

}  // namespace v0
}  // namespace s4db
