// basic_db: the s4db engine, written against the Store, Codec and Index concepts.
//
// Writes append entries to numbered local data files; an in-memory index maps each live
// key to its newest entry's exact bytes; reads fetch only those bytes (a local pread, or
// one ranged GET from the store). upload() publishes, download() mirrors (README, "API").
//
// The engine composes three parts: the working copy (detail/working_copy.hpp: the local
// directory, its lock, state, data files and fsyncs), the bucket (detail/bucket.hpp: the
// published objects, named and transferred) and the publisher (detail/publisher.hpp:
// conditional data-file uploads and the index commit). This file holds the index and the
// operations that tie them together: reads, writes, download, compaction, recovery.
//
// Thread safety: one db may be used from many threads at once. Reads (get, contains,
// size, keys, items) run in parallel; writes and the maintenance calls are serialised.
// One working copy belongs to one db (a LOCK file). Several writers (processes or
// machines, each with its own working copy) may share one prefix: each writes data files
// in its own namespace, and a fenced upload() merges its writes onto whatever another
// writer committed first (docs/guarantees.md, "Several writers").
//
// Failure: every error is an s4db::error subclass (error.hpp). A put or erase that throws
// changed nothing; a store call that fails, before or after it took effect, never loses an
// acknowledged write nor makes the published database name a missing or wrong byte
// (docs/guarantees.md says exactly what holds under which fault).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <ranges>
#include <set>
#include <shared_mutex>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "concepts.hpp"
#include "detail/bucket.hpp"
#include "detail/file.hpp"
#include "detail/local_state.hpp"
#include "detail/log.hpp"
#include "detail/mapped_file.hpp"
#include "detail/parallel.hpp"
#include "detail/progress.hpp"
#include "detail/publisher.hpp"
#include "detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "detail/working_copy.hpp"
#include "error.hpp"
#include "format/entry.hpp"
#include "format/index_file.hpp"
#include "format/names.hpp"
#include "fwd.hpp"
#include "index/compact.hpp"  // the default Index
#include "inspect.hpp"
#include "options.hpp"

