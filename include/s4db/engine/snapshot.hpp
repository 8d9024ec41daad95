// What db.snapshot() returns: a read view of the db as it was when it was taken, which
// stays exactly that while the db writes, commits, refreshes, downloads and compacts.
//
// On formats 1 and 2 the index is one map held whole, so a snapshot copies it: every
// (key, location) sorted by key (about 48 bytes per key plus keys over 15 bytes, and a
// sort of them when the index container is a hash), and it maps the local data files its
// entries lie in, so no byte it names can go from under it: entries never move (a data
// file's bytes at an offset never change), a local file removed by compaction or
// download stays readable through its mapping, and this db's gc() spares every object a
// live snapshot names (engine/pins.hpp). Another process's gc may still delete an object
// only the snapshot names, once it is older than that gc's grace: a read of it then
// throws store_error (not_found), never returns another value.
//
// A snapshot reads through its db's store and must not outlive the db; after close() its
// reads throw usage_error. Copies share one view. Thread-safe as the db is.
#pragma once

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../options.hpp"
#include "key_span.hpp"
#include "pins.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

template <class Reader>
class snapshot {
 public:
  using item_range = typename Reader::items_type;

  // The key's value when the snapshot was taken, or nullopt.
  std::optional<std::string> get(std::string_view key) const {
    const auto* e = find(key);
    if (!e) return std::nullopt;
    return reader_->read_pinned(e->first, e->second, *pins_);
  }

  // The values of many keys, in the order asked (nullopt where missing).
  template <class Range>
  std::vector<std::optional<std::string>> get_many(const Range& keys) const {
    std::vector<std::optional<std::string>> out;
    for (auto&& key : keys) out.push_back(get(std::string_view(key)));
    return out;
  }
  std::vector<std::optional<std::string>> get_many(std::initializer_list<std::string_view> keys) const {
    return get_many<std::initializer_list<std::string_view>>(keys);
  }

  bool contains(std::string_view key) const { return find(key) != nullptr; }
  std::size_t size() const noexcept { return entries_->size(); }

  // The snapshot's keys in [from, to) starting with prefix, in key order (reverse: largest
  // first), each value read as the range reaches it. Memory: none per key (the range walks
  // the snapshot's own list).
  item_range scan(const scan_options& how = {}) const {
    const auto span = key_span::of(how);
    if (span.empty()) return reader_->snapshot_range(entries_, 0, 0, how.reverse, pins_);
    const auto first = std::lower_bound(entries_->begin(), entries_->end(), span.low, before);
    const auto last = span.high ? std::lower_bound(first, entries_->end(), *span.high, before) : entries_->end();
    return reader_->snapshot_range(entries_, static_cast<std::size_t>(first - entries_->begin()),
                                   static_cast<std::size_t>(last - first), how.reverse, pins_);
  }

 private:
  friend Reader;
  snapshot(const Reader* reader, std::shared_ptr<const entry_list> sorted, std::shared_ptr<const pinned_files> pins)
      : reader_(reader), entries_(std::move(sorted)), pins_(std::move(pins)) {}

  static bool before(const std::pair<std::string, location>& e, const std::string& key) { return e.first < key; }

  const std::pair<std::string, location>* find(std::string_view key) const {
    const auto it = std::lower_bound(entries_->begin(), entries_->end(), key,
                                     [](const auto& e, std::string_view k) { return std::string_view(e.first) < k; });
    return it != entries_->end() && it->first == key ? &*it : nullptr;
  }

  const Reader* reader_;
  std::shared_ptr<const entry_list> entries_;
  std::shared_ptr<const pinned_files> pins_;
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
