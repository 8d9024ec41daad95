// unordered_index: the default index, std::unordered_map with transparent lookup.
// keys() and items() come in no particular order.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>

#include "../concepts.hpp"
#include "../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "../detail/string_hash.hpp"

namespace s4db {
inline namespace v0 {

struct unordered_index {
  template <class Value>
  using map_type = std::unordered_map<std::string, Value, detail::string_hash, std::equal_to<>>;
};

static_assert(index<unordered_index>);

}  // namespace v0
}  // namespace s4db