namespace s4db {
inline namespace v0 {

// Any range of (key, value) pairs: std::map, a vector of pairs or tuples...
template <class R>
concept key_value_range = std::ranges::input_range<R> && requires(std::ranges::range_reference_t<R> e) {
  std::string_view(std::get<0>(e));
  std::string_view(std::get<1>(e));
};

// Any range of keys: a vector of strings, a set of string_views, a view yielding strings...
template <class R>
concept key_range =
    std::ranges::input_range<R> && std::convertible_to<std::ranges::range_reference_t<R>, std::string_view>;

namespace detail {

// The keys of a key_range as string_views that stay valid while this lives: views of the
// caller's elements when the range hands out references to them, else copies (a range
// that yields std::string temporaries would leave views dangling).
struct key_list {
  std::vector<std::string> owned;
  std::vector<std::string_view> views;

  template <class Range>
  static key_list of(const Range& keys) {
    key_list out;
    if constexpr (std::is_lvalue_reference_v<std::ranges::range_reference_t<const Range>>) {
      for (auto&& k : keys) out.views.emplace_back(k);
    } else {
      for (auto&& k : keys) out.owned.emplace_back(std::string_view(k));
      out.views.assign(out.owned.begin(), out.owned.end());
    }
    return out;
  }
};

}  // namespace detail

template <class Store, class Codec, class Index>
class basic_db {
  static_assert(store_gets_objects<Store>,
                "s4db Store policy: missing `std::optional<s4db::object> get(const std::string& key)` "
                "(docs/policies.md, Store)");
  static_assert(store_gets_ranges<Store>,
                "s4db Store policy: missing `std::string get_range(const std::string& key, std::uint64_t offset, "
                "std::uint64_t length)` (docs/policies.md, Store)");
  static_assert(store_gets_files<Store>,
                "s4db Store policy: missing `bool get_file(const std::string& key, const std::filesystem::path&)` "
                "(docs/policies.md, Store)");
  static_assert(store_puts_objects<Store>,
                "s4db Store policy: missing `std::string put(const std::string& key, std::string_view data, const "
                "s4db::put_condition&)` (docs/policies.md, Store)");
  static_assert(store_puts_files<Store>,
                "s4db Store policy: missing `std::string put_file(const std::string& key, const "
                "std::filesystem::path&, const s4db::put_condition&)` (docs/policies.md, Store)");
  static_assert(store_heads_objects<Store>,
                "s4db Store policy: missing `std::optional<s4db::object_info> head(const std::string& key)` "
                "(docs/policies.md, Store)");
  static_assert(
      store_removes_objects<Store>,
      "s4db Store policy: missing `void remove(std::span<const std::string> keys)` (docs/policies.md, Store)");
  static_assert(store_lists_objects<Store>,
                "s4db Store policy: missing `std::vector<s4db::object_info> list(const std::string& prefix)` "
                "(docs/policies.md, Store)");
  static_assert(std::movable<Store>, "s4db Store policy: must be movable (docs/policies.md, Store)");
  static_assert(codec_has_flag<Codec>,
                "s4db Codec policy: missing `static constexpr std::uint8_t flag` (not 0x01, the tombstone) "
                "(docs/policies.md, Codec)");
  static_assert(codec_has_name<Codec>,
                "s4db Codec policy: missing `static constexpr std::string_view name` (docs/policies.md, Codec)");
  static_assert(codec_encodes<Codec>,
                "s4db Codec policy: missing `void encode(std::string_view in, std::string& out) const` "
                "(docs/policies.md, Codec)");
  static_assert(codec_decodes<Codec>,
                "s4db Codec policy: missing `bool decode(std::string_view in, std::string& out) const` "
                "(docs/policies.md, Codec)");
  static_assert(index_has_map_type<Index>,
                "s4db Index policy: missing `template <class Value> using map_type = ...;` (docs/policies.md, Index)");
  static_assert(index_finds_by_view<Index>,
                "s4db Index policy: map_type<location> needs `find(std::string_view)` (a transparent hash or "
                "comparator) and `end()` (docs/policies.md, Index)");
  static_assert(index_modifies<Index>,
                "s4db Index policy: map_type<location> needs `insert_or_assign(std::string, location)`, "
                "`erase(iterator)`, `size()` and `clear()` (docs/policies.md, Index)");
  static_assert(index_iterates<Index>,
                "s4db Index policy: map_type<location> needs iteration over elements with `.first` and `.second` "
                "(docs/policies.md, Index)");

 public:
  using store_type = Store;
  using codec_type = Codec;
  using index_type = Index;
  using pair_view = std::pair<std::string_view, std::string_view>;
  class item_range;

  // Opens the database under opt.prefix in `store` (README, "Opening"). Never creates
  // local_dir. Throws conflict_error if local unpublished writes and a newer published
  // index both exist (see options::on_conflict), usage_error if another db holds the
  // working copy, corruption_error if the working copy is damaged.
  explicit basic_db(Store store, options opt = {})
      : store_(std::move(store)),
        opt_(std::move(opt)),
        bucket_(store_, opt_.prefix),
        copy_(opt_.max_file_size, opt_.sync, opt_.format_version, opt_.log) {
    if (opt_.format_version != 1 && opt_.format_version != 2)
      detail::throw_usage("options.format_version is " + std::to_string(opt_.format_version) +
                          "; s4db writes format 1 or 2");
    copy_.state().codec = std::string(Codec::name);
    if constexpr (requires { store_.root(); })
      if (opt_.local_dir) refuse_local_dir_in_bucket(*opt_.local_dir, store_.root());
    if (opt_.local_dir && std::filesystem::is_directory(*opt_.local_dir)) copy_.attach(*opt_.local_dir);
    if (copy_.has_state())
      open_working_copy();
    else
      open_from_store();
  }

  basic_db(const basic_db&) = delete;
  basic_db& operator=(const basic_db&) = delete;

  // Flushes like close(); never throws, never uploads. A temporary local directory is
  // removed if everything in it was uploaded, and kept (with a warning) otherwise.
  ~basic_db() {
    try {
      close();
    } catch (const std::exception& e) {
      detail::log(opt_.log, log_level::error, std::string("closing the db failed: ") + e.what());
    }
    if (copy_.exists() && copy_.is_temp()) {
      if (unpublished()) {
        detail::log(opt_.log, log_level::warning,
                    "kept temporary directory " + copy_.dir().string() + ": it holds writes that were never uploaded");
      } else {
        std::error_code ignored;
        std::filesystem::remove_all(copy_.dir(), ignored);
      }
    }
  }

  // ------------------------------------------------------------------ writes

  void put(std::string_view key, std::string_view value) { put(std::initializer_list<pair_view>{{key, value}}); }

  void put(std::initializer_list<pair_view> batch) { put_range(batch); }

  template <key_value_range Range>
  void put(const Range& batch) {
    put_range(batch);
  }

  void erase(std::string_view key) { erase(std::initializer_list<std::string_view>{key}); }

  void erase(std::initializer_list<std::string_view> keys) { erase_views(std::vector<std::string_view>(keys)); }

  template <key_range Range>
  void erase(const Range& keys) {
    const auto list = detail::key_list::of(keys);
    erase_views(list.views);
  }

  // ------------------------------------------------------------------ reads

  // The key's value, or nullopt. A value whose data object vanished under the read
  // (compacted by this db, or by another writer of the prefix) is looked up once more.
  std::optional<std::string> get(std::string_view key) const {
    for (int attempt = 0;; ++attempt) {
      location loc;
      std::shared_ptr<const detail::mapped_file> local;
      {
        std::shared_lock lock(mutex_);
        check_open();
        auto it = index_.find(key);
        if (it == index_.end()) return std::nullopt;
        loc = it->second;
        local = local_file(loc);
      }
      try {
        return read_value(key, loc, local.get());
      } catch (const store_error& e) {
        if (attempt > 0 || !e.not_found() || !moved_since(key, loc)) {
          // A local file shorter than the index says, with no newer index to read and no
          // copy in the store: that is damage, not a stale copy.
          if (local && e.not_found()) detail::throw_corruption(e.what());
          throw;
        }
      }
    }
  }

  // The values of many keys, in the order asked (nullopt where missing). Local entries are
  // read from disk; the others with concurrent ranged reads, entries that sit next to each
  // other in one file merged into one request.
  template <key_range Range>
  std::vector<std::optional<std::string>> get_many(const Range& keys) const {
    const auto list = detail::key_list::of(keys);
    return get_many_views(list.views);
  }

  std::vector<std::optional<std::string>> get_many(std::initializer_list<std::string_view> keys) const {
    return get_many_views(std::vector<std::string_view>(keys));
  }

  bool contains(std::string_view key) const {
    std::shared_lock lock(mutex_);
    check_open();
    return index_.find(key) != index_.end();
  }

  std::size_t size() const {
    std::shared_lock lock(mutex_);
    check_open();
    return index_.size();
  }

  std::vector<std::string> keys() const {
    std::shared_lock lock(mutex_);
    check_open();
    std::vector<std::string> out;
    out.reserve(index_.size());
    for (const auto& element : index_) out.emplace_back(element.first);
    return out;
  }

  // Every live (key, value) once, from a snapshot of the index taken now. With
  // {.local = true} the data files the index names are fetched first, then read in file
  // order as they lie on disk, live entries only (an ordered index still yields keys in
  // order, reading each value where it lies). Otherwise values are read lazily, one by one.
  // compact() or download() during the iteration may make the remaining ones unreadable
  // (a streamed file stays readable: its mapping holds it).
  item_range items(items_options how = {}) {
    std::unique_lock lock(mutex_);
    check_open();
    if (how.local) fetch_for_local_reads();
    constexpr bool sorted = requires { typename map_type::key_compare; };
    if (how.local && !sorted && copy_.exists()) return item_range(this, live_files());
    std::vector<std::pair<std::string, location>> snapshot;
    snapshot.reserve(index_.size());
    for (const auto& element : index_) snapshot.emplace_back(element.first, element.second);
    return item_range(this, std::move(snapshot));
  }

  // ------------------------------------------------------------------ sync and maintenance

  // Makes local_dir a copy of the published database: the published index and the data
  // files it references (files no published index references are never fetched). All or
  // nothing: files are staged and swapped in only once everything arrived, so a failure,
  // or a crash, leaves the copy as it was (or, after a crash during the swap, finished by
  // the next open). Throws usage_error when the copy holds unpublished writes, unless
  // called with {.force = true}, which discards them.
  void download(download_options how = {}) {
    std::unique_lock lock(mutex_);
    check_open();
    if (unpublished() && !how.force)
      detail::throw_usage("download: the working copy " + copy_.dir().string() +
                          " holds writes never uploaded; upload() them first, or download({.force = true}) "
                          "to discard them");
    ensure_dir();
    copy_.close_active();
    copy_.clear_staging();
    std::error_code ec;
    std::filesystem::create_directories(copy_.staging_dir(), ec);
    if (ec) detail::throw_errno("mkdir", copy_.staging_dir().string(), ec.value());
    const auto published = bucket_.get_index();
    const auto objects = bucket_.data_objects();
    map_type index;
    if (published) decode_index_into(published->data, bucket_.index_key(), index);
    std::set<file_id> wanted;
    for (const auto& element : index) wanted.insert(element.second.file);

    std::string ready = "published " + (published ? published->etag : std::string()) + "\n" + "next_file " +
                        std::to_string(std::max(copy_.next_file(), bucket_.highest(objects, copy_.writer()) + 1)) +
                        "\n";
    std::vector<file_id> fetch;
    for (auto n : wanted) {
      auto it = objects.find(n);
      if (it == objects.end())
        detail::throw_store("download: the published index names " + bucket_.data_key(n) +
                                ", which is not in the store; nothing was changed",
                            404, false);
      ready += "stored " + std::to_string(n) + " " + std::to_string(it->second.size) + " " + it->second.etag + "\n";
      if (!holds_published_copy(n, it->second)) fetch.push_back(n);
    }
    try {
      fetch_files(fetch, objects, copy_.staging_dir());
      if (published) detail::write_file_atomic(copy_.staging_dir() / format::index_name, published->data);
      detail::write_file_atomic(copy_.staging_dir() / detail::staged_ready_name, ready);
    } catch (...) {
      copy_.clear_staging();
      throw;
    }
    finish_download();
  }

  // Publishes: pushes every local data file of this copy the store does not hold exactly
  // (by the ETag and size this copy recorded: new files with If-None-Match: *, grown ones
  // with If-Match), then the index, so a reader never sees an index that names a missing
  // file. A local file whose name another writer took in the store is renumbered first.
  // Fenced, the index commit is a compare-and-swap; when another writer committed since
  // this copy last loaded the index, its writes are applied on top of the winner's (per
  // key, the last committer wins; an erase survives) and the commit tried again. With
  // {.rebase = false} that lost race throws conflict_error instead, losing nothing.
  void upload(upload_options how = {}) {
    std::unique_lock lock(mutex_);
    check_open();
    publisher_.begin();
    publish(how.rebase);
  }

  // Adopts the published index if it changed since this copy loaded it (one request when
  // it did not), with this copy's unpublished writes applied on top, as a rebase does.
  // Returns whether it changed.
  bool refresh() {
    std::unique_lock lock(mutex_);
    check_open();
    return refresh_locked();
  }

  // Deletes the data objects under the prefix that the published index does not reference
  // and that were last modified more than `grace` ago (another writer's upload in flight
  // is younger), and returns their object keys. Local data files of this copy are kept.
  // Throws usage_error while this copy holds unpublished writes, or when the store has
  // data objects but no index (rebuild_index({.from_store = true}) recovers it first).
  std::vector<std::string> gc(std::chrono::seconds grace = std::chrono::hours(24)) {
    std::unique_lock lock(mutex_);
    check_open();
    if (unpublished())
      detail::throw_usage("gc: the working copy " + copy_.dir().string() +
                          " holds writes never uploaded; upload() them first");
    const auto objects = bucket_.data_objects();
    const auto published = bucket_.get_index();
    if (!published && !objects.empty())
      detail::throw_usage("gc: the store holds " + std::to_string(objects.size()) + " data objects but no " +
                          bucket_.index_key() +
                          " names them; nothing was changed (rebuild_index({.from_store = true}), or s4db "
                          "rebuild-index, recovers the index from them)");
    std::set<file_id> keep = referenced_files();
    if (published) {
      map_type index;
      decode_index_into(published->data, bucket_.index_key(), index);
      for (const auto& element : index) keep.insert(element.second.file);
    }
    for (const auto& [n, size] : copy_.data_files()) keep.insert(n);
    const auto now = std::chrono::system_clock::now();
    std::vector<std::string> gone;
    for (const auto& [n, info] : objects)
      if (!keep.contains(n) && now - info.last_modified >= grace) gone.push_back(info.key);
    store_.remove(gone);
    for (const auto& key : gone) detail::log(opt_.log, log_level::info, "gc: deleted " + key);
    return gone;
  }

  // Makes every write so far survive a crash (with sync_mode flush or every_write, a power
  // loss too): the data files are made durable, and the next open replays what was
  // appended after the last checkpoint of the index. The index itself is saved only when
  // that tail has grown past the checkpoint interval (the larger of
  // options::index_save_interval and the last checkpoint's size), so a flush costs what
  // changed, not the size of the database.
  void flush() {
    std::unique_lock lock(mutex_);
    check_open();
    if (!copy_.exists() || !copy_.has_state() || appended_since_save_ >= checkpoint_interval())
      save_local();
    else if (copy_.durable())
      copy_.sync_appends();
  }

  // Rewrites the live entries into new files of this copy's namespace (named above every
  // file the store or the copy has there), publishes them and then the new index, and then
  // deletes the local files the new index does not name. It deletes nothing in the store:
  // the objects the old index named become garbage for gc(grace), which deletes them once
  // no published index names them and they are older than its grace (with several writers
  // a compactor cannot know who still reads or names them). Unpublished writes are
  // uploaded first, and (fenced) a newer published index adopted, so the compacted
  // database is the newest one. Throws usage_error, changing nothing, if a referenced file
  // is neither local nor in the store. The commit is fenced like upload()'s but never
  // rebases: if another writer committed meanwhile, compact() throws conflict_error and
  // the published database is as the winner left it. If the index commit fails otherwise,
  // the published database is untouched and this copy keeps the compacted files,
  // unpublished, for the next upload(). A copy with no keys and no writes refuses
  // (usage_error) to compact a store that holds data objects but no index: it would
  // publish an empty index over them.
  void compact() {
    std::unique_lock lock(mutex_);
    check_open();
    ensure_dir();
    refuse_to_compact_nothing_over_lost_data();
    publisher_.begin();
    if (unpublished())
      publish(true);
    else if (opt_.fenced)
      refresh_locked();
    const std::set<file_id> referenced = referenced_files();
    std::vector<std::string> lost;
    for (auto n : referenced)
      if (!copy_.size_of(n) && !store_.head(bucket_.data_key(n))) lost.push_back(bucket_.data_key(n));
    if (!lost.empty())
      detail::throw_usage("compact: the index references " + join(lost) +
                          ", neither in local_dir nor in the store; nothing was changed");
    fetch_missing(files_to_fetch());
    copy_.close_active();
    const auto objects = bucket_.data_objects();
    copy_.raise_next_file(bucket_.highest(objects, copy_.writer()) + 1);
    for (const auto& [n, size] : copy_.data_files()) copy_.raise_next_past(n);
    const file_id first_new = copy_.own(copy_.next_file());

    map_type fresh = write_live_entries();
    const file_id end_new = copy_.own(copy_.next_file());
    std::vector<file_id> created;
    for (auto n = first_new; n < end_new; ++n)
      if (copy_.size_of(n)) created.push_back(n);
    auto drop_created = [&] {
      for (auto n : created) {
        remove_local_quietly(n);
        copy_.state().stored.erase(n);
      }
      forget_local_files();
    };
    try {
      copy_.sync_appends();  // whatever sync_mode says: the old files go once this commits
      for (auto n : publisher_.put_files(created, objects))
        if (!publisher_.settle_as_ours(n))
          detail::throw_conflict("compact: another writer created " + bucket_.data_key(n) +
                                 ", a name this compaction chose; nothing was published or deleted");
    } catch (...) {
      drop_created();
      throw;
    }
    map_type old = std::exchange(index_, std::move(fresh));
    index_dirty_ = true;
    forget_local_files();
    const bool had_unpublished = unpublished();  // false: the writes were published above
    try {
      commit_index(false);  // also saves it locally first: the copy is now the compacted one
    } catch (const conflict_error& e) {
      // The replacement files stay in the store, for gc(): a commit whose condition was
      // lost may still have been applied and built on by another writer (one whose
      // retry got 412), and nothing here can tell that from a race really lost. The
      // copy is as before the compaction, writes included: none unpublished if none were.
      index_ = std::move(old);
      copy_.state().unpublished = had_unpublished;
      drop_created();
      save_local();
      detail::throw_conflict(
          "compact: another writer committed " + bucket_.index_key() +
          " while this compaction ran; the published database is untouched (refresh() or upload(), then compact() "
          "again; the replacement files it uploaded are garbage for gc()) [" +
          e.what() + "]");
    } catch (...) {
      // Not published (or not known to be): the compacted index is this copy's own change,
      // published by the next upload().
      copy_.state().unpublished = true;
      try {
        copy_.write_state();
      } catch (const error&) {  // open replays the compacted files and marks them so
      }
      throw;
    }

    // The old objects stay in the store: another writer may have loaded the old index and
    // still read from them, or (a Python 0.9 writer, which grows its files) commit an index
    // naming one again. gc(grace) deletes them once no published index names them and
    // they are older than its grace. This copy's local files the new index does not name go.
    for (const auto& [n, size] : copy_.data_files())
      if (!(copy_.is_own(n) && n >= first_new)) remove_local_quietly(n);
    std::erase_if(copy_.state().stored,
                  [&](const auto& e) { return !(copy_.is_own(e.first) && e.first >= first_new); });
    try {
      copy_.write_state();
    } catch (const error& e) {
      detail::log(opt_.log, log_level::warning,
                  std::string("compact: committed, but saving local.state failed: ") + e.what());
    }
  }

  // Rebuilds the index by replaying every local data file in number order. A torn last
  // entry of the newest file is dropped (and logged); corruption elsewhere throws. With no
  // local data files, {.from_store = true} fetches the store's data files first; without
  // it, an index that names keys is never replaced by an empty one (usage_error). Keys the
  // previous index had and the rebuilt one lacks are reported in the log. Never uploads.
  void rebuild_index(rebuild_options how = {}) {
    std::unique_lock lock(mutex_);
    check_open();
    ensure_dir();
    copy_.close_active();
    auto files = copy_.data_files();
    if (files.empty() && how.from_store) {
      const auto objects = bucket_.data_objects();
      std::vector<file_id> all;
      for (const auto& [n, info] : objects) all.push_back(n);
      fetch_files(all, objects, copy_.dir());
      for (const auto& [n, info] : objects) copy_.state().stored[n] = {info.size, info.etag};
      files = copy_.data_files();
    }
    if (files.empty() && !index_.empty())
      detail::throw_usage("rebuild_index: there are no local data files to rebuild from, and the index names " +
                          std::to_string(index_.size()) +
                          " keys; nothing was changed (rebuild_index({.from_store = true}) fetches the store's "
                          "data files first)");
    map_type rebuilt;
    for (std::size_t i = 0; i < files.size(); ++i)
      replay_file(files[i].first, 0, newest_of_its_writer(files, i), rebuilt);
    std::size_t dropped = 0;
    for (const auto& element : index_) dropped += rebuilt.find(element.first) == rebuilt.end();
    if (dropped)
      detail::log(
          opt_.log, log_level::warning,
          "rebuild_index: " + std::to_string(dropped) + " keys of the previous index are not in the data files");
    index_ = std::move(rebuilt);
    for (const auto& [n, size] : files) copy_.raise_next_past(n);
    copy_.state().unpublished = true;
    copy_.state().rebase_all = true;  // a lost race keeps every key rebuilt
    forget_local_files();
    save_local();
  }

  // Keys, data files (local or in the store: one LIST), writer namespaces, live and dead
  // bytes, the data objects the index does not reference (gc()'s garbage), and whether
  // the store holds an index (one HEAD).
  db_stats stats() const {
    std::shared_lock lock(mutex_);
    check_open();
    std::map<file_id, std::uint64_t> sizes;
    const auto objects = bucket_.data_objects();
    for (const auto& [n, info] : objects) sizes[n] = info.size;
    db_stats s;
    for (const auto& [n, size] : copy_.data_files()) {
      sizes[n] = size;
      ++s.local_files;
    }
    s.keys = index_.size();
    s.files = sizes.size();
    std::set<std::uint32_t> writers;
    for (const auto& [n, size] : sizes) {
      s.file_bytes += size;
      writers.insert(writer_of(n));
    }
    s.writers = writers.size();
    for (const auto& element : index_) s.live_bytes += element.second.length;
    const auto referenced = referenced_files();
    for (const auto& [n, info] : objects)
      if (!referenced.contains(n)) {
        s.garbage_bytes += info.size;
        ++s.garbage_files;
      }
    s.index_published = store_.head(bucket_.index_key()).has_value();
    return s;
  }

  // Reads every data file (the local copy, else the store's) and checks every entry's CRC,
  // then that each index entry names a whole entry with its key, of this db's codec, whose
  // value decodes. Returns what is wrong, empty when all is well; changes nothing.
  std::vector<verify_problem> verify() const {
    std::unique_lock lock(mutex_);  // no appends while files are read
    check_open();
    std::map<file_id, std::uint64_t> sizes;
    for (const auto& [n, info] : bucket_.data_objects()) sizes[n] = info.size;
    std::set<file_id> local;
    for (const auto& [n, size] : copy_.data_files()) {
      sizes[n] = size;
      local.insert(n);
    }
    // The index's entries per file, by offset.
    std::map<file_id, std::vector<std::pair<location, std::string_view>>> expected;
    for (const auto& element : index_)
      expected[element.second.file].emplace_back(element.second, std::string_view(element.first));
    for (auto& [n, entries] : expected)
      std::sort(entries.begin(), entries.end(),
                [](const auto& a, const auto& b) { return a.first.offset < b.first.offset; });

    std::vector<verify_problem> problems;
    std::uint64_t total = 0;
    for (const auto& [n, size] : sizes) total += size;
    detail::progress_meter meter(opt_.progress, "verify", total);
    for (const auto& [n, size] : sizes) {
      const std::string name = bucket_.data_key(n);
      std::string bytes;
      if (local.contains(n)) {
        bytes = detail::file(copy_.data_path(n), O_RDONLY).read_all();
      } else if (auto o = store_.get(name)) {
        bytes = std::move(o->data);
      } else {
        problems.push_back({name, 0, "listed, but gone when read"});
        continue;
      }
      meter.report(bytes.size());
      const auto& want = expected[n];
      const auto after = sizes.upper_bound(n);
      verify_file(n, name, bytes, after == sizes.end() || writer_of(after->first) != writer_of(n), want, problems);
    }
    for (const auto& [n, entries] : expected)
      if (!sizes.contains(n))
        for (const auto& [loc, key] : entries)
          problems.push_back(
              {bucket_.data_key(n), loc.offset,
               "index entry for key '" + std::string(key) + "' names a file neither local nor in the store"});
    return problems;
  }

  // Saves the local index if anything changed; later calls throw usage_error. Never uploads.
  void close() {
    std::unique_lock lock(mutex_);
    if (closed_) return;
    if (index_dirty_ && copy_.exists()) save_local();
    copy_.close_active();
    forget_local_files();
    closed_ = true;
  }

  // ------------------------------------------------------------------ introspection

  // The local directory in use, once there is one.
  std::optional<std::filesystem::path> local_directory() const {
    std::shared_lock lock(mutex_);
    if (!copy_.exists()) return std::nullopt;
    return copy_.dir();
  }

  // Whether this copy holds writes that no commit of it is known to have published.
  bool has_unpublished_writes() const {
    std::shared_lock lock(mutex_);
    return unpublished();
  }

  // How many times this db's commits lost a race and were rebased onto another writer's.
  std::uint64_t rebases() const {
    std::shared_lock lock(mutex_);
    return rebases_;
  }

  Store& store() noexcept { return store_; }
  const options& get_options() const noexcept { return opt_; }

  // ------------------------------------------------------------------ items()

  class item_range {
   public:
    using value_type = std::pair<std::string, std::string>;

    class iterator {
     public:
      using value_type = item_range::value_type;
      using difference_type = std::ptrdiff_t;
      iterator() = default;
      const value_type& operator*() const { return current_; }
      const value_type* operator->() const { return &current_; }
      iterator& operator++() {
        advance();
        return *this;
      }
      void operator++(int) { ++*this; }
      friend bool operator==(const iterator& a, const iterator& b) {
        return a.position_ == b.position_ && a.offset_ == b.offset_;
      }

     private:
      friend class item_range;
      // position_: the snapshot entry, or (streaming) the file; offset_: where in that
      // file the search for the next live entry goes on.
      iterator(const item_range* range, std::size_t position) : range_(range), position_(position) {
        if (range_->streams())
          load_streamed();
        else
          load();
      }
      void advance() {
        if (range_->streams()) {
          ++offset_;
          load_streamed();
        } else {
          ++position_;
          load();
        }
      }
      void load() {
        if (position_ >= range_->entries_.size()) return;
        const auto& [key, loc] = range_->entries_[position_];
        current_.first = key;
        current_.second = range_->db_->read_snapshot_value(key, loc);
      }
      void load_streamed() {
        for (; position_ < range_->files_.size(); ++position_, offset_ = 0) {
          const auto& f = range_->files_[position_];
          const auto at = f.next_live(offset_);
          if (!at) continue;
          offset_ = *at;
          range_->db_->decode_streamed(f, offset_, current_);
          return;
        }
        offset_ = 0;
      }
      const item_range* range_ = nullptr;
      std::size_t position_ = 0;
      std::uint64_t offset_ = 0;
      value_type current_;
    };

    iterator begin() const { return iterator(this, 0); }
    iterator end() const {
      iterator it;
      it.position_ = streams() ? files_.size() : entries_.size();
      return it;
    }
    std::size_t size() const noexcept { return streams() ? count_ : entries_.size(); }

   private:
    friend class basic_db;

    // One data file to stream: its bytes (mapped, or read when they could not be) and a bit
    // per byte offset where a live entry of the snapshot starts.
    struct live_file {
      file_id n = 0;
      std::shared_ptr<const detail::mapped_file> mapped;
      std::string read;
      std::string_view bytes;
      std::vector<std::uint64_t> starts;

      std::optional<std::uint64_t> next_live(std::uint64_t from) const {
        for (std::size_t w = static_cast<std::size_t>(from / 64); w < starts.size(); ++w) {
          std::uint64_t bits = starts[w];
          if (w == from / 64) bits &= ~std::uint64_t{0} << (from % 64);
          if (bits) return std::uint64_t{w} * 64 + static_cast<std::uint64_t>(std::countr_zero(bits));
        }
        return std::nullopt;
      }
    };

    item_range(const basic_db* db, std::vector<std::pair<std::string, location>> entries)
        : db_(db), entries_(std::move(entries)) {}
    item_range(const basic_db* db, std::pair<std::vector<live_file>, std::size_t> files)
        : db_(db), files_(std::move(files.first)), count_(files.second), streaming_(true) {}
    bool streams() const noexcept { return streaming_; }

    const basic_db* db_;
    std::vector<std::pair<std::string, location>> entries_;
    std::vector<live_file> files_;
    std::size_t count_ = 0;
    bool streaming_ = false;
  };

 private:
  using map_type = index_map_t<Index>;
  using object_map = std::map<file_id, object_info>;

  // Sets key to loc in an index map: by string_view where the container takes one (no
  // std::string built per key), else through a std::string.
  static void assign(map_type& into, std::string_view key, const location& loc) {
    if constexpr (requires { into.insert_or_assign(key, loc); })
      into.insert_or_assign(key, loc);
    else
      into.insert_or_assign(std::string(key), loc);
  }

  bool unpublished() const { return copy_.state().unpublished; }

  // A working copy inside a directory bucket (fs_store), or one holding it, would mix the
  // two: its index.idx would replace the published one, its data files would be listed as
  // objects (or gc'd). Refused before anything is touched.
  static void refuse_local_dir_in_bucket(const std::filesystem::path& local_dir, const std::filesystem::path& root) {
    auto absolute = [](const std::filesystem::path& p) {
      std::error_code ec;
      auto out = std::filesystem::weakly_canonical(std::filesystem::absolute(p), ec);
      if (ec) out = std::filesystem::absolute(p).lexically_normal();
      return out.has_filename() ? out : out.parent_path();  // no trailing separator
    };
    auto within = [](const std::filesystem::path& outer, const std::filesystem::path& inner) {
      return std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end()).first == outer.end();
    };
    const auto copy = absolute(local_dir), bucket = absolute(root);
    if (within(bucket, copy) || within(copy, bucket))
      detail::throw_usage("options.local_dir " + local_dir.string() +
                          (copy == bucket         ? " is the store's directory "
                           : within(bucket, copy) ? " is inside the store's directory "
                                                  : " contains the store's directory ") +
                          root.string() + "; a working copy needs a directory of its own, outside the bucket");
  }

  // ------------------------------------------------------------------ opening

  // The local copy is ours: load its index, finish a download a crash interrupted, check
  // that no data file lost bytes the index names (a power loss), replay what was appended
  // after the index was saved, settle an index commit whose outcome was unknown, then
  // reconcile with the store's index (SPEC section 2, "open").
  void open_working_copy() {
    const auto loaded = copy_.load(Codec::name);
    if (copy_.staged_ready()) {
      finish_download();
    } else {
      copy_.clear_staging();
      if (!loaded.index.empty())
        load_local_index(loaded.index, (copy_.dir() / format::index_name).string(),
                         loaded.read ? nullptr : loaded.mapping);
      check_lost_bytes(loaded.covers);
      const bool replayed = replay_tail(loaded.covers.covered_file, loaded.covers.covered_offset);
      if (replayed) copy_.state().unpublished = true;
      index_dirty_ = replayed;
    }
    reconcile_with_store();
    settle_writer();
  }

  void reconcile_with_store() {
    const auto remote = store_.head(bucket_.index_key());
    const std::string remote_etag = remote ? remote->etag : std::string();
    auto& state = copy_.state();
    if (state.publishing) {
      std::string etag;
      const auto outcome = remote_etag == state.published_etag ? detail::bucket<Store>::outcome::not_ours
                                                               : bucket_.published_is(*state.publishing, &etag);
      if (outcome == detail::bucket<Store>::outcome::unknown)
        detail::throw_store("open: cannot tell whether the last index commit of " + copy_.dir().string() +
                                " reached the store (reading " + bucket_.index_key() + " back failed); try again",
                            0, true);
      if (outcome == detail::bucket<Store>::outcome::ours) {
        state.published_etag = etag;
        copy_.mark_committed();
      } else {
        state.unpublished = true;
      }
      state.publishing.reset();
      copy_.write_state();
      if (outcome == detail::bucket<Store>::outcome::ours) return;
    }
    if (remote_etag == state.published_etag) return;
    if (!remote && !state.published_etag.empty()) {
      detail::log(opt_.log, log_level::warning,
                  "the store's " + bucket_.index_key() + " is gone; keeping the working copy in " +
                      copy_.dir().string() + " (upload() publishes it again)");
      state.unpublished = true;
      state.published_etag.clear();
      return;
    }
    if (state.unpublished) {
      switch (opt_.on_conflict) {
        case conflict_resolution::keep_local:
          detail::log(opt_.log, log_level::warning,
                      "keeping the local working copy in " + copy_.dir().string() + " over the store's changed " +
                          bucket_.index_key());
          return;
        case conflict_resolution::rebase:
          rebase_onto(bucket_.get_index());
          save_local();
          return;
        case conflict_resolution::take_store:
          detail::log(opt_.log, log_level::warning,
                      "discarding unpublished local writes in " + copy_.dir().string() + " for the store's " +
                          bucket_.index_key());
          break;
        case conflict_resolution::fail:
          detail::throw_conflict("both sides changed: the working copy in " + copy_.dir().string() +
                                 " holds writes never uploaded, and the store's " + bucket_.index_key() +
                                 " changed since it was taken (ETag " + describe_etag(state.published_etag) +
                                 " then, " + describe_etag(remote_etag) +
                                 " now); open with options.on_conflict = rebase, keep_local or take_store");
      }
    }
    state.unpublished = false;
    download();
  }

  // Puts the copy in the writer namespace its format writes: writer 0 for format 1, a
  // random one of its own for format 2 (kept across opens). Returns whether it moved.
  bool choose_writer() {
    const std::uint32_t current = copy_.writer();
    const bool fits = opt_.format_version == 1 ? current == 0 : current != 0;
    if (fits && copy_.state().has_writer) return false;
    copy_.use_writer(fits ? current : opt_.format_version == 1 ? 0 : random_writer());
    for (const auto& element : index_) copy_.raise_next_past(element.second.file);
    return true;
  }

  // After a move the index is saved, so the next open replays from the new namespace.
  void settle_writer() {
    if (choose_writer()) save_local();
  }

  static std::uint32_t random_writer() {
    std::random_device entropy;
    std::uint32_t w = 0;
    while (w == 0) w = entropy();
    return w;
  }

  void open_from_store() {
    auto published = bucket_.get_index();
    if (published) {
      decode_index_into(published->data, bucket_.index_key(), index_);
      copy_.state().published_etag = published->etag;
      return;
    }
    // A local-only database, as the Python original leaves it: index.idx, no state file.
    if (copy_.exists()) {
      const auto index_path = copy_.dir() / format::index_name;
      if (auto bytes = detail::read_file(index_path)) {
        decode_index_into(*bytes, index_path.string(), index_);
        copy_.state().unpublished = true;
        copy_.state().rebase_all = true;
      }
    }
  }

  // Parses an index (store or local) into `into`, and notes the files it names so that
  // no new file of this copy takes one of their names. Reserves no more than the bytes can
  // hold: a hostile header claiming four billion entries costs nothing.
  void decode_index_into(std::string_view bytes, const std::string& where_from, map_type& into) {
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
    into = std::move(loaded);
    legacy_next_ = std::max({legacy_next_, header.next_file, legacy_highest + 1});
    if (copy_.writer() == 0) copy_.raise_next_file(legacy_next_);
    for (const auto& element : into) copy_.raise_next_past(element.second.file);
  }

  // Loads the working copy's saved index: a checkpoint (written by compact_index; another
  // container takes its elements one by one), or an index in the published format.
  void load_local_index(std::string_view bytes, const std::string& where_from,
                        std::shared_ptr<const void> writable_owner) {
    using checkpoint_map = detail::compact_map<location>;
    if (!checkpoint_map::is_checkpoint(bytes)) {
      decode_index_into(bytes, where_from, index_);
      return;
    }
    auto loaded = std::is_same_v<map_type, checkpoint_map>
                      ? checkpoint_map::from_checkpoint(bytes, std::move(writable_owner))
                      : checkpoint_map::from_checkpoint(bytes);
    if (!loaded)
      detail::throw_corruption(where_from +
                               ": a damaged index checkpoint (sizes or references out of bounds); move local.state "
                               "and index.idx aside, open, and rebuild_index() recovers the index from the data files");
    if constexpr (std::is_same_v<map_type, checkpoint_map>) {
      index_ = std::move(*loaded);
    } else {
      index_.clear();
      for (const auto& element : *loaded) assign(index_, element.first, element.second);
    }
    std::uint32_t legacy_highest = 0;
    for (const auto& element : index_) {
      if (writer_of(element.second.file) == 0)
        legacy_highest = std::max(legacy_highest, sequence_of(element.second.file));
      copy_.raise_next_past(element.second.file);
    }
    saved_index_bytes_ = bytes.size();
    legacy_next_ = std::max({legacy_next_, copy_.state().legacy_next, legacy_highest + 1});
    if (copy_.writer() == 0) copy_.raise_next_file(legacy_next_);
  }

  // A power loss can leave one of this copy's data files shorter than the index (or the
  // saved position) says. Such a file is fetched again when the store holds the bytes this copy uploaded;
  // else opening fails: appending there would write over bytes the index names.
  void check_lost_bytes(const detail::local_state::saved_index& covers) {
    std::map<file_id, std::uint64_t> needed;  // of this copy's own files: others' are the store's
    for (const auto& element : index_) {
      if (!copy_.is_own(element.second.file)) continue;
      auto& end = needed[element.second.file];
      end = std::max(end, element.second.offset + element.second.length);
    }
    const auto local = copy_.data_files();
    std::map<file_id, std::uint64_t> local_sizes(local.begin(), local.end());
    bool unaccounted = false;  // a file the index names is not local, nor known to be stored
    for (const auto& [n, end] : needed) unaccounted |= !copy_.state().stored.contains(n) && !local_sizes.contains(n);
    if (unaccounted) {
      const auto objects = bucket_.data_objects();
      // Lost from local disk only if this copy made it; else (format 1's one namespace)
      // another writer's file, compacted and collected: the store's business, not ours.
      const auto& state = copy_.state();
      for (const auto& [n, end] : needed)
        if (!objects.contains(n) && !copy_.size_of(n) && (!state.tracks_created || state.created.contains(n)))
          detail::throw_corruption(copy_.data_path(n).string() + " is gone, though the index names " +
                                   std::to_string(end) +
                                   " bytes of it, and the store has no copy (lost in a power cut, with sync_mode "
                                   "none?); download({.force = true}) into a new local_dir recovers what was "
                                   "published");
    }
    for (const auto& [n, size] : local) {
      if (!copy_.is_own(n)) continue;  // a fetched copy of another writer's file may be older
      const auto it = needed.find(n);
      const std::uint64_t named = it == needed.end() ? 0 : it->second;
      if (size >= named && !(n == covers.covered_file && size < covers.covered_offset)) continue;
      if (size >= named) {  // only entries the index no longer needs were lost
        copy_.never_append_to(n);
        continue;
      }
      const auto stored = copy_.state().stored.find(n);
      const auto info = store_.head(bucket_.data_key(n));
      if (stored != copy_.state().stored.end() && info && info->etag == stored->second.etag && info->size >= named) {
        detail::log(opt_.log, log_level::warning,
                    copy_.data_path(n).string() + " is " + std::to_string(size) + " bytes, the index names " +
                        std::to_string(named) + " (lost in a power cut?); fetching the published copy");
        bucket_.fetch(n, copy_.data_path(n));
        continue;
      }
      detail::throw_corruption(copy_.data_path(n).string() + " is " + std::to_string(size) +
                               " bytes, but the index names bytes up to " + std::to_string(named) +
                               " and the store holds no copy of them (lost in a power cut, with sync_mode none?); "
                               "download({.force = true}) into a new local_dir recovers what was published");
    }
  }

  // Replays this copy's own entries from (file, offset) on; returns whether any was found.
  // Files of other namespaces came from the store whole, and the index already has them.
  bool replay_tail(file_id covered_file, std::uint64_t covered_offset) {
    const auto files = copy_.data_files();
    bool replayed = false;
    for (std::size_t i = 0; i < files.size(); ++i) {
      const auto [n, size] = files[i];
      if (n < covered_file || !copy_.is_own(n)) continue;
      const std::uint64_t from = n == covered_file ? covered_offset : 0;
      replayed |= replay_file(n, from, newest_of_its_writer(files, i), index_);
      copy_.raise_next_past(n);
    }
    return replayed;
  }

  // Whether files[i] is the newest local file of its writer (the only one a crash can tear).
  static bool newest_of_its_writer(const std::vector<std::pair<file_id, std::uint64_t>>& files, std::size_t i) {
    return i + 1 == files.size() || writer_of(files[i + 1].first) != writer_of(files[i].first);
  }

  bool replay_file(file_id n, std::uint64_t from, bool newest, map_type& into) {
    return replay_file(n, from, newest, [&](std::string_view key, const location* loc) {
      if (loc) {
        assign(into, key, *loc);
      } else if (auto it = into.find(key); it != into.end()) {
        into.erase(it);
      }
    });
  }

  // Calls on_entry(key, &location) for each put and on_entry(key, nullptr) for each
  // tombstone of data file n from `from` (0: from its header). A torn last batch of the
  // newest file (nothing valid after it) is cut off and logged; any other bad entry is
  // corruption_error and no byte is cut. Returns whether any entry was found.
  template <class OnEntry>
  bool replay_file(file_id n, std::uint64_t from, bool newest, OnEntry&& on_entry) {
    const auto path = copy_.data_path(n);
    detail::file f(path, O_RDWR);
    const std::string name = path.string();
    const std::uint64_t size = f.size();
    // Only the bytes from `from` on are read (the header too when starting before it).
    const std::uint64_t base = from < format::file_header_size ? 0 : std::min(from, size);
    const std::string bytes = f.read_at(base, static_cast<std::size_t>(size - base));
    if (from < format::file_header_size) {
      if (bytes.size() < format::file_header_size && newest) {
        detail::log(opt_.log, log_level::warning, name + ": torn file header; the file is removed");
        copy_.remove_data_file(n);
        return false;
      }
      if (format::parse_file_header(bytes, name).sequence != sequence_of(n))
        detail::throw_corruption(name + ": its header names another file number");
      from = format::file_header_size;
    }
    bool applied = false;
    std::size_t pos = static_cast<std::size_t>(std::min<std::uint64_t>(from, size) - base);  // in bytes
    while (pos < bytes.size()) {
      const auto [status, entry] = format::parse_entry(std::string_view(bytes).substr(pos));
      if (status != format::parse_status::ok) {
        const std::uint64_t at = base + pos;
        if (!(newest && format::is_torn_tail(bytes, pos)))
          detail::throw_corruption(name + " at offset " + std::to_string(at) + ": " + format::describe(status) +
                                   (newest ? ", and whole entries follow it" : "") +
                                   "; nothing was cut (verify() lists every damaged entry)");
        detail::log(opt_.log, log_level::warning,
                    name + ": torn last entry at offset " + std::to_string(at) + " (" + format::describe(status) +
                        ", " + std::to_string(bytes.size() - pos) + " bytes) dropped, not indexed");
        f.truncate(at);
        break;
      }
      if (entry.flags == format::flag_tombstone) {
        on_entry(entry.key, nullptr);
      } else {
        const location loc{n, base + pos, static_cast<std::uint32_t>(entry.size)};
        on_entry(entry.key, &loc);
      }
      applied = true;
      pos += entry.size;
    }
    return applied;
  }

  // ------------------------------------------------------------------ several writers

  // This copy's writes since its last commit, in the order written: (key, location) for a
  // put, (key, nullopt) for an erase. Read from its own data files past the committed
  // position, so they survive a restart; after a rebuild, every key of the index.
  std::vector<std::pair<std::string, std::optional<location>>> uncommitted_writes() {
    std::vector<std::pair<std::string, std::optional<location>>> out;
    const auto& state = copy_.state();
    if (state.rebase_all) {
      for (const auto& element : index_) out.emplace_back(element.first, element.second);
      return out;
    }
    if (!copy_.exists()) return out;
    for (const auto& [n, size] : copy_.data_files()) {
      if (!copy_.is_own(n) || n < state.committed_file) continue;
      const std::uint64_t from = n == state.committed_file ? state.committed_offset : 0;
      replay_file(n, from, false, [&](std::string_view key, const location* loc) {
        out.emplace_back(std::string(key), loc ? std::optional<location>(*loc) : std::nullopt);
      });
    }
    return out;
  }

  // Adopts `published` (the store's index now; nullopt: there is none, and this copy's
  // index stays the base) with this copy's unpublished writes applied on top: per key, the
  // later write wins, and an erase removes the key whoever wrote it.
  void rebase_onto(const std::optional<object>& published) {
    const auto writes = unpublished() ? uncommitted_writes() : decltype(uncommitted_writes()){};
    if (published) decode_index_into(published->data, bucket_.index_key(), index_);
    for (const auto& [key, loc] : writes) {
      if (loc) {
        index_.insert_or_assign(key, *loc);
      } else if (auto it = index_.find(key); it != index_.end()) {
        index_.erase(it);
      }
    }
    copy_.state().published_etag = published ? published->etag : std::string();
    index_dirty_ = true;
    forget_local_files();
    drop_unnamed_committed_files();
    detail::log(opt_.log, log_level::info,
                "applied " + std::to_string(writes.size()) + " unpublished writes on top of the store's " +
                    bucket_.index_key() + " (ETag " + describe_etag(copy_.state().published_etag) + ")");
  }

  // This copy's committed files that the index no longer names (another writer compacted
  // them away, or a compaction of this copy whose commit was settled later) are garbage
  // here too: kept, they would keep their objects from gc and be published again.
  // Returns whether it dropped any.
  bool drop_unnamed_committed_files() {
    if (!copy_.exists()) return false;
    const auto referenced = referenced_files();
    bool dropped = false;
    for (const auto& [n, size] : copy_.data_files())
      if (copy_.is_own(n) && n < copy_.state().committed_file && !referenced.contains(n)) {
        remove_local_quietly(n);
        copy_.state().stored.erase(n);
        dropped = true;
      }
    return dropped;
  }

  bool refresh_locked() {
    const auto head = store_.head(bucket_.index_key());
    if (!head || head->etag == copy_.state().published_etag) return false;
    const auto published = bucket_.get_index(head);
    if (!published || published->etag == copy_.state().published_etag) return false;
    rebase_onto(published);
    if (copy_.exists()) save_local();
    return true;
  }

  // Pushes this copy's data files, then commits the index (publisher.hpp).
  void publish(bool rebase) {
    if (copy_.exists()) publisher_.push_data_files([&](file_id n, file_id to) { renumber(n, to); });
    commit_index(rebase);
    if (!drop_unnamed_committed_files()) return;
    try {
      copy_.write_state();
    } catch (const error& e) {  // the files are gone; the state names them stored until the next save
      detail::log(opt_.log, log_level::warning, std::string("saving local.state failed: ") + e.what());
    }
  }

  // Commits the index, saving it locally first; a lost race rebases when `rebase` (never
  // with format 1: its single namespace cannot hold two writers' new files).
  void commit_index(bool rebase) {
    const int rebased = publisher_.commit([&] { return encode_index(); }, [&](const std::string&) { save_local(); },
                                          [&](const std::optional<object>& published) { rebase_for_commit(published); },
                                          rebase && opt_.format_version == 2 && opt_.fenced);
    rebases_ += static_cast<std::uint64_t>(rebased);
  }

  // A lost race's rebase. When the winner's index dropped files the old one named (a
  // compaction, which deletes them), a file this copy was still appending to may be gone:
  // the store gets it back before the index names it again. Otherwise no extra request.
  void rebase_for_commit(const std::optional<object>& published) {
    const auto before = referenced_files();
    rebase_onto(published);
    const auto after = referenced_files();
    const bool dropped =
        !published || std::any_of(before.begin(), before.end(), [&](file_id n) { return !after.contains(n); });
    if (copy_.exists() && dropped) publisher_.push_data_files([&](file_id n, file_id to) { renumber(n, to); });
  }

  // ------------------------------------------------------------------ download

  // Whether local data file n holds exactly the published object `info` (the bytes this
  // copy recorded under that ETag, at that size).
  bool holds_published_copy(file_id n, const object_info& info) const {
    const auto& stored = copy_.state().stored;
    const auto it = stored.find(n);
    return it != stored.end() && it->second.etag == info.etag && it->second.size == info.size &&
           copy_.size_of(n) == info.size;
  }

  // Swaps a fully staged download in (staging holds the fetched files, the index and
  // READY, which lists what the store holds). Run again by open() after a crash midway:
  // each step can be repeated.
  void finish_download() {
    const auto staging = copy_.staging_dir();
    const std::string ready = detail::read_file(staging / detail::staged_ready_name).value_or("");
    auto& state = copy_.state();
    state.stored.clear();
    std::set<file_id> wanted;
    std::istringstream lines(ready);
    for (std::string line; std::getline(lines, line);) {
      std::istringstream words(line);
      std::string word;
      words >> word;
      if (word == "published") {
        state.published_etag = line.size() > 10 ? line.substr(10) : std::string();
      } else if (word == "next_file") {
        std::uint32_t n = 1;
        words >> n;
        copy_.raise_next_file(n);
      } else if (word == "stored") {
        file_id n = 0;
        detail::stored_file f;
        words >> n >> f.size >> f.etag;
        state.stored[n] = f;
        wanted.insert(n);
      }
    }
    copy_.close_active();
    for (auto n : wanted)
      if (std::filesystem::exists(staging / format::data_file_name(n)))
        detail::rename_file(staging / format::data_file_name(n), copy_.data_path(n));
    for (const auto& [n, size] : copy_.data_files())
      if (!wanted.contains(n)) copy_.remove_data_file(n);
    forget_local_files();
    const auto index = detail::read_file(staging / format::index_name);
    if (index)
      decode_index_into(*index, bucket_.index_key(), index_);
    else
      index_.clear();
    state.unpublished = false;
    state.publishing.reset();
    copy_.mark_committed();
    save_local();
    copy_.clear_staging();
  }

  // The data files the index names that are not local, or whose local copy (of another
  // writer's file, fetched before it grew) ends before the last entry the index names there.
  std::vector<file_id> files_to_fetch() const {
    std::map<file_id, std::uint64_t> ends;
    for (const auto& element : index_) {
      auto& end = ends[element.second.file];
      end = std::max(end, element.second.offset + element.second.length);
    }
    std::vector<file_id> out;
    for (const auto& [n, end] : ends) {
      const auto size = copy_.size_of(n);
      if (!size || (!copy_.is_own(n) && *size < end)) out.push_back(n);
    }
    return out;
  }

  // Downloads these data files (replacing a stale local copy through a staging file).
  void fetch_missing(const std::vector<file_id>& missing) {
    ensure_dir();
    if (missing.empty()) return;
    const auto objects = bucket_.data_objects();
    fetch_files(missing, objects, copy_.dir());
    for (auto n : missing)
      if (auto it = objects.find(n); it != objects.end()) copy_.state().stored[n] = {it->second.size, it->second.etag};
    forget_local_files();
  }

  // items({.local = true})'s fetch. A file gone from the store (another writer compacted,
  // and gc deleted it) means a newer index exists: it is adopted, as a reader does.
  void fetch_for_local_reads() {
    ensure_dir();
    for (int attempt = 0;; ++attempt) {
      try {
        fetch_missing(files_to_fetch());
        return;
      } catch (const store_error& e) {
        if (attempt > 0 || !e.not_found() || !refresh_locked()) throw;
      }
    }
  }

  // Downloads these data files into `into`, `concurrency` at once.
  void fetch_files(const std::vector<file_id>& numbers, const object_map& objects, const std::filesystem::path& into) {
    auto size_of = [&](file_id n) { return objects.contains(n) ? objects.at(n).size : 0; };
    std::uint64_t total = 0;
    for (auto n : numbers) total += size_of(n);
    detail::progress_meter meter(opt_.progress, "download", total);
    detail::parallel_for(numbers.size(), opt_.concurrency, [&](std::size_t i) {
      bucket_.fetch(numbers[i], into / format::data_file_name(numbers[i]));
      meter.report(size_of(numbers[i]));
    });
  }

  // Moves local data file n to id `to`, for the publisher: the index follows, saved
  // before the old file goes, so a crash leaves both and a replay of the new one is
  // harmless (it holds only entries the index names, and tombstones of absent keys).
  void renumber(file_id n, file_id to) {
    // `to` is newer than every file: a rebase or a reopen replays it after files written
    // after n. So it holds only what still counts of n: the entries the index names there,
    // and a tombstone for each key n erases that the index lacks. Copied whole, an entry
    // a later write superseded would come back with it.
    copy_.close_active();
    const std::string bytes = detail::file(copy_.data_path(n), O_RDONLY).read_all();
    std::string entries;
    std::vector<std::pair<std::string, location>> moved;
    std::set<std::string, std::less<>> erased;
    replay_file(n, 0, false, [&](std::string_view key, const location* loc) {
      const auto it = index_.find(key);
      if (loc && it != index_.end() && it->second == *loc) {
        moved.emplace_back(std::string(key), location{to, format::file_header_size + entries.size(), loc->length});
        entries.append(bytes, static_cast<std::size_t>(loc->offset), loc->length);
      } else if (!loc && it == index_.end() && erased.emplace(key).second) {
        format::append_entry(entries, format::flag_tombstone, key, {});
      }
    });
    copy_.write_renumbered(n, to, entries);
    for (auto& [key, loc] : moved) index_.insert_or_assign(std::move(key), loc);
    copy_.state().stored.erase(n);
    forget_local_files();
    save_local();
    copy_.remove_data_file(n);
  }

  // ------------------------------------------------------------------ writing

  template <class Range>
  void put_range(const Range& batch) {
    std::string buffer;
    std::vector<std::pair<std::size_t, std::size_t>> spans;  // (start, length) of each entry in buffer
    std::string stored;
    for (auto&& element : batch) {
      const std::string_view key(std::get<0>(element));
      const std::string_view value(std::get<1>(element));
      check_key(key);
      const std::uint8_t flags = encode_value(value, stored);
      if (stored.size() > std::numeric_limits<std::uint32_t>::max() - format::entry_overhead - key.size())
        detail::throw_usage("put: the value for a key of " + std::to_string(key.size()) + " bytes is " +
                            std::to_string(stored.size()) + " bytes stored; an entry must fit in 4 GiB");
      const std::size_t start = buffer.size();
      spans.emplace_back(start, format::append_entry(buffer, flags, key, stored));
    }
    if (spans.empty()) return;
    std::unique_lock lock(mutex_);
    check_open();
    apply(buffer, spans, lock);
  }

  // Replaces `stored` with the stored form of `value`; returns the entry's flags. Format 2
  // stores a value raw (0x02) when the codec does not shrink it, and marks one that is
  // not UTF-8 (0x04), as Python s4db 0.9 does; format 1 writes the codec's form alone.
  // A codec of its own flag (neither Snappy's 0x00 nor raw 0x02) writes that flag alone:
  // no Python version reads it anyway.
  std::uint8_t encode_value(std::string_view value, std::string& stored) const {
    codec_.encode(value, stored);
    constexpr bool python_codec = Codec::flag == format::flag_put || Codec::flag == format::flag_raw;
    if (opt_.format_version == 1 || !python_codec) return Codec::flag;
    std::uint8_t flags = Codec::flag;
    if (Codec::flag != format::flag_raw && stored.size() >= value.size()) {
      stored.assign(value);
      flags = format::flag_raw;
    }
    if (!format::is_utf8(value)) flags |= format::flag_binary;
    return flags;
  }

  enum class value_status { ok, unknown_flags, tombstone, other_codec, undecodable };

  // The value an entry stores, by its flags: raw (0x02), or in this db's codec.
  value_status decode_value(const format::entry_view& entry, std::string& out) const {
    if (entry.flags & ~(format::known_flags | Codec::flag)) return value_status::unknown_flags;
    if (entry.flags == Codec::flag)
      return codec_.decode(entry.value, out) ? value_status::ok : value_status::undecodable;
    if (entry.flags & format::flag_tombstone) return value_status::tombstone;
    const auto stored_as = static_cast<std::uint8_t>(entry.flags & ~format::flag_binary);
    if (stored_as == format::flag_raw) {
      out.assign(entry.value);
      return value_status::ok;
    }
    if (stored_as != Codec::flag) return value_status::other_codec;
    return codec_.decode(entry.value, out) ? value_status::ok : value_status::undecodable;
  }

  void erase_views(const std::vector<std::string_view>& keys) {
    for (auto key : keys) check_key(key);
    std::unique_lock lock(mutex_);
    check_open();
    std::string buffer;
    std::vector<std::pair<std::size_t, std::size_t>> spans;
    std::unordered_set<std::string_view> seen;
    for (auto key : keys) {
      if (index_.find(key) == index_.end() || !seen.insert(key).second) continue;
      const std::size_t start = buffer.size();
      spans.emplace_back(start, format::append_entry(buffer, format::flag_tombstone, key, {}));
    }
    if (spans.empty()) return;
    apply(buffer, spans, lock);
  }

  static void check_key(std::string_view key) {
    if (key.size() > format::max_key_size)
      detail::throw_usage("a key of " + std::to_string(key.size()) +
                          " bytes is over the limit of 65,535; nothing was written");
  }

  // Appends the encoded entries, then applies them to the index. Called with the write
  // lock held; with sync_mode every_write, releases it to wait for the (shared) fsync.
  void apply(const std::string& buffer, const std::vector<std::pair<std::size_t, std::size_t>>& spans,
             std::unique_lock<std::shared_mutex>& lock) {
    ensure_dir();
    std::vector<std::string_view> entries;
    entries.reserve(spans.size());
    for (const auto& [start, length] : spans) entries.push_back(std::string_view(buffer).substr(start, length));
    std::vector<location> locations;
    try {
      locations = copy_.append(entries);
    } catch (...) {
      // A damaged tail the rollback could not cut must end up before the saved position,
      // or the next open would replay into it.
      if (copy_.take_failed_rollback()) {
        try {
          save_local();
        } catch (const error& e) {
          detail::log(opt_.log, log_level::error, std::string("saving the local index failed: ") + e.what());
        }
      }
      throw;
    }
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const auto flags = static_cast<std::uint8_t>(entries[i][0]);
      const std::string_view key = entries[i].substr(9, format::load_be<std::uint32_t>(entries[i].data() + 1));
      if (flags == format::flag_tombstone) {
        auto it = index_.find(key);
        if (it != index_.end()) index_.erase(it);
      } else {
        assign(index_, key, locations[i]);
      }
    }
    copy_.state().unpublished = true;
    index_dirty_ = true;
    appended_since_save_ += buffer.size();
    // The write is applied: a failed periodic save must not report it as failed (the
    // index is saved again at the next chance, and open replays the tail meanwhile).
    if (appended_since_save_ >= checkpoint_interval()) {
      try {
        save_local();
      } catch (const error& e) {
        detail::log(opt_.log, log_level::warning, std::string("saving the local index failed: ") + e.what());
      }
    }
    if (opt_.sync == sync_mode::every_write) {
      const auto ticket = copy_.appended();
      lock.unlock();
      copy_.wait_durable(ticket);
    }
  }

