// The seam between basic_db and the shape of the published index: what every part needs
// of "the index", whatever its format. Formats 1 and 2 publish one object holding every
// key (engine/whole_index.hpp, the first implementation); format 3's segments and
// manifest (SPEC section 7) arrive as a second one, and the parts above stay as they are.
//
// An implementation is the in-memory index of one db: a map from key to the location of
// its newest entry, which it loads from and encodes to the published bytes, and which it
// saves as the working copy's local index (a checkpoint) and loads back.
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include "../concepts.hpp"
#include "../detail/working_copy.hpp"
#include "key_span.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

template <class P>
concept published_index = requires(P& p, const P& cp, std::string_view key, const location& loc,
                                   detail::working_copy& copy, const detail::working_copy& ccopy, int format_version,
                                   const key_span& span) {
  typename P::map_type;
  // Lookups and the changes of writes, rebases and recovery.
  { cp.find(key) } -> std::same_as<std::optional<location>>;
  { cp.size() } -> std::convertible_to<std::size_t>;
  { cp.empty() } -> std::same_as<bool>;
  p.set(key, loc);
  p.erase(key);
  p.clear();
  // Every (key, location), for compaction, verify and the snapshot of items().
  cp.begin();
  cp.end();
  // The (key, location) of the keys in a span, in key order: scan(), erase_range(), snapshot().
  { cp.entries_in(span) } -> std::same_as<entry_list>;
  // The data files it names: gc keeps them, a compaction rewrites them.
  { cp.referenced_files() } -> std::same_as<std::set<file_id>>;
  // Format 1's shared namespace: the first sequence no loaded index named.
  { cp.legacy_next() } -> std::convertible_to<std::uint32_t>;
  // The published bytes, both ways, and the local checkpoint, both ways.
  { p.decode(std::string_view{}, std::string{}, copy) } -> std::same_as<typename P::map_type>;
  p.adopt(std::string_view{}, std::string{}, copy);
  { cp.encode(format_version, ccopy) } -> std::same_as<std::string>;
  { p.save(copy, format_version) } -> std::same_as<std::uint64_t>;
  // (the checkpoint's size, and the end of the last entry named in each data file)
  {
    p.load_saved(std::string_view{}, std::string{}, std::shared_ptr<const void>{}, copy)
    } -> std::same_as<typename P::saved_load>;
  // A compaction's or a rebuild's index put in place of the old one.
  { p.replace(typename P::map_type{}) } -> std::same_as<typename P::map_type>;
  // ... and a replace() undone: a compaction that lost its race puts the old index back.
  p.restore(typename P::map_type{});
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
