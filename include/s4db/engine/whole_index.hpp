// The published index of formats 1 and 2: one object holding every key (SPEC section 3),
// held whole in memory in the Index policy's container. The first implementation of the
// published_index seam (engine/published_index.hpp). Owns the map and the index header's
// next_file (the legacy counter of writer 0's files). Not thread-safe by itself: basic_db's
// lock guards it.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "../concepts.hpp"
#include "../detail/working_copy.hpp"
#include "../error.hpp"
#include "../format/endian.hpp"
#include "../format/index_file.hpp"
#include "../index/compact.hpp"
#include "key_span.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

template <class Index>
class whole_index {
 public:
  using map_type = index_map_t<Index>;

  // The location of key's newest entry (a copy: a container may pack its elements).
  std::optional<location> find(std::string_view key) const {
    const auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }
  std::size_t size() const { return map_.size(); }
  bool empty() const { return map_.size() == 0; }
  auto begin() const { return map_.begin(); }
  auto end() const { return map_.end(); }

  void set(std::string_view key, const location& loc) { assign(map_, key, loc); }
  void erase(std::string_view key) {
    if (auto it = map_.find(key); it != map_.end()) map_.erase(it);
  }
  void clear() { map_.clear(); }
  // Puts `fresh` in place (a compaction's, a rebuild's); returns what was there.
  map_type replace(map_type fresh) { return std::exchange(map_, std::move(fresh)); }
  // Takes the published bytes as the index.
  void adopt(std::string_view bytes, const std::string& where_from, detail::working_copy& copy) {
    map_ = decode(bytes, where_from, copy);
  }

  // Format 1's shared namespace (writer 0): one past every sequence an index this copy
  // loaded has named or reserved. A name below it may have been another writer's.
  std::uint32_t legacy_next() const noexcept { return legacy_next_; }

  // The (key, location) of every key in `span`, in key order: walked from the span's start
  // in a sorted container, else gathered from all and sorted.
  entry_list entries_in(const key_span& span) const {
    entry_list out;
    if (span.empty()) return out;
    if constexpr (requires { map_.lower_bound(span.low); }) {
      for (auto it = map_.lower_bound(span.low); it != map_.end() && span.below_end(it->first); ++it)
        out.emplace_back(it->first, it->second);
    } else {
      for (const auto& element : map_)
        if (span.contains(element.first)) out.emplace_back(element.first, element.second);
      std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    }
    return out;
  }

  std::set<file_id> referenced_files() const {
    std::set<file_id> out;
    for (const auto& element : map_) out.insert(element.second.file);
    return out;
  }

  // Sets key to loc in an index map: by string_view where the container takes one (no
  // std::string built per key), else through a std::string.
  static void assign(map_type& into, std::string_view key, const location& loc) {
    if constexpr (requires { into.insert_or_assign(key, loc); })
      into.insert_or_assign(key, loc);
    else
      into.insert_or_assign(std::string(key), loc);
  }

  // Parses an index (store or local), and notes the files it names so that no new file
  // of `copy` takes one of their names. Reserves no more than the bytes can hold: a
  // hostile header claiming four billion entries costs nothing.
  map_type decode(std::string_view bytes, const std::string& where_from, detail::working_copy& copy) {
    map_type loaded;
    const std::size_t claimed = bytes.size() >= format::index_header_size
                                    ? std::min<std::size_t>(format::load_be<std::uint32_t>(bytes.data() + 5),
                                                            bytes.size() / format::index_entry_overhead_v1)
                                    : 0;
    if constexpr (requires { loaded.reserve(claimed, bytes.size()); })
      loaded.reserve(claimed, bytes.size());  // the keys take fewer bytes than the index
    else if constexpr (requires { loaded.reserve(claimed); })
      loaded.reserve(claimed);
    std::uint32_t legacy_highest = 0;
    // Inserted a few entries behind the parse, with their slots prefetched meanwhile, where
    // the container can (compact_index): the table's cache misses then overlap.
    constexpr std::size_t ahead = 16;
    std::array<std::pair<std::string_view, location>, ahead> pending;
    std::size_t parsed = 0;
    auto insert = [&](const std::pair<std::string_view, location>& e) {
      assign(loaded, e.first, e.second);
      if (writer_of(e.second.file) == 0) legacy_highest = std::max(legacy_highest, sequence_of(e.second.file));
    };
    const auto header = format::decode_index(bytes, where_from, [&](std::string_view key, const location& loc) {
      if constexpr (requires { loaded.prefetch(key); }) {
        auto& slot = pending[parsed++ % ahead];
        if (parsed > ahead) insert(slot);
        slot = {key, loc};
        loaded.prefetch(key);
      } else {
        insert({key, loc});
      }
    });
    for (std::size_t i = parsed > ahead ? parsed - ahead : 0; i < parsed; ++i) insert(pending[i % ahead]);
    legacy_next_ = std::max({legacy_next_, header.next_file, legacy_highest + 1});
    if (copy.writer() == 0) copy.raise_next_file(legacy_next_);
    for (const auto& element : loaded) copy.raise_next_past(element.second.file);
    return loaded;
  }