  // Writes every live entry, in (file, offset) order, into new data files starting at the
  // working copy's next number; returns the index that names them. Entries are copied as
  // stored (checked, never carrying corruption forward), 4 MiB at a time; writing format
  // 1, an entry stored raw or flagged binary is encoded again in the codec's own form.
  map_type write_live_entries() {
    std::vector<std::pair<std::string_view, location>> live;  // views of the index's keys: it stays as it is
    live.reserve(index_.size());
    for (const auto& element : index_) live.emplace_back(element.first, element.second);
    std::sort(live.begin(), live.end(), [](const auto& a, const auto& b) {
      return std::tie(a.second.file, a.second.offset) < std::tie(b.second.file, b.second.offset);
    });
    std::uint64_t live_bytes = 0;
    for (const auto& element : live) live_bytes += element.second.length;
    detail::progress_meter meter(opt_.progress, "compact", live_bytes);
    map_type fresh;
    if (!live.empty()) copy_.start_new_file();
    constexpr std::size_t chunk = 4 * 1024 * 1024;
    for (std::size_t i = 0; i < live.size();) {
      std::string buffer;
      std::vector<std::string_view> entries;
      std::vector<std::size_t> lengths;
      const std::size_t begin = i;
      for (; i < live.size() && buffer.size() < chunk; ++i) {
        const std::string_view key = live[i].first;
        const location& loc = live[i].second;
        const auto file = local_file(loc);
        with_entry(loc, file.get(), [&](std::string_view bytes) {
          const auto entry = format::parse_exact_entry(bytes, key, where(loc));
          if (opt_.format_version == 1 && entry.flags != Codec::flag) {
            std::string value, stored;
            value = decode_entry(key, loc, bytes);
            codec_.encode(value, stored);
            lengths.push_back(format::append_entry(buffer, Codec::flag, key, stored));
          } else {
            buffer += bytes;
            lengths.push_back(bytes.size());
          }
        });
      }
      for (std::size_t j = begin, at = 0; j < i; at += lengths[j - begin], ++j)
        entries.push_back(std::string_view(buffer).substr(at, lengths[j - begin]));
      const auto locations = copy_.append(entries);
      meter.report(buffer.size());
      for (std::size_t j = begin; j < i; ++j) assign(fresh, live[j].first, locations[j - begin]);
    }
    copy_.close_active();
    return fresh;
  }

