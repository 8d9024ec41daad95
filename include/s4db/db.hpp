// basic_db: the s4db engine, written against the Store, Codec and Index concepts.
//
// Writes append entries to numbered local data files; an in-memory index maps each live
// key to its newest entry's exact bytes; reads fetch only those bytes (a local pread, or
// one ranged GET from the store). upload() publishes, download() mirrors (README, "API").
//
// Thread safety: one db may be used from many threads at once. Reads (get, contains,
// size, keys, items) run in parallel; writes and the maintenance calls are serialised.
// Two processes or machines writing one prefix at once is NOT safe in this version.
//
// Failure: every error is an s4db::error subclass (error.hpp). A put or erase that throws
// wrote nothing that survives; compact() changes nothing unless it completes.
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <set>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "concepts.hpp"
#include "detail/file.hpp"
#include "detail/local_state.hpp"
#include "detail/log.hpp"
#include "detail/mapped_file.hpp"
#include "detail/parallel.hpp"
#include "detail/progress.hpp"
#include "error.hpp"
#include "format/entry.hpp"
#include "format/index_file.hpp"
#include "format/names.hpp"
#include "fwd.hpp"
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

// Any range of keys: a vector of strings, a set of string_views...
template <class R>
concept key_range =
    std::ranges::input_range<R> && std::convertible_to<std::ranges::range_reference_t<R>, std::string_view>;

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
  // index both exist (see options::on_conflict).
  explicit basic_db(Store store, options opt = {}) : store_(std::move(store)), opt_(std::move(opt)) {
    if (opt_.local_dir && std::filesystem::is_directory(*opt_.local_dir)) dir_ = *opt_.local_dir;
    if (dir_ && std::filesystem::exists(*dir_ / detail::local_state_name))
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
    if (dir_ && dir_is_temp_) {
      if (unpublished_) {
        detail::log(opt_.log, log_level::warning,
                    "kept temporary directory " + dir_->string() + ": it holds writes that were never uploaded");
      } else {
        std::error_code ignored;
        std::filesystem::remove_all(*dir_, ignored);
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

  void erase(std::initializer_list<std::string_view> keys) { erase_range(keys); }

  template <key_range Range>
  void erase(const Range& keys) {
    erase_range(keys);
  }

  // ------------------------------------------------------------------ reads

  std::optional<std::string> get(std::string_view key) const {
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
    return read_value(key, loc, local.get());
  }

  // The values of many keys, in the order asked (nullopt where missing). Local entries are
  // read from disk; the others with concurrent ranged reads, entries that sit next to each
  // other in one file merged into one request.
  template <key_range Range>
  std::vector<std::optional<std::string>> get_many(const Range& keys) const {
    std::vector<std::string_view> wanted;
    for (auto&& k : keys) wanted.emplace_back(k);
    return get_many_views(wanted);
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

  // Every live (key, value) once, from a snapshot of the index taken now. Values are read
  // lazily while iterating; compact() or download() during the iteration may make the
  // remaining ones unreadable.
  item_range items(items_options how = {}) {
    std::vector<std::pair<std::string, location>> snapshot;
    {
      std::unique_lock lock(mutex_);
      check_open();
      if (how.local) fetch_missing(referenced_files());
      snapshot.reserve(index_.size());
      for (const auto& element : index_) snapshot.emplace_back(element.first, element.second);
    }
    return item_range(this, std::move(snapshot));
  }

  // ------------------------------------------------------------------ sync and maintenance

  // Mirrors the store into local_dir: every data file and the index, replacing local
  // copies; local data files the store no longer has are removed.
  void download() {
    std::unique_lock lock(mutex_);
    check_open();
    ensure_dir();
    if (unpublished_)
      detail::log(opt_.log, log_level::warning,
                  "download() replaces local writes that were never uploaded, in " + dir_->string());
    close_active();
    const auto remote_sizes = remote_data_files();
    std::set<std::uint32_t> remote;
    for (const auto& [n, size] : remote_sizes) remote.insert(n);
    fetch_files({remote.begin(), remote.end()}, remote_sizes);
    const auto published = store_.get(object_key(format::index_name));
    adopt_store_index(published, remote);
    for (const auto& [n, size] : local_data_files())
      if (!remote.contains(n)) remove_local(n);
    forget_local_files();
    save_local(published ? published->data : encode_index());
  }

  // Publishes local data files (skipping those the store has at the same size), then the
  // index, so a reader never sees an index naming a missing file.
  void upload() {
    std::unique_lock lock(mutex_);
    check_open();
    if (dir_) {
      const auto remote = remote_data_files();
      std::vector<std::uint32_t> changed;
      for (const auto& [n, size] : local_data_files()) {
        auto it = remote.find(n);
        if (it == remote.end() || it->second != size) changed.push_back(n);
      }
      put_files(changed);
    }
    publish_index(encode_index());
  }

  // Saves the index to local_dir atomically.
  void flush() {
    std::unique_lock lock(mutex_);
    check_open();
    save_local();
  }

  // Rewrites the live entries into new files, publishes them and the new index, then
  // deletes the old objects and local files. Throws usage_error, changing nothing, if a
  // referenced file is neither local nor in the store.
  void compact() {
    std::unique_lock lock(mutex_);
    check_open();
    ensure_dir();
    const std::set<std::uint32_t> referenced = referenced_files();
    std::vector<std::string> lost;
    for (auto n : referenced)
      if (!std::filesystem::exists(data_path(n)) && !store_.head(object_key(format::data_file_name(n))))
        lost.push_back(format::data_file_name(n));
    if (!lost.empty())
      detail::throw_usage("compact: the index references " + join(lost) +
                          ", neither in local_dir nor in the store; nothing was changed");
    fetch_missing(referenced);
    close_active();

    std::set<std::uint32_t> old_files;
    for (const auto& [n, size] : local_data_files()) old_files.insert(n);
    for (const auto& [n, size] : remote_data_files()) old_files.insert(n);

    std::vector<std::pair<const std::string*, location>> live;
    live.reserve(index_.size());
    for (const auto& element : index_) live.emplace_back(&element.first, element.second);
    std::sort(live.begin(), live.end(), [](const auto& a, const auto& b) {
      return std::tie(a.second.file, a.second.offset) < std::tie(b.second.file, b.second.offset);
    });

    std::uint64_t live_bytes = 0;
    for (const auto& [key, loc] : live) live_bytes += loc.length;
    detail::progress_meter meter(opt_.progress, "compact", live_bytes);
    const std::uint32_t first_new = next_file_;
    map_type fresh;
    std::string index_bytes;
    try {
      if (!live.empty()) start_new_file();
      constexpr std::size_t chunk = 4 * 1024 * 1024;
      for (std::size_t i = 0; i < live.size();) {
        std::string buffer;
        std::vector<std::string_view> entries;
        const std::size_t begin = i;
        for (; i < live.size() && buffer.size() < chunk; ++i) {
          const auto& [key, loc] = live[i];
          const auto file = local_file(loc);
          with_entry(loc, file.get(), [&](std::string_view bytes) {
            format::parse_exact_entry(bytes, *key, where(loc));  // never carry corruption forward
            buffer += bytes;
          });
        }
        for (std::size_t j = begin, at = 0; j < i; at += live[j].second.length, ++j)
          entries.push_back(std::string_view(buffer).substr(at, live[j].second.length));
        const auto locations = append_encoded(entries);
        meter.report(buffer.size());
        for (std::size_t j = begin; j < i; ++j) fresh.insert_or_assign(*live[j].first, locations[j - begin]);
      }
      if (active_.is_open()) active_.sync();
      close_active();
      std::vector<std::uint32_t> created;
      for (std::uint32_t n = first_new; n < next_file_; ++n) created.push_back(n);
      put_files(created);
      index_bytes = format::encode_index(next_file_, fresh.size(), fresh);
      published_etag_ = store_.put(object_key(format::index_name), index_bytes, {});
    } catch (...) {
      close_active();
      std::vector<std::string> created;
      for (std::uint32_t n = first_new; n < next_file_; ++n) {
        created.push_back(object_key(format::data_file_name(n)));
        remove_local(n);
      }
      next_file_ = first_new;
      forget_local_files();
      try {
        store_.remove(created);
      } catch (const error& e) {
        detail::log(opt_.log, log_level::warning,
                    std::string("compact: could not remove its new objects: ") + e.what());
      }
      throw;
    }
    index_ = std::move(fresh);
    unpublished_ = false;
    save_local(index_bytes);
    std::vector<std::string> old_keys;
    for (auto n : old_files) old_keys.push_back(object_key(format::data_file_name(n)));
    for (auto n : old_files) remove_local(n);
    forget_local_files();
    store_.remove(old_keys);
  }

  // Rebuilds the index by replaying every local data file in number order. A torn last
  // entry of the newest file is dropped (and logged); corruption elsewhere throws.
  void rebuild_index() {
    std::unique_lock lock(mutex_);
    check_open();
    ensure_dir();
    close_active();
    map_type rebuilt;
    const auto files = local_data_files();
    for (std::size_t i = 0; i < files.size(); ++i) replay_file(files[i].first, 0, i + 1 == files.size(), rebuilt);
    index_ = std::move(rebuilt);
    next_file_ = files.empty() ? 1 : files.back().first + 1;
    unpublished_ = true;
    forget_local_files();
    save_local();
  }

  // Keys, data files (local or in the store: one LIST), live and dead bytes.
  db_stats stats() const {
    std::shared_lock lock(mutex_);
    check_open();
    auto sizes = remote_data_files();
    db_stats s;
    for (const auto& [n, size] : local_data_files()) {
      sizes[n] = size;
      ++s.local_files;
    }
    s.keys = index_.size();
    s.files = sizes.size();
    for (const auto& [n, size] : sizes) s.file_bytes += size;
    for (const auto& element : index_) s.live_bytes += element.second.length;
    return s;
  }

  // Reads every data file (the local copy, else the store's) and checks every entry's CRC,
  // then that each index entry names a whole entry with its key, of this db's codec, whose
  // value decodes. Returns what is wrong, empty when all is well; changes nothing.
  std::vector<verify_problem> verify() const {
    std::unique_lock lock(mutex_);  // no appends while files are read
    check_open();
    auto sizes = remote_data_files();
    std::set<std::uint32_t> local;
    for (const auto& [n, size] : local_data_files()) {
      sizes[n] = size;
      local.insert(n);
    }
    // The index's entries per file, by offset.
    std::map<std::uint32_t, std::vector<std::pair<location, const std::string*>>> expected;
    for (const auto& element : index_) expected[element.second.file].emplace_back(element.second, &element.first);
    for (auto& [n, entries] : expected)
      std::sort(entries.begin(), entries.end(),
                [](const auto& a, const auto& b) { return a.first.offset < b.first.offset; });

    std::vector<verify_problem> problems;
    std::uint64_t total = 0;
    for (const auto& [n, size] : sizes) total += size;
    detail::progress_meter meter(opt_.progress, "verify", total);
    for (const auto& [n, size] : sizes) {
      const std::string name = object_key(format::data_file_name(n));
      std::string bytes;
      if (local.contains(n)) {
        bytes = detail::file(data_path(n), O_RDONLY).read_all();
      } else if (auto o = store_.get(name)) {
        bytes = std::move(o->data);
      } else {
        problems.push_back({name, 0, "listed, but gone when read"});
        continue;
      }
      meter.report(bytes.size());
      const auto& want = expected[n];
      verify_file(n, name, bytes, n == sizes.rbegin()->first, want, problems);
    }
    for (const auto& [n, entries] : expected)
      if (!sizes.contains(n))
        for (const auto& [loc, key] : entries)
          problems.push_back({object_key(format::data_file_name(n)), loc.offset,
                              "index entry for key '" + *key + "' names a file neither local nor in the store"});
    return problems;
  }

  // Saves the local index if anything changed; later calls throw usage_error. Never uploads.
  void close() {
    std::unique_lock lock(mutex_);
    if (closed_) return;
    if (index_dirty_ && dir_) save_local();
    close_active();
    forget_local_files();
    closed_ = true;
  }

  // ------------------------------------------------------------------ introspection

  // The local directory in use, once there is one.
  std::optional<std::filesystem::path> local_directory() const {
    std::shared_lock lock(mutex_);
    return dir_;
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
        ++position_;
        load();
        return *this;
      }
      void operator++(int) { ++*this; }
      friend bool operator==(const iterator& a, const iterator& b) { return a.position_ == b.position_; }

     private:
      friend class item_range;
      iterator(const item_range* range, std::size_t position) : range_(range), position_(position) { load(); }
      void load() {
        if (position_ >= range_->entries_.size()) return;
        const auto& [key, loc] = range_->entries_[position_];
        current_.first = key;
        current_.second = range_->db_->read_snapshot_value(key, loc);
      }
      const item_range* range_ = nullptr;
      std::size_t position_ = 0;
      value_type current_;
    };

    iterator begin() const { return iterator(this, 0); }
    iterator end() const { return iterator(this, entries_.size()); }
    std::size_t size() const noexcept { return entries_.size(); }

   private:
    friend class basic_db;
    item_range(const basic_db* db, std::vector<std::pair<std::string, location>> entries)
        : db_(db), entries_(std::move(entries)) {}
    const basic_db* db_;
    std::vector<std::pair<std::string, location>> entries_;
  };

 private:
  using map_type = index_map_t<Index>;

  // ------------------------------------------------------------------ opening

  // The local copy is ours: load its index, replay what was appended after the index was
  // saved, then reconcile with the store's index (SPEC section 2, "open").
  void open_working_copy() {
    const auto state_path = *dir_ / detail::local_state_name;
    const auto state = detail::local_state::decode(detail::read_file(state_path).value_or(""), state_path.string());
    if (state.codec != Codec::name)
      detail::throw_corruption(dir_->string() + " was written with codec '" + state.codec + "', but this db uses '" +
                               std::string(Codec::name) + "'");
    const auto index_path = *dir_ / format::index_name;
    if (auto bytes = detail::read_file(index_path)) load_index(*bytes, index_path.string());
    published_etag_ = state.published_etag;
    const bool replayed = replay_tail(state.covered_file, state.covered_offset);
    unpublished_ = state.unpublished || replayed;
    index_dirty_ = replayed;

    const auto remote = store_.head(object_key(format::index_name));
    const std::string remote_etag = remote ? remote->etag : std::string();
    if (remote_etag == published_etag_) return;
    if (unpublished_) {
      switch (opt_.on_conflict) {
        case conflict_resolution::keep_local:
          detail::log(opt_.log, log_level::warning,
                      "keeping the local working copy in " + dir_->string() + " over the store's changed " +
                          object_key(format::index_name));
          return;
        case conflict_resolution::take_store:
          detail::log(opt_.log, log_level::warning,
                      "discarding unpublished local writes in " + dir_->string() + " for the store's " +
                          object_key(format::index_name));
          break;
        case conflict_resolution::fail:
          detail::throw_conflict("both sides changed: the working copy in " + dir_->string() +
                                 " holds writes never uploaded, and the store's " + object_key(format::index_name) +
                                 " changed since it was taken (ETag " + describe_etag(published_etag_) + " then, " +
                                 describe_etag(remote_etag) +
                                 " now); open with options.on_conflict = keep_local or take_store");
      }
    }
    take_store_state();
  }

  void open_from_store() {
    auto published = store_.get(object_key(format::index_name));
    if (published) {
      load_index(published->data, object_key(format::index_name));
      published_etag_ = published->etag;
      return;
    }
    // A local-only database, as the Python original leaves it: index.idx, no state file.
    if (dir_) {
      const auto index_path = *dir_ / format::index_name;
      if (auto bytes = detail::read_file(index_path)) {
        load_index(*bytes, index_path.string());
        unpublished_ = true;
      }
    }
  }

  // The store's index replaces ours, and local data files that differ from the store's
  // (or that it lacks) are dropped so no read sees a stale local copy.
  void take_store_state() {
    std::map<std::uint32_t, std::uint64_t> remote = remote_data_files();
    std::set<std::uint32_t> numbers;
    for (const auto& [n, size] : remote) numbers.insert(n);
    close_active();
    adopt_store_index(store_.get(object_key(format::index_name)), numbers);
    for (const auto& [n, size] : local_data_files()) {
      auto it = remote.find(n);
      if (it == remote.end() || it->second != size) remove_local(n);
    }
    forget_local_files();
    save_local();
  }

  void adopt_store_index(const std::optional<object>& published, const std::set<std::uint32_t>& remote_files) {
    if (published) {
      load_index(published->data, object_key(format::index_name));
      published_etag_ = published->etag;
    } else {
      index_.clear();
      next_file_ = remote_files.empty() ? 1 : *remote_files.rbegin() + 1;
      published_etag_.clear();
    }
    unpublished_ = false;
  }

  void load_index(std::string_view bytes, const std::string& where_from) {
    map_type loaded;
    if constexpr (requires { loaded.reserve(std::size_t{}); }) {
      if (bytes.size() >= format::index_header_size) loaded.reserve(format::load_be<std::uint32_t>(bytes.data() + 5));
    }
    std::uint32_t highest = 0;
    const auto header = format::decode_index(bytes, where_from, [&](std::string_view key, const location& loc) {
      loaded.insert_or_assign(std::string(key), loc);
      highest = std::max(highest, loc.file);
    });
    index_ = std::move(loaded);
    next_file_ = std::max(header.next_file, highest + 1);
  }

  // Replays entries from (file, offset) on; returns whether any was found.
  bool replay_tail(std::uint32_t covered_file, std::uint64_t covered_offset) {
    const auto files = local_data_files();
    bool replayed = false;
    for (std::size_t i = 0; i < files.size(); ++i) {
      const auto [n, size] = files[i];
      if (n < covered_file) continue;
      const std::uint64_t from = n == covered_file ? covered_offset : 0;
      replayed |= replay_file(n, from, i + 1 == files.size(), index_);
      next_file_ = std::max(next_file_, n + 1);
    }
    return replayed;
  }

  // Applies the entries of data file n from `from` (0: from its header) to `into`; a torn
  // last entry of the newest file is cut off and logged. Returns whether any entry applied.
  bool replay_file(std::uint32_t n, std::uint64_t from, bool newest, map_type& into) {
    const auto path = data_path(n);
    detail::file f(path, O_RDWR);
    const std::string bytes = f.read_all();
    const std::string name = path.string();
    if (from < format::file_header_size) {
      if (bytes.size() < format::file_header_size && newest) {
        detail::log(opt_.log, log_level::warning, name + ": torn file header; the file is removed");
        remove_local(n);
        return false;
      }
      if (format::parse_file_header(bytes, name) != n)
        detail::throw_corruption(name + ": its header names another file number");
      from = format::file_header_size;
    }
    bool applied = false;
    std::size_t pos = static_cast<std::size_t>(std::min<std::uint64_t>(from, bytes.size()));
    while (pos < bytes.size()) {
      const auto parsed = format::parse_entry(std::string_view(bytes).substr(pos));
      const auto& [status, entry] = parsed;
      if (status != format::parse_status::ok) {
        if (!(newest && format::looks_torn(parsed, pos, bytes.size())))
          detail::throw_corruption(name + " at offset " + std::to_string(pos) + ": " + format::describe(status));
        detail::log(opt_.log, log_level::warning,
                    name + ": torn last entry at offset " + std::to_string(pos) + " (" + format::describe(status) +
                        ", " + std::to_string(bytes.size() - pos) + " bytes) dropped, not indexed");
        f.truncate(pos);
        break;
      }
      if (entry.flags == format::flag_tombstone) {
        auto it = into.find(entry.key);
        if (it != into.end()) into.erase(it);
      } else {
        into.insert_or_assign(std::string(entry.key), location{n, pos, static_cast<std::uint32_t>(entry.size)});
      }
      applied = true;
      pos += entry.size;
    }
    return applied;
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
      codec_.encode(value, stored);
      if (stored.size() > std::numeric_limits<std::uint32_t>::max() - format::entry_overhead - key.size())
        detail::throw_usage("put: the value for a key of " + std::to_string(key.size()) + " bytes is " +
                            std::to_string(stored.size()) + " bytes stored; an entry must fit in 4 GiB");
      const std::size_t start = buffer.size();
      spans.emplace_back(start, format::append_entry(buffer, Codec::flag, key, stored));
    }
    if (spans.empty()) return;
    std::unique_lock lock(mutex_);
    check_open();
    apply(buffer, spans);
  }

  template <class Range>
  void erase_range(const Range& keys) {
    for (auto&& key : keys) check_key(std::string_view(key));
    std::unique_lock lock(mutex_);
    check_open();
    std::string buffer;
    std::vector<std::pair<std::size_t, std::size_t>> spans;
    std::unordered_set<std::string_view> seen;
    for (auto&& k : keys) {
      const std::string_view key(k);
      if (index_.find(key) == index_.end() || !seen.insert(key).second) continue;
      const std::size_t start = buffer.size();
      spans.emplace_back(start, format::append_entry(buffer, format::flag_tombstone, key, {}));
    }
    if (spans.empty()) return;
    apply(buffer, spans);
  }

  static void check_key(std::string_view key) {
    if (key.size() > format::max_key_size)
      detail::throw_usage("a key of " + std::to_string(key.size()) +
                          " bytes is over the limit of 65,535; nothing was written");
  }

  // Appends the encoded entries, then applies them to the index. Holds the write lock.
  void apply(const std::string& buffer, const std::vector<std::pair<std::size_t, std::size_t>>& spans) {
    std::vector<std::string_view> entries;
    entries.reserve(spans.size());
    for (const auto& [start, length] : spans) entries.push_back(std::string_view(buffer).substr(start, length));
    const auto locations = append_encoded(entries);
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const auto flags = static_cast<std::uint8_t>(entries[i][0]);
      const std::string_view key = entries[i].substr(9, format::load_be<std::uint32_t>(entries[i].data() + 1));
      if (flags == format::flag_tombstone) {
        auto it = index_.find(key);
        if (it != index_.end()) index_.erase(it);
      } else {
        index_.insert_or_assign(std::string(key), locations[i]);
      }
    }
    unpublished_ = true;
    index_dirty_ = true;
    appended_since_save_ += buffer.size();
    if (appended_since_save_ >= opt_.index_save_interval) save_local();
  }

  // Appends whole encoded entries to the data files, rolling to a new file before an
  // entry that would take a non-empty file past max_file_size. Returns where each landed.
  // On failure every file it touched is cut back (or removed) and the error rethrown.
  std::vector<location> append_encoded(const std::vector<std::string_view>& entries) {
    ensure_dir();
    struct touched_file {
      std::uint32_t number;
      std::uint64_t size_before;  // 0: created by this call
    };
    std::vector<touched_file> touched;
    const std::uint32_t next_before = next_file_;
    std::vector<location> out;
    out.reserve(entries.size());
    std::string pending;
    try {
      for (const auto entry : entries) {
        if (!active_.is_open()) {
          open_active();
          touched.push_back({active_number_, active_size_ == format::file_header_size ? 0 : active_size_});
        } else if (active_size_ + pending.size() > format::file_header_size &&
                   active_size_ + pending.size() + entry.size() > opt_.max_file_size) {
          write_pending(pending);
          start_new_file();
          touched.push_back({active_number_, 0});
        }
        out.push_back({active_number_, active_size_ + pending.size(), static_cast<std::uint32_t>(entry.size())});
        pending.append(entry);
      }
      write_pending(pending);
    } catch (...) {
      close_active();
      for (const auto& t : touched) {
        if (t.size_before == 0)
          remove_local(t.number);
        else
          detail::file(data_path(t.number), O_WRONLY).truncate(t.size_before);
      }
      next_file_ = next_before;
      forget_local_files();
      throw;
    }
    return out;
  }

  void write_pending(std::string& pending) {
    active_.write_at(active_size_, pending);
    active_size_ += pending.size();
    pending.clear();
  }

  // Resumes the newest file if it is local and under the limit, else starts a new one.
  void open_active() {
    if (next_file_ > 1) {
      const std::uint32_t newest = next_file_ - 1;
      if (auto f = detail::file::open_existing(data_path(newest), O_RDWR)) {
        const std::uint64_t size = f->size();
        if (size >= format::file_header_size && size < opt_.max_file_size) {
          active_ = std::move(*f);
          active_number_ = newest;
          active_size_ = size;
          return;
        }
      }
    }
    start_new_file();
  }

  void start_new_file() {
    close_active();
    const std::uint32_t n = next_file_;
    detail::file f(data_path(n), O_RDWR | O_CREAT | O_TRUNC);
    try {
      f.write_at(0, format::file_header(n));
    } catch (...) {
      remove_local(n);
      throw;
    }
    active_ = std::move(f);
    active_number_ = n;
    active_size_ = format::file_header_size;
    next_file_ = n + 1;
    forget_local_file(n);
  }

  void close_active() { active_ = detail::file(); }

  // ------------------------------------------------------------------ reading

  // Calls use(bytes) with exactly the entry at loc: a view of the local mapping when it
  // covers the entry, else bytes read with pread, else one ranged read from the store.
  template <class Use>
  decltype(auto) with_entry(const location& loc, const detail::mapped_file* local, Use&& use) const {
    if (local && local->covers(loc.offset, loc.length)) return use(local->view(loc.offset, loc.length));
    const std::string bytes =
        local ? local->read_at(loc.offset, loc.length)
              : store_.get_range(object_key(format::data_file_name(loc.file)), loc.offset, loc.length);
    if (bytes.size() != loc.length)
      detail::throw_corruption(where(loc) + ": the file ends " + std::to_string(loc.length - bytes.size()) +
                               " bytes before the entry the index names");
    return use(std::string_view(bytes));
  }

  std::string read_value(std::string_view key, const location& loc, const detail::mapped_file* local) const {
    return with_entry(loc, local, [&](std::string_view bytes) { return decode_entry(key, loc, bytes); });
  }

  std::string decode_entry(std::string_view key, const location& loc, std::string_view bytes) const {
    const format::entry_view entry = format::parse_exact_entry(bytes, key, where(loc));
    if (entry.flags != Codec::flag)
      detail::throw_corruption(where(loc) + ": entry flags " + hex_byte(entry.flags) +
                               (entry.flags == format::flag_tombstone ? " (a tombstone)" : "") +
                               ", but this db's codec '" + std::string(Codec::name) + "' writes " +
                               hex_byte(Codec::flag) + ": opened with the wrong codec?");
    std::string value;
    if (!codec_.decode(entry.value, value))
      detail::throw_corruption(where(loc) + ": the value does not decode with codec '" + std::string(Codec::name) +
                               "'");
    return value;
  }

  // verify()'s look at one data file's bytes against the index entries that point into it.
  void verify_file(std::uint32_t n, const std::string& name, std::string_view bytes, bool newest,
                   const std::vector<std::pair<location, const std::string*>>& want,
                   std::vector<verify_problem>& problems) const {
    try {
      if (format::parse_file_header(bytes, name) != n)
        problems.push_back({name, 5, "header names another file number"});
    } catch (const corruption_error& e) {
      problems.push_back({name, 0, e.what()});
      return;
    }
    std::size_t next = 0;  // in want
    auto index_entry = [&](std::size_t i) { return "index entry for key '" + *want[i].second + "'"; };
    std::uint64_t pos = format::file_header_size;
    while (pos < bytes.size()) {
      const auto parsed = format::parse_entry(bytes.substr(static_cast<std::size_t>(pos)));
      const auto& [status, entry] = parsed;
      if (status != format::parse_status::ok) {
        const bool at_end = format::looks_torn(parsed, pos, bytes.size());
        problems.push_back({name, pos,
                            std::string(format::describe(status)) +
                                (newest && at_end ? " (a torn last entry: rebuild-index drops it)" : "")});
        break;
      }
      for (; next < want.size() && want[next].first.offset < pos; ++next)
        problems.push_back({name, want[next].first.offset, index_entry(next) + " points inside another entry"});
      for (; next < want.size() && want[next].first.offset == pos; ++next) {
        const location& loc = want[next].first;
        if (entry.key != *want[next].second)
          problems.push_back({name, pos, index_entry(next) + " points at the entry of another key"});
        else if (loc.length != entry.size)
          problems.push_back({name, pos,
                              index_entry(next) + " gives length " + std::to_string(loc.length) + ", the entry has " +
                                  std::to_string(entry.size)});
        else if (entry.flags != Codec::flag)
          problems.push_back(
              {name, pos, index_entry(next) + " points at an entry with flags " + hex_byte(entry.flags)});
        else if (std::string value; !codec_.decode(entry.value, value))
          problems.push_back({name, pos, index_entry(next) + ": the value does not decode"});
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
    for (const auto& [entry, file] : local) out[entry.slot] = read_value(keys[entry.slot], entry.loc, file.get());

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
    detail::parallel_for(runs.size(), opt_.concurrency, [&](std::size_t r) {
      with_entry(runs[r].span, nullptr, [&](std::string_view bytes) {
        for (std::size_t i = runs[r].first; i < runs[r].last; ++i) {
          const auto& e = remote[i];
          out[e.slot] =
              decode_entry(keys[e.slot], e.loc, bytes.substr(e.loc.offset - runs[r].span.offset, e.loc.length));
        }
      });
    });
    return out;
  }

  std::string read_snapshot_value(const std::string& key, const location& loc) const {
    std::shared_ptr<const detail::mapped_file> local;
    {
      std::shared_lock lock(mutex_);
      check_open();
      local = local_file(loc);
    }
    return read_value(key, loc, local.get());
  }

  // The mapped local data file holding loc, or null when that file is not local. Cached
  // and shared by readers; mapped again when the file has grown past the entry.
  std::shared_ptr<const detail::mapped_file> local_file(const location& loc) const {
    if (!dir_) return nullptr;
    std::lock_guard lock(files_mutex_);
    auto [it, inserted] = files_.try_emplace(loc.file);
    if (inserted || (it->second && !it->second->covers(loc.offset, loc.length))) {
      auto f = detail::file::open_existing(data_path(loc.file));
      it->second = f ? std::make_shared<const detail::mapped_file>(std::move(*f)) : nullptr;
    }
    return it->second;
  }

  void forget_local_file(std::uint32_t n) {
    std::lock_guard lock(files_mutex_);
    files_.erase(n);
  }

  void forget_local_files() {
    std::lock_guard lock(files_mutex_);
    files_.clear();
  }

  // ------------------------------------------------------------------ local directory

  // The local directory, created on first need. Its state file is written before any data
  // file, so a crash at any later moment leaves a copy that open() can replay.
  const std::filesystem::path& ensure_dir() {
    if (dir_ && dir_has_state_) return *dir_;
    if (dir_) {
      dir_has_state_ = true;
      if (!std::filesystem::exists(*dir_ / detail::local_state_name)) save_local();
      return *dir_;
    }
    if (opt_.local_dir) {
      std::error_code ec;
      std::filesystem::create_directories(*opt_.local_dir, ec);
      if (ec) detail::throw_errno("mkdir", opt_.local_dir->string(), ec.value());
      dir_ = *opt_.local_dir;
    } else {
      std::string pattern = (std::filesystem::temp_directory_path() / "s4db-XXXXXX").string();
      if (::mkdtemp(pattern.data()) == nullptr) detail::throw_errno("mkdtemp", pattern);
      dir_ = pattern;
      dir_is_temp_ = true;
      detail::log(opt_.log, log_level::info, "using temporary directory " + pattern);
    }
    return ensure_dir();
  }

  std::filesystem::path data_path(std::uint32_t n) const { return *dir_ / format::data_file_name(n); }

  // (number, size) of every local data file, by number.
  std::vector<std::pair<std::uint32_t, std::uint64_t>> local_data_files() const {
    std::vector<std::pair<std::uint32_t, std::uint64_t>> out;
    if (!dir_) return out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(*dir_, ec)) {
      if (auto n = format::parse_data_file_name(e.path().filename().string()); n && e.is_regular_file())
        out.emplace_back(*n, e.file_size());
    }
    if (ec) detail::throw_errno("list", dir_->string(), ec.value());
    std::sort(out.begin(), out.end());
    return out;
  }

  std::map<std::uint32_t, std::uint64_t> remote_data_files() const {
    std::map<std::uint32_t, std::uint64_t> out;
    for (const auto& o : store_.list(opt_.prefix))
      if (auto n = format::parse_data_file_name(std::string_view(o.key).substr(opt_.prefix.size())))
        out.emplace(*n, o.size);
    return out;
  }

  void remove_local(std::uint32_t n) {
    std::error_code ec;
    std::filesystem::remove(data_path(n), ec);
    if (ec) detail::throw_errno("remove", data_path(n).string(), ec.value());
  }

  std::set<std::uint32_t> referenced_files() const {
    std::set<std::uint32_t> out;
    for (const auto& element : index_) out.insert(element.second.file);
    return out;
  }

  // Downloads the listed data files that are not local; never replaces a local one.
  void fetch_missing(const std::set<std::uint32_t>& files) {
    ensure_dir();
    std::vector<std::uint32_t> missing;
    for (auto n : files)
      if (!std::filesystem::exists(data_path(n))) missing.push_back(n);
    if (!missing.empty()) fetch_files(missing, remote_data_files());
    forget_local_files();
  }

  // Downloads these data files into local_dir, replacing local copies, `concurrency` at once.
  void fetch_files(const std::vector<std::uint32_t>& numbers, const std::map<std::uint32_t, std::uint64_t>& sizes) {
    auto size_of = [&](std::uint32_t n) { return sizes.contains(n) ? sizes.at(n) : 0; };
    std::uint64_t total = 0;
    for (auto n : numbers) total += size_of(n);
    detail::progress_meter meter(opt_.progress, "download", total);
    detail::parallel_for(numbers.size(), opt_.concurrency, [&](std::size_t i) {
      fetch(object_key(format::data_file_name(numbers[i])), data_path(numbers[i]));
      meter.report(size_of(numbers[i]));
    });
  }

  // Uploads these local data files, `concurrency` at once.
  void put_files(const std::vector<std::uint32_t>& numbers) {
    std::vector<std::uint64_t> sizes;
    for (auto n : numbers) sizes.push_back(std::filesystem::file_size(data_path(n)));
    std::uint64_t total = 0;
    for (auto size : sizes) total += size;
    detail::progress_meter meter(opt_.progress, "upload", total);
    detail::parallel_for(numbers.size(), opt_.concurrency, [&](std::size_t i) {
      store_.put_file(object_key(format::data_file_name(numbers[i])), data_path(numbers[i]), {});
      meter.report(sizes[i]);
    });
  }

  void fetch(const std::string& key, const std::filesystem::path& destination) {
    const auto tmp = detail::staging_path(destination);
    try {
      if (!store_.get_file(key, tmp))
        detail::throw_store("download '" + key + "': the object is not in the store", 404, false);
      detail::rename_file(tmp, destination);
    } catch (...) {
      std::error_code ignored;
      std::filesystem::remove(tmp, ignored);
      throw;
    }
  }

  // Up to where the saved index reflects the data files: the active file's end, else the
  // end of the newest local file, else the start of the next file.
  std::pair<std::uint32_t, std::uint64_t> covered_position() const {
    if (active_.is_open()) return {active_number_, active_size_};
    if (next_file_ > 1) {
      if (auto f = detail::file::open_existing(data_path(next_file_ - 1))) return {next_file_ - 1, f->size()};
    }
    return {next_file_, 0};
  }

  std::string encode_index() const { return format::encode_index(next_file_, index_.size(), index_); }

  // Writes index.idx and local.state atomically, in that order: a crash between the two
  // leaves an older covered position, and replaying entries already indexed is harmless.
  void save_local(const std::string& index_bytes) {
    const auto& dir = ensure_dir();
    detail::write_file_atomic(dir / format::index_name, index_bytes);
    detail::local_state state;
    std::tie(state.covered_file, state.covered_offset) = covered_position();
    state.published_etag = published_etag_;
    state.unpublished = unpublished_;
    state.codec = std::string(Codec::name);
    detail::write_file_atomic(dir / detail::local_state_name, state.encode());
    appended_since_save_ = 0;
    index_dirty_ = false;
  }

  void save_local() { save_local(encode_index()); }

  void publish_index(const std::string& index_bytes) {
    published_etag_ = store_.put(object_key(format::index_name), index_bytes, {});
    unpublished_ = false;
    if (dir_) save_local(index_bytes);
  }

  // ------------------------------------------------------------------ names and messages

  std::string object_key(std::string_view name) const { return opt_.prefix + std::string(name); }

  std::string where(const location& loc) const {
    return object_key(format::data_file_name(loc.file)) + " at offset " + std::to_string(loc.offset);
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

  mutable std::shared_mutex mutex_;  // readers share it; writers and maintenance own it
  map_type index_;
  std::uint32_t next_file_ = 1;
  std::optional<std::filesystem::path> dir_;
  bool dir_is_temp_ = false;
  bool dir_has_state_ = false;  // local.state exists in dir_
  bool closed_ = false;

  detail::file active_;  // the data file being appended to, opened lazily
  std::uint32_t active_number_ = 0;
  std::uint64_t active_size_ = 0;

  std::uint64_t appended_since_save_ = 0;
  bool index_dirty_ = false;    // the local index on disk lags the one in memory
  bool unpublished_ = false;    // writes exist that upload() has not published
  std::string published_etag_;  // the store's index.idx this copy matches

  mutable std::mutex files_mutex_;
  mutable std::unordered_map<std::uint32_t, std::shared_ptr<const detail::mapped_file>> files_;
};

}  // namespace v0
}  // namespace s4db