  // The published bytes of this index, in `format_version`.
  std::string encode(int format_version, const detail::working_copy& copy) const {
    const std::uint32_t legacy_next = copy.writer() == 0 ? std::max(copy.next_file(), legacy_next_) : legacy_next_;
    return format::encode_index(format_version, legacy_next, map_.size(), map_);
  }

  // Saves the index as the working copy's local index, with the position in the data
  // files it reflects: the container's checkpoint where it has one (compact_index: loaded
  // without parsing), else the published format. Returns the bytes saved.
  std::uint64_t save(detail::working_copy& copy, int format_version) {
    copy.state().legacy_next = legacy_next_;
    const auto position = copy.end_position();
    std::uint64_t saved = 0;
    auto save_pieces = [&](std::span<const std::string_view> pieces) {
      copy.save(pieces, position.first, position.second);
      for (auto piece : pieces) saved += piece.size();
    };
    if constexpr (requires { map_.checkpoint_image(); }) {
      const auto image = map_.checkpoint_image();
      save_pieces(image.pieces());
    } else {
      const std::string index = encode(format_version, copy);
      save_pieces(std::span<const std::string_view>(std::array<std::string_view, 1>{index}));
    }
    return saved;
  }

  // What load_saved() found: the checkpoint's size (0 for an index in the published
  // format), and the end of the last entry the index names in each data file.
  struct saved_load {
    std::uint64_t checkpoint_bytes = 0;
    std::map<file_id, std::uint64_t> file_ends;
  };

  // Loads the working copy's saved index: a checkpoint (written by compact_index; another
  // container takes its elements one by one), or an index in the published format.
  saved_load load_saved(std::string_view bytes, const std::string& where_from,
                        std::shared_ptr<const void> writable_owner, detail::working_copy& copy) {
    using checkpoint_map = detail::compact_map<location>;
    if (!checkpoint_map::is_checkpoint(bytes)) {
      adopt(bytes, where_from, copy);
      return {0, file_ends()};
    }
    saved_load out{bytes.size(), {}};
    file_ends_builder ends(out.file_ends);  // in the pass that checks the checkpoint's keys
    auto checkpoint = std::is_same_v<map_type, checkpoint_map>
                          ? checkpoint_map::from_checkpoint(bytes, std::move(writable_owner), ends)
                          : checkpoint_map::from_checkpoint(bytes, nullptr, ends);
    if (!checkpoint)
      detail::throw_corruption(where_from +
                               ": a damaged index checkpoint (sizes or references out of bounds); move local.state "
                               "and index.idx aside, open, and rebuild_index() recovers the index from the data files");
    if constexpr (std::is_same_v<map_type, checkpoint_map>) {
      map_ = std::move(*checkpoint);
    } else {
      map_.clear();
      for (const auto& element : *checkpoint) assign(map_, element.first, element.second);
    }
    std::uint32_t legacy_highest = 0;
    for (const auto& [n, end] : out.file_ends) {
      if (writer_of(n) == 0) legacy_highest = std::max(legacy_highest, sequence_of(n));
      copy.raise_next_past(n);
    }
    legacy_next_ = std::max({legacy_next_, copy.state().legacy_next, legacy_highest + 1});
    if (copy.writer() == 0) copy.raise_next_file(legacy_next_);
    return out;
  }

  // The end of the last entry the index names in each data file.
  std::map<file_id, std::uint64_t> file_ends() const {
    std::map<file_id, std::uint64_t> out;
    file_ends_builder ends(out);
    for (const auto& element : map_) ends(element.second);
    return out;
  }

 private:
  // Takes the end of each location into `ends` (elements next to each other mostly name one
  // file: a map lookup per run of them, not per key).
  class file_ends_builder {
   public:
    explicit file_ends_builder(std::map<file_id, std::uint64_t>& ends) : ends_(ends) {}
    void operator()(const location& loc) {
      if (!run_end_ || loc.file != run_file_) run_end_ = &ends_[run_file_ = loc.file];
      *run_end_ = std::max(*run_end_, loc.offset + loc.length);
    }

   private:
    std::map<file_id, std::uint64_t>& ends_;
    std::uint64_t* run_end_ = nullptr;
    file_id run_file_ = 0;
  };

  // (protected: format 3's segmented_index keeps every key here too, for now)
 protected:
  map_type map_;

 private:
  std::uint32_t legacy_next_ = 1;  // the index header's next_file: one past every writer-0 file named
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