  // ------------------------------------------------------------------ reading

  // Calls use(bytes) with exactly the entry at loc: a view of the local mapping when it
  // covers the entry, else bytes read with pread, else one ranged read from the store.
  template <class Use>
  decltype(auto) with_entry(const location& loc, const detail::mapped_file* local, Use&& use) const {
    if (local && local->covers(loc.offset, loc.length)) return use(local->view(loc.offset, loc.length));
    std::string bytes = local ? local->read_at(loc.offset, loc.length) : std::string();
    // A local file that ends before the entry is an older copy of the published one (names
    // are never reused, so the bytes at an offset never change): the store has the rest.
    // When the store no longer has it either (compacted away, and collected), the caller
    // gets store_error not_found, as without a local copy, and reads the newer index.
    if (bytes.size() != loc.length) {
      try {
        bytes = store_.get_range(bucket_.data_key(loc.file), loc.offset, loc.length);
      } catch (const store_error& e) {
        if (!local || !e.not_found()) throw;
        detail::throw_store(where(loc) + ": the local file ends " + std::to_string(loc.length - bytes.size()) +
                                " bytes before the entry the index names, and the store has no copy",
                            404, false);
      }
    }
    if (bytes.size() != loc.length)
      detail::throw_corruption(where(loc) + ": the file ends " + std::to_string(loc.length - bytes.size()) +
                               " bytes before the entry the index names");
    return use(std::string_view(bytes));
  }

