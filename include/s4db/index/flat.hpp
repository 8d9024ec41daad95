// flat_index: an open-addressing (Robin Hood) hash map from Tessil's robin-map (Debian
// robin-map-dev), denser and faster to fill than std::unordered_map. Stores each key's
// hash so growing never rehashes the strings. keys() and items() come in no particular order.
#pragma once

#include <tsl/robin_map.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "../concepts.hpp"
#include "../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "../detail/string_hash.hpp"

namespace s4db {
inline namespace v0 {

struct flat_index {
  template <class Value>
  using map_type = tsl::robin_map<std::string, Value, detail::string_hash, std::equal_to<>,
                                  std::allocator<std::pair<std::string, Value>>, /*StoreHash=*/true>;
};

static_assert(index<flat_index>);

}  // namespace v0
}  // namespace s4db
