// The write path: encodes put and erase batches into entries, appends them to the working
// copy's data files and applies them to the index, and saves the local index (the
// checkpoint open() starts its replay from): periodically in the background where the
// container allows (engine/checkpointer.hpp), else and on demand right away. Owns the
// checkpoint bookkeeping: what was appended since the last save, the size of that save,
// whether the index on disk lags the one in memory, and the background checkpointer.
// Called under the db's exclusive lock (a batch is encoded before it).
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <limits>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../format/entry.hpp"
#include "checkpointer.hpp"
#include "context.hpp"
#include "published_index.hpp"
#include "values.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

// Entries encoded into one buffer, each (start, length) in it.
struct encoded_batch {
  std::string buffer;
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  bool empty() const noexcept { return spans.empty(); }
};

// A writer namespace nobody is likely to have chosen (never 0, format 1's).
inline std::uint32_t random_writer() {
  std::random_device entropy;
  std::uint32_t w = 0;
  while (w == 0) w = entropy();
  return w;
}

template <class Store, class Codec, published_index Published>
class writer {
 public:
  writer(context<Store>& c, Published& index, const values<Codec>& values) : c_(c), index_(index), values_(values) {}

  static void check_key(std::string_view key) {
    if (key.size() > format::max_key_size)
      detail::throw_usage("a key of " + std::to_string(key.size()) +
                          " bytes is over the limit of 65,535; nothing was written");
  }

  // A batch of (key, value) pairs as entries; throws usage_error, writing nothing, for a
  // key or an entry over its limit. Needs no lock.
  template <class Range>
  encoded_batch encode_puts(const Range& batch) const {
    encoded_batch out;
    std::string stored;
    for (auto&& element : batch) {
      const std::string_view key(std::get<0>(element));
      const std::string_view value(std::get<1>(element));
      check_key(key);
      const std::uint8_t flags = values_.encode(value, stored);
      if (stored.size() > std::numeric_limits<std::uint32_t>::max() - format::entry_overhead - key.size())
        detail::throw_usage("put: the value for a key of " + std::to_string(key.size()) + " bytes is " +
                            std::to_string(stored.size()) + " bytes stored; an entry must fit in 4 GiB");
      const std::size_t start = out.buffer.size();
      out.spans.emplace_back(start, format::append_entry(out.buffer, flags, key, stored));
    }
    return out;
  }

  // Tombstones for the keys the index holds, each once. Under the lock.
  encoded_batch encode_erases(const std::vector<std::string_view>& keys) const {
    encoded_batch out;
    std::unordered_set<std::string_view> seen;
    for (auto key : keys) {
      if (!index_.find(key) || !seen.insert(key).second) continue;
      const std::size_t start = out.buffer.size();
      out.spans.emplace_back(start, format::append_entry(out.buffer, format::flag_tombstone, key, {}));
    }
    return out;
  }

