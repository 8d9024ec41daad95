// The published side of one database: the objects under its prefix in the store. Names
// objects, lists the data files, transfers them, and commits the index so that an
// unknown outcome (a lost response) is resolved by reading the store back, never guessed.
// Holds a reference to the db's store; thread-safe as the store is.
#pragma once

#include <cstdint>
#include <filesystem>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../concepts.hpp"
#include "../error.hpp"
#include "../format/endian.hpp"
#include "../format/index_file.hpp"
#include "../format/names.hpp"
#include "file.hpp"
#include "local_state.hpp"

namespace s4db {
inline namespace v0 {
namespace detail {

template <class Store>
class bucket {
 public:
  bucket(Store& store, std::string prefix) : store_(store), prefix_(std::move(prefix)) {}

  Store& store() const noexcept { return store_; }
  std::string key(std::string_view name) const { return prefix_ + std::string(name); }
  std::string data_key(file_id n) const { return key(format::data_file_name(n)); }
  const std::string& prefix() const noexcept { return prefix_; }
  std::string index_key() const { return key(format::index_name); }

  // Every data object under the prefix, by id (one listing of the data file names only).
  std::map<file_id, object_info> data_objects() const {
    std::map<file_id, object_info> out;
    for (auto& o : store_.list(key(format::data_file_head)))
      if (auto n = format::parse_data_file_name(std::string_view(o.key).substr(prefix_.size())))
        out.emplace(*n, std::move(o));
    return out;
  }

  // The highest sequence the objects hold in `writer`'s namespace (0: none).
  static std::uint32_t highest(const std::map<file_id, object_info>& objects, std::uint32_t writer) {
    auto it = objects.lower_bound(make_file_id(writer + 1, 0));
    if (writer == 0xffffffffu) it = objects.end();
    if (it == objects.begin() || writer_of(std::prev(it)->first) != writer) return 0;
    return sequence_of(std::prev(it)->first);
  }

  // Downloads data object n to `destination` through a staging file, so the destination
  // is the old file or the whole new one.
  void fetch(file_id n, const std::filesystem::path& destination) const {
    const auto tmp = staging_path(destination);
    try {
      if (!store_.get_file(data_key(n), tmp))
        throw_store("download '" + data_key(n) + "': the object is not in the store", 404, false);
      rename_file(tmp, destination);
    } catch (...) {
      std::error_code ignored;
      std::filesystem::remove(tmp, ignored);
      throw;
    }
  }

  // The published index, or nullopt when there is none. One larger than its header allows
  // (an entry is at most 65,535 + 22 bytes; a damaged, hostile or sparse index.idx) is
  // corruption_error after a HEAD and a 9-byte read, before its body is: what it costs in
  // memory is bounded by what its header promises. `known` is a HEAD just made, if any.
  std::optional<object> get_index(std::optional<object_info> known = std::nullopt) const {
    if (!known) known = store_.head(index_key());
    if (!known) return std::nullopt;
    if (known->size > small_index) {
      const std::string header = store_.get_range(index_key(), 0, format::index_header_size);
      const std::uint64_t count =
          header.size() == format::index_header_size ? format::load_be<std::uint32_t>(header.data() + 5) : 0;
      const std::uint64_t largest =
          format::index_header_size + count * (format::index_entry_overhead_v2 + 65535) + format::index_crc_size;
      if (known->size > largest)
        throw_corruption(index_key() + ": the index is " + std::to_string(known->size) + " bytes, more than the " +
                         std::to_string(largest) + " its header's " + std::to_string(count) +
                         " entries can take; it was not read");
    }
    return store_.get(index_key());
  }

  enum class outcome { ours, not_ours, unknown };

  // Whether the published index is the one with digest `d`, read back from the store.
  outcome published_is(const digest& d, std::string* etag) const {
    try {
      auto published = get_index();
      if (!published || !d.matches(published->data)) return outcome::not_ours;
      if (etag) *etag = published->etag;
      return outcome::ours;
    } catch (const store_error&) {
      return outcome::unknown;
    } catch (const corruption_error&) {  // not the bytes we wrote
      return outcome::not_ours;
    }
  }

  // PUTs the index under `condition`. Returns its ETag. Any failure is settled by reading
  // the store back: if our bytes are there the commit happened and this returns normally.
  // That covers a lost response, and a lost condition too: a store that retries a
  // conditional PUT whose first attempt took effect but timed out gets 412 for it, and a
  // writer that took that for a lost race would delete or re-apply what it had published.
  // If the read-back fails too, *unknown is set and this throws a store_error that may
  // have applied, never conflict_error. Otherwise it rethrows (conflict_error for a race
  // really lost).
  std::string commit_index(const std::string& bytes, const put_condition& condition, bool* unknown) const {
    *unknown = false;
    try {
      return store_.put(index_key(), bytes, condition);
    } catch (const error& e) {
      std::string etag;
      switch (published_is(digest::of(bytes), &etag)) {
        case outcome::ours:
          return etag;
        case outcome::unknown:
          // Never a conflict_error then: a caller would take it for a race lost, though
          // the commit may be the one published (a 412 to a retry of an applied PUT).
          *unknown = true;
          throw_store("commit of " + index_key() +
                          ": the outcome is unknown, reading it back failed (the PUT said: " + e.what() + ")",
                      0, true, true);
        case outcome::not_ours:
          throw;
      }
      throw;
    }
  }

 private:
  static constexpr std::uint64_t small_index = 1 << 20;  // read at once, without the check

  Store& store_;
  std::string prefix_;
};

}  // namespace detail
}  // namespace v0
}  // namespace s4db