  std::string read_value(std::string_view key, const location& loc, const detail::mapped_file* local) const {
    return with_entry(loc, local, [&](std::string_view bytes) { return decode_entry(key, loc, bytes); });
  }

  // After a read found the data object gone: whether the key has since moved (this db
  // compacted), or whether the published index changed (another writer compacted) and was
  // adopted, this copy's unpublished writes on top. Either way, reading again may work.
  bool moved_since(std::string_view key, const location& loc) const {
    {
      std::shared_lock lock(mutex_);
      auto it = index_.find(key);
      if (it == index_.end() || !(it->second == loc)) return true;
    }
    auto* self = const_cast<basic_db*>(this);
    std::unique_lock lock(self->mutex_);
    return self->refresh_locked();
  }

  std::string decode_entry(std::string_view key, const location& loc, std::string_view bytes) const {
    const format::entry_view entry = format::parse_exact_entry(bytes, key, where(loc));
    std::string value;
    switch (decode_value(entry, value)) {
      case value_status::ok:
        return value;
      case value_status::unknown_flags:
        detail::throw_corruption(where(loc) + ": entry flags " + hex_byte(entry.flags) + " have unknown bits");
      case value_status::tombstone:
      case value_status::other_codec:
        detail::throw_corruption(where(loc) + ": entry flags " + hex_byte(entry.flags) +
                                 (entry.flags == format::flag_tombstone ? " (a tombstone)" : "") +
                                 ", but this db's codec '" + std::string(Codec::name) + "' writes " +
                                 hex_byte(Codec::flag) + ": opened with the wrong codec?");
      case value_status::undecodable:
        break;
    }
    detail::throw_corruption(where(loc) + ": the value does not decode with codec '" + std::string(Codec::name) + "'");
  }