  // Appends the encoded entries, then applies them to the index. Called with the write
  // lock held; with sync_mode every_write, releases it to wait for the (shared) fsync.
  void apply(const encoded_batch& batch, std::unique_lock<std::shared_mutex>& lock) {
    ensure_dir();
    std::vector<std::string_view> entries;
    entries.reserve(batch.spans.size());
    for (const auto& [start, length] : batch.spans)
      entries.push_back(std::string_view(batch.buffer).substr(start, length));
    std::vector<location> locations;
    try {
      locations = c_.copy.append(entries);
    } catch (...) {
      // A damaged tail the rollback could not cut must end up before the saved position,
      // or the next open would replay into it.
      if (c_.copy.take_failed_rollback()) {
        try {
          save_local();
        } catch (const error& e) {
          c_.log(log_level::error, std::string("saving the local index failed: ") + e.what());
        }
      }
      throw;
    }
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const auto flags = static_cast<std::uint8_t>(entries[i][0]);
      const std::string_view key = entries[i].substr(9, format::load_be<std::uint32_t>(entries[i].data() + 1));
      if (flags == format::flag_tombstone)
        index_.erase(key);
      else
        index_.set(key, locations[i]);
    }
    c_.copy.state().unpublished = true;
    index_dirty_ = true;
    appended_since_save_ += batch.buffer.size();
    save_periodically();
    if (c_.opt.sync == sync_mode::every_write) {
      const auto ticket = c_.copy.appended();
      lock.unlock();
      c_.copy.wait_durable(ticket);
    }
  }

  // flush(): the data files made durable; the index saved only when the tail open would
  // replay has grown past the checkpoint interval (in the background where it can be).
  void flush() {
    if (!c_.copy.exists() || !c_.copy.has_state()) return save_local();
    save_periodically();
    if (c_.copy.durable()) c_.copy.sync_appends();
  }

  // close(): the index saved if it changed.
  void save_if_changed() {
    checkpointer_.cancel();
    if (index_dirty_ && c_.copy.exists()) save_local();
  }

  // The periodic save, once the appends since the last one pass the checkpoint interval: a
  // background checkpoint started, or one finished installed; else (a container without a
  // checkpoint image, options::background_checkpoint off, the index changed other than by
  // appends since the last save) a save now. The write is applied already: a failed save
  // must not report it as failed (the index is saved again at the next chance, and open
  // replays the tail meanwhile).
  void save_periodically() {
    try {
      if (background_checkpoints()) install_finished();
      if (appended_since_save_ < checkpoint_interval()) return;
      if (!background_checkpoints() || needs_full_save_ || saved_index_bytes_ == 0 || !c_.copy.saved_digest())
        save_local();
      else if (!checkpointer_.running())
        start_checkpoint();
    } catch (const std::exception& e) {  // an s4db error, or no thread to be had
      c_.log(log_level::warning, std::string("saving the local index failed: ") + e.what());
    }
  }

  // The working copy, created on first need. Its state is saved before any data file is
  // written, so a crash at any later moment leaves a copy that open() can replay.
  void ensure_dir() {
    if (!c_.copy.exists()) c_.copy.create(c_.opt.local_dir);
    if (!c_.copy.has_state()) save_local();
  }

  // Saves the index locally with the position in the data files it reflects.
  void save_local() {
    checkpointer_.cancel();
    if (!c_.copy.exists()) c_.copy.create(c_.opt.local_dir);
    if (!c_.copy.state().has_writer) choose_writer();  // a new copy: its first save names its writer
    saved_index_bytes_ = index_.save(c_.copy, c_.data_format());
    appended_since_save_ = 0;
    index_dirty_ = false;
    needs_full_save_ = false;
  }

  // The index in memory changed other than by apply() (a rebase, a replay, a compaction):
  // until the next save, a checkpoint rolled forward from the last one would lack that.
  void mark_changed(bool changed = true) {
    index_dirty_ = changed;
    needs_full_save_ |= changed;
    checkpointer_.cancel();
  }
  // open() loaded a checkpoint of this size.
  void loaded_checkpoint(std::uint64_t bytes) { saved_index_bytes_ = bytes; }

  // Puts the copy in the writer namespace its format writes: writer 0 for format 1, a
  // random one of its own for format 2 (kept across opens). After a move the index is
  // saved, so the next open replays from the new namespace.
  void settle_writer() {
    if (choose_writer()) save_local();
  }

 private:
  static constexpr bool has_checkpoint_image = requires(typename Published::map_type & m) { m.checkpoint_image(); };

  bool background_checkpoints() const { return has_checkpoint_image && c_.opt.background_checkpoint; }

  // Starts rolling the checkpoint on disk forward to the end of the appends so far.
  void start_checkpoint() {
    auto base = detail::file::open_existing(c_.copy.dir() / format::index_name);
    if (!base) return save_local();
    const auto [file, offset] = c_.copy.end_position();
    const auto& covers = c_.copy.state().indexes.front();
    checkpointer::job j{std::move(*base), *c_.copy.saved_digest(), {}, file, offset, c_.copy.dir(), c_.copy.durable()};
    for (const auto& [n, size] : c_.copy.data_files()) {
      if (!c_.copy.is_own(n) || n < covers.covered_file || n > file) continue;
      j.tail.push_back({n, n == covers.covered_file ? covers.covered_offset : 0, n == file ? offset : size});
    }
    checkpointer_.start(std::move(j), c_.copy);
    appended_at_start_ = appended_since_save_;
  }

  // Installs the background checkpoint if it finished: the index changed only by appends
  // since it started (mark_changed() and save_local() cancel it), so it and the replay
  // of the appends after it are the index in memory.
  void install_finished() {
    std::string failure;
    auto done = checkpointer_.take(failure);
    if (!failure.empty()) {
      c_.log(log_level::warning, "the background checkpoint failed (the next save is written in full): " + failure);
      needs_full_save_ = true;
    }
    if (!done) return;
    c_.copy.state().legacy_next = index_.legacy_next();
    try {
      c_.copy.install(done->written, done->saved);
    } catch (...) {
      std::error_code ignored;
      std::filesystem::remove(done->written, ignored);
      throw;
    }
    checkpointer_.retire(std::move(done->replaced));
    saved_index_bytes_ = done->bytes;
    appended_since_save_ -= appended_at_start_;
    index_dirty_ = appended_since_save_ > 0;
  }

  // How far appends may run past the saved index before it is saved again: open replays
  // them, so this bounds the replay, and as it grows with the index the saves' cost per
  // appended byte stays constant.
  std::uint64_t checkpoint_interval() const { return std::max(c_.opt.index_save_interval, saved_index_bytes_); }

  // Returns whether the copy moved to another namespace.
  bool choose_writer() {
    const std::uint32_t current = c_.copy.writer();
    const bool fits = c_.opt.format_version == 1 ? current == 0 : current != 0;
    if (fits && c_.copy.state().has_writer) return false;
    c_.copy.use_writer(fits ? current : c_.opt.format_version == 1 ? 0 : random_writer());
    for (const auto& element : index_) c_.copy.raise_next_past(element.second.file);
    return true;
  }

  context<Store>& c_;
  Published& index_;
  const values<Codec>& values_;
  std::uint64_t appended_since_save_ = 0;
  std::uint64_t saved_index_bytes_ = 0;  // the size of the index saved last
  bool index_dirty_ = false;             // the local index on disk lags the one in memory
  // The next periodic save is written in full: the index changed other than by appends
  // since the last save, or a background checkpoint failed.
  bool needs_full_save_ = false;
  std::uint64_t appended_at_start_ = 0;  // appended_since_save_ when the checkpointer started
  checkpointer checkpointer_;
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
