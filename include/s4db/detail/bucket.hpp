// The published side of one database: the objects under its prefix in the store. Names
// objects, lists the data files, transfers them, and commits the index so that an
// unknown outcome (a lost response) is resolved by reading the store back, never guessed.
// For format 3 "the index" is manifest.s4m, which names the segments: committed, fenced and
// settled as index.idx is, so the engine's commit, rebase and settling work unchanged.
// Holds a reference to the db's store; thread-safe as the store is.
#pragma once

#include <charconv>
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
#include "../format/manifest.hpp"
#include "../format/names.hpp"
#include "file.hpp"
#include "local_state.hpp"

namespace s4db {
inline namespace v0 {
namespace detail {

template <class Store>
class bucket {
 public:
  bucket(Store& store, std::string prefix, int format_version = 2)
      : store_(store), prefix_(std::move(prefix)), segmented_(format_version == 3) {}

  Store& store() const noexcept { return store_; }
  std::string key(std::string_view name) const { return prefix_ + std::string(name); }
  std::string data_key(file_id n) const { return key(format::data_file_name(n)); }
  const std::string& prefix() const noexcept { return prefix_; }
  // The published index: index.idx (formats 1 and 2), manifest.s4m (format 3, whose
  // index.idx is the 9-byte version 3 marker older readers refuse).
  // Opened at a checkpoint (options::checkpoint): the copy of the manifest it pins.
  std::string index_key() const {
    return key(!segmented_ ? format::index_name : checkpoint_.empty() ? format::manifest_object : checkpoint_);
  }

  // Takes the manifest copy that checkpoint `name` pins as the index from now on (a db
  // opened with options::checkpoint): usage_error when the manifest has no such checkpoint.
  void use_checkpoint(const std::string& name) {
    const auto published = get_index();
    if (published)
      for (const auto& pin : format::decode_manifest(published->data, index_key()).pins)
        if (pin.name == name) return void(checkpoint_ = format::checkpoint_object(pin));
    throw_usage("options.checkpoint: " + index_key() + " has no checkpoint named '" + name + "'");
  }

  // Format 3: the index is a manifest naming segments.
  bool segmented() const noexcept { return segmented_; }
  // A segment's bytes (store_error not_found when it is missing).
  std::string segment(const std::string& name) const {
    auto o = store_.get(key(name));
    if (!o) throw_store(key(name) + ": the segment the manifest names is not in the store", 404, false);
    return std::move(o->data);
  }

  // Uploads a segment under the first name of `writer`'s from `sequence` on that no object
  // has (If-None-Match: *: a segment is written once). A failure whose object turns out to
  // hold these bytes (a lost response, or an earlier attempt's) counts as done. Returns
  // the sequence it took.
  std::uint64_t put_segment(std::uint32_t writer, std::uint64_t sequence, const std::string& bytes) const {
    for (;; ++sequence) {
      const std::string name = key(format::segment_name(writer, sequence));
      try {
        store_.put(name, bytes, put_condition::when_absent());
        return sequence;
      } catch (const error& e) {
        if (!dynamic_cast<const conflict_error*>(&e) && !dynamic_cast<const store_error*>(&e)) throw;
        const auto there = store_.get(name);
        if (there && there->data == bytes) return sequence;
        if (!there) throw;  // failed before taking effect
      }
    }
  }

  // Format 3: the `changes` of the manifest `bytes` (0 on formats 1 and 2, or when they
  // are not a manifest: then nothing is concluded from it).
  std::uint64_t changes_of(std::string_view bytes) const {
    if (!segmented_) return 0;
    try {
      return format::decode_manifest(bytes, index_key()).changes;
    } catch (const corruption_error&) {
      return 0;
    }
  }

  // The published index's name, size and ETag, or nullopt when there is none.
  std::optional<object_info> head_index() const { return store_.head(index_key()); }

  // The published index if it is newer than the one with ETag `etag` ("" for none): one
  // request when it is not.
  std::optional<object> newer_index(const std::string& etag) const {
    const auto head = store_.head(index_key());
    if (!head || head->etag == etag) return std::nullopt;
    auto published = get_index(head);
    if (!published || published->etag == etag) return std::nullopt;
    return published;
  }

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
    if (!known && segmented_) refuse_an_older_format();
    if (!known) return std::nullopt;
    if (known->size > small_index && !segmented_) {
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
    auto published = store_.get(index_key());
    if (published && segmented_ && format::is_sealed(format::decode_manifest(published->data, index_key())))
      throw_usage("the store's " + index_key() +
                  " is sealed: s4db convert is turning this prefix into a format 2 database (run it again if it "
                  "was interrupted); open it with options.format_version = 2");
    if (published && !segmented_ && format::is_format_3_marker(published->data))
      throw_usage("the store's " + index_key() +
                  " says this prefix holds a format 3 database (index segments and manifests); open it with "
                  "options.format_version = 3");
    return published;
  }

  enum class outcome { ours, not_ours, unknown };

  // Whether the published index is the one with digest `d`, read back from the store
  // (format 3: manifest N + 1 of a commit on `base`, ETag N).
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
    if (segmented_ && condition.if_absent) mark_format_3();
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

  // With no manifest: a prefix whose index.idx is a format 1 or 2 index is refused (a
  // format 3 writer would hide that database).
  void refuse_an_older_format() const {
    if (auto index = store_.get(key(format::index_name)); index && !format::is_format_3_marker(index->data))
      throw_usage("the store's " + key(format::index_name) +
                  " holds a format 1 or 2 index, and no format 3 manifest is there; open it with "
                  "options.format_version 1 or 2 (Python reads those), or convert it");
  }

  // Before the first manifest, index.idx becomes the version 3 marker.
  void mark_format_3() const {
    try {
      store_.put(key(format::index_name), format::format_3_marker(), put_condition::when_absent());
    } catch (const error&) {
      const auto there = store_.get(key(format::index_name));
      if (!there) throw;  // failed before taking effect
      if (!format::is_format_3_marker(there->data))
        throw_usage("commit: the store's " + key(format::index_name) +
                    " is not the format 3 marker (a format 1 or 2 database is there?); nothing was committed");
    }
  }

  Store& store_;
  std::string prefix_;
  bool segmented_;
  std::string checkpoint_;  // the object name of the manifest copy opened, if any
};

}  // namespace detail
}  // namespace v0
}  // namespace s4db