  // verify()'s look at one data file's bytes against the index entries that point into it.
  void verify_file(file_id n, const std::string& name, std::string_view bytes, bool newest,
                   const std::vector<std::pair<location, std::string_view>>& want,
                   std::vector<verify_problem>& problems) const {
    try {
      if (format::parse_file_header(bytes, name).sequence != sequence_of(n))
        problems.push_back({name, 5, "header names another file number"});
    } catch (const corruption_error& e) {
      problems.push_back({name, 0, e.what()});
      return;
    }
    std::size_t next = 0;  // in want
    auto index_entry = [&](std::size_t i) { return "index entry for key '" + std::string(want[i].second) + "'"; };
    std::uint64_t pos = format::file_header_size;
    while (pos < bytes.size()) {
      const auto parsed = format::parse_entry(bytes.substr(static_cast<std::size_t>(pos)));
      const auto& [status, entry] = parsed;
      if (status != format::parse_status::ok) {
        const bool at_end = format::is_torn_tail(bytes, static_cast<std::size_t>(pos));
        problems.push_back({name, pos,
                            std::string(format::describe(status)) +
                                (newest && at_end ? " (a torn last entry: rebuild-index drops it)" : "")});
        break;
      }
      for (; next < want.size() && want[next].first.offset < pos; ++next)
        problems.push_back({name, want[next].first.offset, index_entry(next) + " points inside another entry"});
      for (; next < want.size() && want[next].first.offset == pos; ++next) {
        const location& loc = want[next].first;
        if (entry.key != want[next].second)
          problems.push_back({name, pos, index_entry(next) + " points at the entry of another key"});
        else if (loc.length != entry.size)
          problems.push_back({name, pos,
                              index_entry(next) + " gives length " + std::to_string(loc.length) + ", the entry has " +
                                  std::to_string(entry.size)});
        else if (std::string value; decode_value(entry, value) == value_status::undecodable)
          problems.push_back({name, pos, index_entry(next) + ": the value does not decode"});
        else if (value_status::ok != decode_value(entry, value))
          problems.push_back(
              {name, pos, index_entry(next) + " points at an entry with flags " + hex_byte(entry.flags)});
      }
      pos += entry.size;
    }
    for (; next < want.size(); ++next)
      problems.push_back({name, want[next].first.offset, index_entry(next) + " points past the last whole entry"});
  }

