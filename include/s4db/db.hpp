// basic_db: the s4db engine, written against the Store, Codec and Index concepts.
//
// Writes append entries to numbered local data files; an in-memory index maps each live
// key to its newest entry's exact bytes; reads fetch only those bytes (a local pread, or
// one ranged GET from the store). upload() publishes, download() mirrors (README, "API").
//
// This file is the public API, the locking and the wiring. The work is done by the parts
// under engine/, each owning its own state (docs/architecture.md draws them): the
// published index (engine/whole_index.hpp, behind the seam of engine/published_index.hpp),
// the writer, the reader, the committer (upload, rebase, refresh), the downloader, the
// compactor, the garbage collector, the verifier and recovery (open, rebuild), all
// standing on engine/context.hpp: the store, the options, the bucket, the working copy,
// the publisher and the lock.
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

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <ranges>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "concepts.hpp"
#include "detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "engine/checkpoints.hpp"
#include "engine/compactor.hpp"
#include "engine/context.hpp"
#include "engine/garbage_collector.hpp"
#include "engine/reader.hpp"
#include "engine/recovery.hpp"
#include "engine/segment_merger.hpp"
#include "engine/segmented_index.hpp"
#include "engine/verifier.hpp"
#include "error.hpp"
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

 private:
  using published_type = engine::segmented_index<Index>;
  using writer_type = engine::writer<Store, Codec, published_type>;
  using committer_type = engine::committer<Store, Codec, published_type>;
  using downloader_type = engine::downloader<Store, Codec, published_type>;
  using reader_type = engine::reader<Store, Codec, published_type>;

 public:
  using item_range = typename reader_type::items_type;
  using item_view_range = typename reader_type::item_views_type;
  using snapshot_type = typename reader_type::snapshot_type;

  // Opens the database under opt.prefix in `store` (README, "Opening"). Never creates
  // local_dir. Throws conflict_error if local unpublished writes and a newer published
  // index both exist (see options::on_conflict), usage_error if another db holds the
  // working copy, corruption_error if the working copy is damaged.
  explicit basic_db(Store store, options opt = {}) : c_(std::move(store), std::move(opt)) {
    if (c_.opt.checkpoint) {
      if (c_.opt.format_version != 3 || c_.opt.local_dir)
        detail::throw_usage("options.checkpoint: checkpoints are format 3's, opened without a local_dir");
      c_.bucket.use_checkpoint(*c_.opt.checkpoint);
    }
    if (c_.bucket.segmented())
      index_.use_segments({[this](const std::string& name) { return c_.bucket.segment(name); },
                           [this](const std::string& name) { return c_.bucket.key(name); }, c_.opt.clock});
    recovery_.open();
  }

  basic_db(const basic_db&) = delete;
  basic_db& operator=(const basic_db&) = delete;

  // Flushes like close(); never throws, never uploads. A temporary local directory is
  // removed if everything in it was uploaded, and kept (with a warning) otherwise.
  ~basic_db() {
    try {
      close();
    } catch (const std::exception& e) {
      c_.log(log_level::error, std::string("closing the db failed: ") + e.what());
    }
    if (c_.copy.exists() && c_.copy.is_temp()) {
      if (c_.unpublished()) {
        c_.log(log_level::warning,
               "kept temporary directory " + c_.copy.dir().string() + ": it holds writes that were never uploaded");
      } else {
        std::error_code ignored;
        std::filesystem::remove_all(c_.copy.dir(), ignored);
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

  // Erases every key in [from, to) that this db holds, as one write (one batch of
  // tombstones: with sync_mode every_write, one fsync). Returns how many. A key another
  // writer commits into the range meanwhile is not erased (a tombstone names one key).
  // Throws usage_error, erasing nothing, when `to` is below `from`.
  std::size_t erase_range(std::string_view from, std::string_view to) {
    return erase_range({.from = std::string(from), .to = std::string(to)});
  }

  // Erases every key that starts with `prefix`, as one write; returns how many. An empty
  // prefix erases every key.
  std::size_t erase_prefix(std::string_view prefix) { return erase_range({.prefix = std::string(prefix)}); }

  // Erases every key scan(span) would yield (span.reverse aside), as one write; returns
  // how many. Throws usage_error, erasing nothing, when span.to is below span.from.
  std::size_t erase_range(const scan_options& span) {
    if (span.to && *span.to < span.from)
      detail::throw_usage("erase_range: the end (" + *span.to + ") is below the start (" + span.from +
                          "); nothing was erased");
    std::unique_lock lock(c_.mutex);
    c_.check_writable("erase_range");
    const auto entries = index_.entries_in(engine::key_span::of(span));
    std::vector<std::string_view> keys;
    keys.reserve(entries.size());
    for (const auto& e : entries) keys.emplace_back(e.first);
    const auto batch = writer_.encode_erases(keys);
    if (batch.empty()) return 0;
    writer_.apply(batch, lock);
    return batch.spans.size();
  }

  // ------------------------------------------------------------------ reads

  // The key's value, or nullopt. A value whose data object vanished under the read
  // (compacted by this db, or by another writer of the prefix) is looked up once more.
  std::optional<std::string> get(std::string_view key) const { return reader_.get(key); }

  // The values of many keys, in the order asked (nullopt where missing). Local entries are
  // read from disk; the others with concurrent ranged reads, entries that sit next to each
  // other in one file merged into one request.
  template <key_range Range>
  std::vector<std::optional<std::string>> get_many(const Range& keys) const {
    const auto list = detail::key_list::of(keys);
    return reader_.get_many(list.views);
  }

  std::vector<std::optional<std::string>> get_many(std::initializer_list<std::string_view> keys) const {
    return reader_.get_many(std::vector<std::string_view>(keys));
  }

  bool contains(std::string_view key) const {
    std::shared_lock lock(c_.mutex);
    c_.check_open();
    return index_.find(key).has_value();
  }

  std::size_t size() const {
    std::shared_lock lock(c_.mutex);
    c_.check_open();
    return index_.size();
  }

  std::vector<std::string> keys() const {
    std::shared_lock lock(c_.mutex);
    c_.check_open();
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
  // (a streamed file stays readable: its mapping holds it). With {.salvage = true} an entry
  // that is damaged (its read would throw corruption_error) is skipped, and counted in the
  // range's skipped(); a store error still throws.
  item_range items(items_options how = {}) {
    std::unique_lock lock(c_.mutex);
    c_.check_open();
    if (how.local) downloader_.fetch_for_local_reads();
    return reader_.items(how);
  }

  // As items(), but each (key, value) is a pair of string_views, valid until the loop moves
  // on: with {.local = true} a value stored raw is viewed where it lies in the mapped data
  // file and any other is decoded into one buffer the range reuses, so no item allocates
  // (LevelDB's iterator gives the same promise). The fast way to read every item.
  item_view_range item_views(items_options how = {}) {
    std::unique_lock lock(c_.mutex);
    c_.check_open();
    if (how.local) downloader_.fetch_for_local_reads();
    return reader_.template items<item_view_range>(how);
  }

  // The keys in [how.from, how.to) that start with how.prefix, in unsigned byte order
  // (largest first with how.reverse), each with its value, read as the loop reaches it.
  // The keys are those of the moment of the call; a value is the one the key had then
  // (unless compact() or download() meanwhile removed its file: then the key is read as
  // get() reads it). Memory: the matching (key, location) pairs, taken under the lock; an
  // index container that is not sorted (the default, a hash) is walked whole and the
  // matching keys sorted, O(keys); ordered_index walks only the span.
  item_range scan(const scan_options& how = {}) const {
    std::shared_lock lock(c_.mutex);
    c_.check_open();
    return reader_.scan(how);
  }

  // A consistent read view (get, get_many, contains, size, scan) of the db as it is now,
  // unchanged by later writes, commits, refreshes, downloads and compactions; this db's
  // gc() spares what it reads. Formats 1 and 2 copy the index for it: O(keys) time and
  // about 48 bytes per key (engine/snapshot.hpp says what holds and what it costs).
  snapshot_type snapshot() const {
    std::shared_lock lock(c_.mutex);
    c_.check_open();
    return reader_.take_snapshot(c_.pins);
  }

  // ------------------------------------------------------------------ sync and maintenance
  // Makes local_dir a copy of the published database: the published index and the data
  // files it references (files no published index references are never fetched). All or
  // nothing: files are staged and swapped in only once everything arrived, so a failure,
  // or a crash, leaves the copy as it was (or, after a crash during the swap, finished by
  // the next open). Throws usage_error when the copy holds unpublished writes, unless
  // called with {.force = true}, which discards them.
  void download(download_options how = {}) {
    std::unique_lock lock(c_.mutex);
    c_.check_writable("download");
    downloader_.download(how.force);
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
    std::unique_lock lock(c_.mutex);
    c_.check_writable("upload");
    c_.publisher.begin();
    committer_.publish(how.rebase);
    if (c_.opt.merge_in_background && index_.manifest() && engine::run_to_merge(index_.manifest()->segments))
      start_background_merge();
  }

  // Format 3: merges index segments until they have the size-tiered shape
  // (engine/segment_merger.hpp: at most 1 + log4(keys) segments), committing each merge
  // under the same fence as a commit; segments committed meanwhile stay above it, and a
  // merge that loses to another for good is given up. Reads segments and writes one: no
  // data file, no local copy, and the db's lock only at the end (to follow the merge
  // without reading it back when nothing else was committed meanwhile). usage_error on
  // formats 1 and 2, whose index is one object.
  merge_report merge_segments() {
    require_segments("merge_segments");
    std::uint32_t writer = 0;
    {
      std::shared_lock lock(c_.mutex);
      writer = c_.copy.writer();
    }
    engine::segment_merger<Store> merger(c_.bucket, writer != 0 ? writer : engine::random_writer(), c_.opt.log,
                                         c_.opt.clock);
    auto report = merger.merge();
    if (const auto& chain = merger.chain()) follow_edit(chain->first, chain->second);
    return report;
  }

  // Format 3: pins the published state as `name` (1 to 64 of A-Z a-z 0-9 . _ -): a copy of
  // the manifest is written and the manifest committed with a pin naming it, so gc keeps
  // every object that state reads until drop_checkpoint(name); options::checkpoint opens
  // it, read-only. This copy's unpublished writes are not in it (upload() first). Throws
  // usage_error on formats 1 and 2, for a name taken, or when nothing is published.
  void checkpoint(const std::string& name) {
    require_segments("checkpoint");
    const auto edit = engine::checkpoints<Store>(c_.bucket, c_.opt.clock).create(name);
    follow_edit(edit.base_etag, edit.committed);
  }

  // Format 3: unpins checkpoint `name` (gc(grace) then deletes what only it kept, once
  // older than the grace); false when there is no such checkpoint.
  bool drop_checkpoint(const std::string& name) {
    require_segments("drop_checkpoint");
    const auto edit = engine::checkpoints<Store>(c_.bucket, c_.opt.clock).drop(name);
    if (edit) follow_edit(edit->base_etag, edit->committed);
    return edit.has_value();
  }

  // Adopts the published index if it changed since this copy loaded it (one request when
  // it did not), with this copy's unpublished writes applied on top, as a rebase does.
  // Returns whether it changed.
  bool refresh() {
    std::unique_lock lock(c_.mutex);
    c_.check_open();
    return committer_.refresh();
  }

  // Deletes the data objects under the prefix that the published index does not reference
  // and that were last modified more than `grace` ago (another writer's upload in flight
  // is younger), and returns their object keys. Local data files of this copy are kept.
  // Throws usage_error while this copy holds unpublished writes, or when the store has
  // data objects but no index (rebuild_index({.from_store = true}) recovers it first).
  std::vector<std::string> gc(std::chrono::seconds grace = std::chrono::hours(24)) {
    std::unique_lock lock(c_.mutex);
    c_.check_writable("gc");
    return gc_.collect(grace);
  }

  // Makes every write so far survive a crash (with sync_mode flush or every_write, a power
  // loss too): the data files are made durable, and the next open replays what was
  // appended after the last checkpoint of the index. The index itself is saved only when
  // that tail has grown past the checkpoint interval (the larger of
  // options::index_save_interval and the last checkpoint's size), so a flush costs what
  // changed, not the size of the database.
  void flush() {
    std::unique_lock lock(c_.mutex);
    c_.check_open();
    writer_.flush();
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
    std::unique_lock lock(c_.mutex);
    c_.check_writable("compact");
    compactor_.compact();
  }

  // Rebuilds the index by replaying every local data file in number order. A torn last
  // entry of the newest file is dropped (and logged); corruption elsewhere throws. With no
  // local data files, {.from_store = true} fetches the store's data files first; without
  // it, an index that names keys is never replaced by an empty one (usage_error). Keys the
  // previous index had and the rebuilt one lacks are reported in the log. Never uploads.
  void rebuild_index(rebuild_options how = {}) {
    std::unique_lock lock(c_.mutex);
    c_.check_writable("rebuild_index");
    recovery_.rebuild(how.from_store);
  }

  // Keys, data files (local or in the store: one LIST), writer namespaces, live and dead
  // bytes, the data objects the index does not reference (gc()'s garbage), and whether
  // the store holds an index (one HEAD).
  db_stats stats() const {
    std::shared_lock lock(c_.mutex);
    c_.check_open();
    auto s = verifier_.stats();
    s.format_version = c_.opt.format_version;
    if (const auto& m = index_.manifest()) {
      s.segments = m->segments.size();
      for (const auto& pin : m->pins) s.checkpoints.push_back(pin.name);
    }
    return s;
  }

  // Reads every data file (the local copy, else the store's) and checks every entry's CRC,
  // then that each index entry names a whole entry with its key, of this db's codec, whose
  // value decodes. Returns what is wrong, empty when all is well; changes nothing.
  std::vector<verify_problem> verify() const {
    std::unique_lock lock(c_.mutex);  // no appends while files are read
    c_.check_open();
    return verifier_.verify();
  }

  // Saves the local index if anything changed; later calls throw usage_error. Never uploads.
  // Waits for a background merge to finish first.
  void close() {
    if (merging_.joinable()) merging_.join();
    std::unique_lock lock(c_.mutex);
    if (c_.closed) return;
    writer_.save_if_changed();
    c_.copy.close_active();
    files_.forget();
    c_.closed = true;
  }

  // ------------------------------------------------------------------ introspection

  // The local directory in use, once there is one.
  std::optional<std::filesystem::path> local_directory() const {
    std::shared_lock lock(c_.mutex);
    if (!c_.copy.exists()) return std::nullopt;
    return c_.copy.dir();
  }

  // Whether this copy holds writes that no commit of it is known to have published.
  bool has_unpublished_writes() const {
    std::shared_lock lock(c_.mutex);
    return c_.unpublished();
  }

  // How many times this db's commits lost a race and were rebased onto another writer's.
  std::uint64_t rebases() const {
    std::shared_lock lock(c_.mutex);
    return committer_.rebases();
  }

  // What the store's conditional writes are worth, which fenced commits rely on: s3_store
  // probes the server once (about eight requests on a scratch object under the prefix;
  // kept in memory, and in local_dir for a day); fs_store and memory_store honour them by
  // construction. A fenced upload() or compact() asks the same first, and refuses with
  // usage_error where they are not honoured.
  fencing_report fencing() const {
    std::shared_lock lock(c_.mutex);
    return c_.publisher.fencing();
  }

  Store& store() noexcept { return c_.store; }
  const options& get_options() const noexcept { return c_.opt; }

 private:
  template <class Range>
  void put_range(const Range& batch) {
    const auto entries = writer_.encode_puts(batch);
    if (entries.empty()) return;
    std::unique_lock lock(c_.mutex);
    c_.check_writable("put");
    writer_.apply(entries, lock);
  }

  void require_segments(const char* what) const {
    std::shared_lock lock(c_.mutex);
    c_.check_writable(what);
    if (!c_.bucket.segmented())
      detail::throw_usage(std::string(what) + ": format " + std::to_string(c_.opt.format_version) +
                          " has no manifest (checkpoints and segments are format 3's); nothing was changed");
  }

  // A manifest edit that is not a commit of writes (a merge, a pin) committed `edited` on
  // the manifest with ETag `base`: a copy at that one takes it as its own, reading nothing.
  void follow_edit(const std::string& base, const object& edited) {
    std::unique_lock lock(c_.mutex);
    if (!c_.closed && c_.copy.state().published_etag == base) committer_.follow_edit(edited);
  }

  // options::merge_in_background: one merging thread at a time; a request while it runs
  // makes it look once more when it is done.
  void start_background_merge() {
    if (merge_busy_.exchange(true)) return void(merge_again_ = true);
    if (merging_.joinable()) merging_.join();
    merging_ = std::thread([this] {
      do {
        merge_again_ = false;
        try {
          merge_segments();
        } catch (const std::exception& e) {
          c_.log(log_level::warning, std::string("background merge: ") + e.what());
        }
      } while (merge_again_);
      merge_busy_ = false;
    });
  }

  void erase_views(const std::vector<std::string_view>& keys) {
    for (auto key : keys) writer_type::check_key(key);
    std::unique_lock lock(c_.mutex);
    c_.check_writable("erase");
    const auto entries = writer_.encode_erases(keys);
    if (entries.empty()) return;
    writer_.apply(entries, lock);
  }

  // The parts, in the order they are built (each is given the ones it uses).
  engine::context<Store> c_;
  published_type index_;
  engine::values<Codec> values_{c_.data_format()};
  engine::mapped_files files_{c_.copy};
  writer_type writer_{c_, index_, values_};
  committer_type committer_{c_, index_, writer_, files_};
  downloader_type downloader_{c_, index_, writer_, files_, committer_};
  reader_type reader_{c_, index_, values_, files_, committer_};
  engine::compactor<Store, Codec, published_type> compactor_{c_,     index_,     values_,     writer_,
                                                             files_, committer_, downloader_, reader_};
  engine::garbage_collector<Store, published_type> gc_{c_, index_};
  engine::verifier<Store, Codec, published_type> verifier_{c_, index_, values_};
  engine::recovery<Store, Codec, published_type> recovery_{c_, index_, writer_, files_, committer_, downloader_};
  std::thread merging_;  // options::merge_in_background
  std::atomic<bool> merge_busy_{false}, merge_again_{false};
};

}  // namespace v0
}  // namespace s4db