  std::vector<std::optional<std::string>> get_many_views(const std::vector<std::string_view>& keys) const {
    struct wanted_entry {
      std::size_t slot;
      location loc;
    };
    std::vector<std::optional<std::string>> out(keys.size());
    std::vector<wanted_entry> remote;
    std::vector<std::pair<wanted_entry, std::shared_ptr<const detail::mapped_file>>> local;
    {
      std::shared_lock lock(mutex_);
      check_open();
      for (std::size_t i = 0; i < keys.size(); ++i) {
        auto it = index_.find(keys[i]);
        if (it == index_.end()) continue;
        if (auto file = local_file(it->second))
          local.push_back({{i, it->second}, std::move(file)});
        else
          remote.push_back({i, it->second});
      }
    }
    for (const auto& [entry, file] : local) {
      try {
        out[entry.slot] = read_value(keys[entry.slot], entry.loc, file.get());
      } catch (const store_error& e) {  // a stale local copy, the store's object gone
        if (!e.not_found()) throw;
        out[entry.slot] = get(keys[entry.slot]);
      }
    }

    // Runs of entries that touch or overlap in one file become one ranged read, up to 8 MiB.
    std::sort(remote.begin(), remote.end(), [](const auto& a, const auto& b) {
      return std::tie(a.loc.file, a.loc.offset) < std::tie(b.loc.file, b.loc.offset);
    });
    constexpr std::uint64_t max_request = 8 * 1024 * 1024;
    struct run {
      std::size_t first, last;  // [first, last) in remote
      location span;
    };
    std::vector<run> runs;
    for (std::size_t i = 0; i < remote.size();) {
      const location& head = remote[i].loc;
      std::uint64_t end = head.offset + head.length;
      std::size_t j = i + 1;
      for (; j < remote.size() && remote[j].loc.file == head.file && remote[j].loc.offset <= end; ++j) {
        const std::uint64_t grown = std::max(end, remote[j].loc.offset + remote[j].loc.length);
        if (grown - head.offset > max_request) break;
        end = grown;
      }
      runs.push_back({i, j, {head.file, head.offset, static_cast<std::uint32_t>(end - head.offset)}});
      i = j;
    }
    std::vector<char> gone(runs.size(), 0);  // the object vanished under the read (compaction)
    detail::parallel_for(runs.size(), opt_.concurrency, [&](std::size_t r) {
      try {
        with_entry(runs[r].span, nullptr, [&](std::string_view bytes) {
          for (std::size_t i = runs[r].first; i < runs[r].last; ++i) {
            const auto& e = remote[i];
            out[e.slot] =
                decode_entry(keys[e.slot], e.loc, bytes.substr(e.loc.offset - runs[r].span.offset, e.loc.length));
          }
        });
      } catch (const store_error& e) {
        if (!e.not_found()) throw;
        gone[r] = 1;
      }
    });
    for (std::size_t r = 0; r < runs.size(); ++r)
      if (gone[r])
        for (std::size_t i = runs[r].first; i < runs[r].last; ++i) out[remote[i].slot] = get(keys[remote[i].slot]);
    return out;
  }

  // items({.local = true})'s snapshot: per data file (in id order), where its live entries
  // start, and its bytes up to the last of them, mapped. Returns the files and the count.
  std::pair<std::vector<typename item_range::live_file>, std::size_t> live_files() const {
    using live_file = typename item_range::live_file;
    std::map<file_id, std::pair<live_file, std::uint64_t>> files;  // with the end of its last live entry
    std::pair<live_file, std::uint64_t>* current = nullptr;
    for (const auto& element : index_) {
      const location& loc = element.second;
      if (!current || current->first.n != loc.file) {
        current = &files[loc.file];
        current->first.n = loc.file;
      }
      auto& starts = current->first.starts;
      const auto word = static_cast<std::size_t>(loc.offset / 64);
      if (starts.size() <= word) starts.resize(std::max(word + 1, starts.size() + starts.size() / 2));
      starts[word] |= std::uint64_t{1} << (loc.offset % 64);
      current->second = std::max(current->second, loc.offset + loc.length);
    }
    std::vector<live_file> out;
    out.reserve(files.size());
    for (auto& [n, entry] : files) {
      auto& f = entry.first;  // not a structured binding: clang 14 cannot capture one
      const std::uint64_t end = entry.second;
      // A mapping of its own, read ahead whole: the file is about to be read end to end.
      if (copy_.exists())
        if (auto opened = detail::file::open_existing(copy_.data_path(n)))
          f.mapped =
              std::make_shared<const detail::mapped_file>(std::move(*opened), detail::mapped_file::mode::read_ahead);
      if (f.mapped && f.mapped->covers(0, end)) {
        f.bytes = f.mapped->view(0, end);
      } else {  // not mapped (or the local copy is older): read, from the store if need be
        with_entry(location{n, 0, static_cast<std::uint32_t>(end)}, f.mapped.get(),
                   [&](std::string_view bytes) { f.read.assign(bytes); });
      }
      out.push_back(std::move(f));
      if (out.back().bytes.empty()) out.back().bytes = out.back().read;  // after the move: a view of where it lies
    }
    return {std::move(out), index_.size()};
  }

  // The live entry at `offset` of a streamed file, into `out` (key, value).
  void decode_streamed(const typename item_range::live_file& f, std::uint64_t offset,
                       std::pair<std::string, std::string>& out) const {
    const auto [status, entry] = format::parse_entry(f.bytes.substr(static_cast<std::size_t>(offset)));
    const location loc{f.n, offset, static_cast<std::uint32_t>(entry.size)};
    if (status != format::parse_status::ok) detail::throw_corruption(where(loc) + ": " + format::describe(status));
    if (decode_value(entry, out.second) != value_status::ok)
      out.second = decode_entry(entry.key, loc, f.bytes.substr(static_cast<std::size_t>(offset), entry.size));
    out.first.assign(entry.key);
  }

  // items()'s read of a snapshot entry. When the data object vanished (another writer
  // compacted), the key is read as get() reads it, with the index read again.
  std::string read_snapshot_value(const std::string& key, const location& loc) const {
    std::shared_ptr<const detail::mapped_file> local;
    {
      std::shared_lock lock(mutex_);
      check_open();
      local = local_file(loc);
    }
    try {
      return read_value(key, loc, local.get());
    } catch (const store_error& e) {
      if (!e.not_found()) throw;
      if (auto value = get(key)) return *std::move(value);
      throw;
    }
  }

  // The mapped local data file holding loc, or null when that file is not local. Cached
  // and shared by readers; mapped again when the file has grown past the entry.
  std::shared_ptr<const detail::mapped_file> local_file(const location& loc) const {
    if (!copy_.exists()) return nullptr;
    std::lock_guard lock(files_mutex_);
    auto [it, inserted] = files_.try_emplace(loc.file);
    if (inserted || (it->second && !it->second->covers(loc.offset, loc.length))) {
      auto f = detail::file::open_existing(copy_.data_path(loc.file));
      it->second = f ? std::make_shared<const detail::mapped_file>(std::move(*f)) : nullptr;
    }
    return it->second;
  }

  void forget_local_files() const {
    std::lock_guard lock(files_mutex_);
    files_.clear();
  }

  // ------------------------------------------------------------------ local directory

  // The working copy, created on first need. Its state is saved before any data file is
  // written, so a crash at any later moment leaves a copy that open() can replay.
  void ensure_dir() {
    if (!copy_.exists()) copy_.create(opt_.local_dir);
    if (!copy_.has_state()) save_local();
  }

  std::string encode_index() const {
    const std::uint32_t legacy_next = copy_.writer() == 0 ? std::max(copy_.next_file(), legacy_next_) : legacy_next_;
    return format::encode_index(opt_.format_version, legacy_next, index_.size(), index_);
  }

  // Saves the index locally with the position in the data files it reflects: the
  // container's checkpoint where it has one (compact_index: loaded without parsing), else
  // the published format.
  void save_local() {
    if (!copy_.exists()) copy_.create(opt_.local_dir);
    if (!copy_.state().has_writer) choose_writer();  // a new copy: its first save names its writer
    copy_.state().legacy_next = legacy_next_;
    const auto position = copy_.end_position();
    auto save = [&](std::span<const std::string_view> pieces) {
      copy_.save(pieces, position.first, position.second);
      saved_index_bytes_ = 0;
      for (auto piece : pieces) saved_index_bytes_ += piece.size();
    };
    if constexpr (requires { index_.checkpoint_image(); }) {
      const auto image = index_.checkpoint_image();
      save(image.pieces());
    } else {
      const std::string index = encode_index();
      save(std::span<const std::string_view>(std::array<std::string_view, 1>{index}));
    }
    appended_since_save_ = 0;
    index_dirty_ = false;
  }

  // How far appends may run past the saved index before it is saved again: open replays
  // them, so this bounds the replay, and as it grows with the index the saves' cost per
  // appended byte stays constant.
  std::uint64_t checkpoint_interval() const { return std::max(opt_.index_save_interval, saved_index_bytes_); }

  std::set<file_id> referenced_files() const {
    std::set<file_id> out;
    for (const auto& element : index_) out.insert(element.second.file);
    return out;
  }

  // A copy with no keys and no writes of its own, compacting a store that holds data
  // objects but no index, would publish an empty index over them: their keys (an index
  // that was lost, or a first upload in flight) would then be garbage for gc(). Refuses,
  // changing nothing. A copy with writes publishes them, as upload() would.
  void refuse_to_compact_nothing_over_lost_data() const {
    if (!index_.empty() || unpublished() || store_.head(bucket_.index_key())) return;
    if (const auto objects = bucket_.data_objects(); !objects.empty())
      detail::throw_usage("compact: the store holds " + std::to_string(objects.size()) + " data objects but no " +
                          bucket_.index_key() +
                          " names them; nothing was changed (rebuild_index({.from_store = true}), or s4db "
                          "rebuild-index, recovers the index from them)");
  }

  // Removes a local data file nothing needs any more; a failure only leaves garbage.
  void remove_local_quietly(file_id n) {
    try {
      copy_.remove_data_file(n);
    } catch (const error& e) {
      detail::log(opt_.log, log_level::warning, e.what());
    }
  }

  // ------------------------------------------------------------------ names and messages

  std::string where(const location& loc) const {
    return bucket_.data_key(loc.file) + " at offset " + std::to_string(loc.offset);
  }

  static std::string hex_byte(std::uint8_t b) {
    constexpr char digits[] = "0123456789abcdef";
    return {'0', 'x', digits[b >> 4], digits[b & 15]};
  }

  static std::string describe_etag(const std::string& etag) { return etag.empty() ? "(none)" : etag; }

  static std::string join(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
  }

  void check_open() const {
    if (closed_) detail::throw_usage("the db is closed");
  }

  // ------------------------------------------------------------------ state

  mutable Store store_;
  Codec codec_;
  options opt_;
  detail::bucket<Store> bucket_;
  detail::working_copy copy_;
  detail::publisher<Store> publisher_{store_, bucket_, copy_, opt_};

  mutable std::shared_mutex mutex_;  // readers share it; writers and maintenance own it
  map_type index_;
  std::uint32_t legacy_next_ = 1;  // the index header's next_file: one past every writer-0 file named
  std::uint64_t rebases_ = 0;      // lost races this db rebased its commit after
  bool closed_ = false;
  std::uint64_t appended_since_save_ = 0;
  std::uint64_t saved_index_bytes_ = 0;  // the size of the index saved last
  bool index_dirty_ = false;             // the local index on disk lags the one in memory

  mutable std::mutex files_mutex_;
  mutable std::unordered_map<file_id, std::shared_ptr<const detail::mapped_file>> files_;
};

}  // namespace v0
}  // namespace s4db
