// The working copy: the local directory of one db, and everything the engine keeps on
// local disk. It owns
//   - the directory (created on first need, or a temporary one) and its LOCK (flock), so
//     one working copy belongs to one db at a time, in this process or another;
//   - local.state and index.idx, saved so that a crash at any moment leaves a pair that
//     open() accepts (the state is written first and names both the old and the new index);
//   - the data files: appends to the newest one with rollover, rolled back on failure,
//     replay from a position, and the fsyncs sync_mode asks for (group commit included);
//   - the staging directory a download fills before it swaps anything in.
// It knows nothing of the store or of the index container. Not thread-safe by itself:
// basic_db calls it under its own lock, except sync_appends(), which may run unlocked.
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../format/entry.hpp"
#include "../format/index_file.hpp"
#include "../format/names.hpp"
#include "../options.hpp"
#include "file.hpp"
#include "group_commit.hpp"
#include "local_state.hpp"
#include "log.hpp"
#include "mapped_file.hpp"

namespace s4db {
inline namespace v0 {
namespace detail {

inline constexpr std::string_view lock_file_name = "LOCK";
inline constexpr std::string_view download_staging_name = "download.staging";
inline constexpr std::string_view staged_ready_name = "READY";
// What the store's fencing probe found (store/s3/fencing.hpp), kept for a day.
inline constexpr std::string_view fencing_cache_name = "fencing";

class working_copy {
 public:
  working_copy(std::uint64_t max_file_size, sync_mode sync, int format_version, log_sink log)
      : max_file_size_(max_file_size), sync_(sync), format_version_(format_version), log_(std::move(log)) {}

  // ------------------------------------------------------------------ the directory

  bool exists() const noexcept { return dir_.has_value(); }
  const std::filesystem::path& dir() const { return *dir_; }
  bool is_temp() const noexcept { return temp_; }
  bool has_state() const { return dir_ && std::filesystem::exists(*dir_ / local_state_name); }

  // Takes an existing directory: locks it, and removes staging files that a killed
  // process left (nobody else can be using them: we hold the lock).
  void attach(const std::filesystem::path& dir) {
    lock_ = file_lock::try_lock(dir / lock_file_name);
    if (!lock_)
      throw_usage("the working copy " + dir.string() +
                  " is in use by another db (its LOCK is held, by this process or another); one working copy "
                  "belongs to one db at a time");
    dir_ = dir;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
      if (is_staging_name(e.path().filename().string())) std::filesystem::remove(e.path(), ec);
  }

  // Creates `dir` (or a temporary directory when none is given) and takes it.
  void create(const std::optional<std::filesystem::path>& dir) {
    if (dir) {
      std::error_code ec;
      std::filesystem::create_directories(*dir, ec);
      if (ec) throw_errno("mkdir", dir->string(), ec.value());
      attach(*dir);
      return;
    }
    std::string pattern = (std::filesystem::temp_directory_path() / "s4db-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw_errno("mkdtemp", pattern);
    attach(pattern);
    temp_ = true;
    log(log_, log_level::info, "using temporary directory " + pattern);
  }

  // ------------------------------------------------------------------ state and index

  local_state& state() noexcept { return state_; }
  const local_state& state() const noexcept { return state_; }
  // This copy's writer namespace, and its next sequence number there.
  std::uint32_t writer() const noexcept { return state_.writer; }
  file_id own(std::uint32_t sequence) const noexcept { return make_file_id(state_.writer, sequence); }
  bool is_own(file_id n) const noexcept { return writer_of(n) == state_.writer; }
  std::uint32_t next_file() const noexcept { return state_.next_file; }
  void raise_next_file(std::uint32_t sequence) { state_.next_file = std::max(state_.next_file, sequence); }
  // Raises the next sequence past n when n is in this copy's namespace.
  void raise_next_past(file_id n) {
    if (is_own(n)) raise_next_file(sequence_of(n) + 1);
  }

  // Moves the copy to writer namespace `writer` (a new copy, or one reopened with another
  // format version): new files go there; the uncommitted writes start at its beginning.
  void use_writer(std::uint32_t writer) {
    state_.has_writer = true;
    if (state_.writer == writer) return;
    state_.writer = writer;
    state_.next_file = 1;
    for (const auto& [n, size] : data_files()) raise_next_past(n);
    state_.committed_file = own(state_.next_file);
    state_.committed_offset = 0;
    if (state_.unpublished) state_.rebase_all = true;
  }

  // Whether this copy's own data file n, of `size` bytes, holds entries past its last commit.
  bool holds_uncommitted(file_id n, std::uint64_t size) const noexcept {
    return n > state_.committed_file || (n == state_.committed_file && size > state_.committed_offset);
  }

  // Whether any of this copy's own data files holds entries past its last commit.
  bool holds_uncommitted_writes() const {
    for (const auto& [n, size] : data_files())
      if (is_own(n) && holds_uncommitted(n, size)) return true;
    return false;
  }

  // Everything this copy wrote so far (or up to `at`) counts as committed.
  void mark_committed(std::optional<std::pair<file_id, std::uint64_t>> at = std::nullopt) {
    const auto [file, offset] = at.value_or(end_position());
    state_.committed_file = file;
    state_.committed_offset = offset;
    state_.rebase_all = false;
  }

  struct loaded_copy {
    // Holds the bytes `index` views: a private mapping, which the index may keep and write.
    std::shared_ptr<const mapped_file> mapping;
    std::shared_ptr<const std::string> read;  // or these, when the file could not be mapped
    std::string_view index;                   // empty: no index saved yet (an empty database)
    local_state::saved_index covers;
  };

  // Reads local.state and the index.idx it accepts (SPEC section 6: a flipped byte in
  // either is corruption_error, never a silently different index), and calls
  // use_index(the loaded copy) with the bytes while their digest is computed on another
  // thread (the two passes over a large checkpoint overlap): use_index must take any
  // bytes safely, and what it made of them is dropped when the digest then says they are
  // damaged (load() throws, and so does the open that called it).
  template <class UseIndex>
  loaded_copy load(std::string_view codec, UseIndex&& use_index) {
    const auto state_path = *dir_ / local_state_name;
    state_ = local_state::decode(read_file(state_path).value_or(""), state_path.string());
    if (state_.codec != codec)
      throw_corruption(dir_->string() + " was written with codec '" + state_.codec + "', but this db uses '" +
                       std::string(codec) + "'");
    const auto index_path = *dir_ / format::index_name;
    loaded_copy out;
    // Mapped and read ahead in one go (a checkpoint of a million keys is 50 MB), privately:
    // compact_index uses a checkpoint's arrays where they lie.
    auto damaged = [&] {
      throw_corruption(
          index_path.string() + " does not match the checksum " + local_state_name.data() +
          " recorded for it (a damaged file); move local.state and index.idx aside, open, and rebuild_index() "
          "recovers the index from the data files");
    };
    if (auto f = file::open_existing(index_path)) {
      const std::uint64_t size = f->size();
      // A size no saved index has is refused before the bytes are read (a sparse 3 GB file).
      if (!state_.legacy && std::none_of(state_.indexes.begin(), state_.indexes.end(),
                                         [&](const auto& i) { return i.bytes.size == size; }))
        damaged();
      out.mapping = std::make_shared<const mapped_file>(std::move(*f), mapped_file::mode::private_copy);
      if (out.mapping->covers(0, size))
        out.index = out.mapping->view(0, size);
      else
        out.index = *(out.read = std::make_shared<const std::string>(out.mapping->read_at(0, size)));
    }
    constexpr std::size_t overlap_from = 4 << 20;
    digest computed;
    if (out.index.size() >= overlap_from && !state_.legacy) {
      auto pending = std::async(std::launch::async, [bytes = out.index] { return digest::of(bytes); });
      try {
        use_index(std::as_const(out));
      } catch (...) {
        pending.wait();
        throw;
      }
      computed = pending.get();
    } else {
      use_index(std::as_const(out));
      computed = digest::of(out.index);
    }
    const auto* accepted = state_.accepts(out.index, computed);
    if (!accepted) damaged();
    out.covers = *accepted;
    state_.indexes = {*accepted};
    return out;
  }

  // Saves `index` as index.idx, reflecting the data files up to (covered_file,
  // covered_offset). In sync_mode flush and every_write the data files are made durable
  // first, so a saved index never names bytes a power loss can take; in sync_mode none
  // nothing is fsynced (a process crash still finds the old or the new pair).
  // The index may come in pieces (a checkpoint is written from its arrays, uncopied).
  void save(std::span<const std::string_view> index, file_id covered_file, std::uint64_t covered_offset) {
    if (durable()) sync_appends();
    digest::builder bytes;
    for (auto piece : index) bytes.add(piece);
    replace_index({bytes.done(), covered_file, covered_offset},
                  [&] { write_file_atomic(*dir_ / format::index_name, index, durable()); });
  }

  // Puts `written` (a checkpoint written in full, and made durable where the copy is, by
  // the background checkpointer) in place as index.idx, as save() does.
  void install(const std::filesystem::path& written, const local_state::saved_index& saved) {
    replace_index(saved, [&] {
      rename_file(written, *dir_ / format::index_name);
      if (durable()) sync_directory(*dir_);
    });
  }

  // The saved index with the current open uses; the state names it before it is written (a
  // crash between the two leaves an index the state still accepts).
  template <class Write>
  void replace_index(const local_state::saved_index& fresh, Write&& write) {
    std::vector<local_state::saved_index> previous = state_.indexes;
    if (previous.empty()) previous.push_back({digest::of(""), 1, 0});
    state_.indexes = previous;
    state_.indexes.push_back(fresh);
    state_.legacy = false;
    write_state();
    write();
    state_.indexes = {fresh};
  }

  // The digest local.state holds for index.idx (nullopt: none, or a legacy state).
  std::optional<digest> saved_digest() const {
    if (state_.legacy || state_.indexes.size() != 1) return std::nullopt;
    return state_.indexes.front().bytes;
  }

  // Rewrites local.state alone (the index on disk is unchanged).
  void write_state() const { write_file_atomic(*dir_ / local_state_name, state_.encode(), durable()); }

  bool durable() const noexcept { return sync_ != sync_mode::none; }

  // ------------------------------------------------------------------ data files

  std::filesystem::path data_path(file_id n) const { return *dir_ / format::data_file_name(n); }

  // (id, size) of every local data file, by id.
  std::vector<std::pair<file_id, std::uint64_t>> data_files() const {
    std::vector<std::pair<file_id, std::uint64_t>> out;
    if (!dir_) return out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(*dir_, ec)) {
      if (auto n = format::parse_data_file_name(e.path().filename().string()); n && e.is_regular_file())
        out.emplace_back(*n, e.file_size());
    }
    if (ec) throw_errno("list", dir_->string(), ec.value());
    std::sort(out.begin(), out.end());
    return out;
  }

  std::optional<std::uint64_t> size_of(file_id n) const {
    std::error_code ec;
    const auto size = std::filesystem::file_size(data_path(n), ec);
    if (ec) return std::nullopt;
    return size;
  }

  void remove_data_file(file_id n) {
    if (active_number_ == n) close_active();
    std::error_code ec;
    std::filesystem::remove(data_path(n), ec);
    if (ec) throw_errno("remove", data_path(n).string(), ec.value());
    state_.created.erase(n);
  }

  // Writes `entries` as data file `to`, with data file n's format version in its header,
  // atomically; n stays until the caller removes it.
  void write_renumbered(file_id n, file_id to, std::string_view entries) {
    const std::string header = file(data_path(n), O_RDONLY).read_at(0, format::file_header_size);
    const auto version = format::parse_file_header(header, data_path(n).string()).version;
    write_file_atomic(data_path(to), format::file_header(sequence_of(to), version) + std::string(entries), durable());
    if (is_own(to)) state_.created.insert(to);
    raise_next_past(to);
  }

  // Up to where the data files hold entries: the active file's end, else the end of the
  // newest local file, else the start of the next file.
  std::pair<file_id, std::uint64_t> end_position() const {
    if (active_.is_open()) return {active_number_, active_size_};
    if (state_.next_file > 1)
      if (auto size = size_of(own(state_.next_file - 1))) return {own(state_.next_file - 1), *size};
    return {own(state_.next_file), 0};
  }

  // Appends whole encoded entries, rolling to a new file before an entry that would take
  // a non-empty file past max_file_size. Returns where each landed. On failure every file
  // it touched is cut back (or removed) and the error rethrown; if even that fails, the
  // file is never appended to again (the next append starts a new one).
  std::vector<location> append(const std::vector<std::string_view>& entries) {
    struct touched_file {
      file_id number;
      std::uint64_t size_before;  // 0: created by this call
    };
    std::vector<touched_file> touched;
    if (active_.is_open()) touched.push_back({active_number_, active_size_});
    const std::uint32_t next_before = state_.next_file;
    std::vector<location> out;
    out.reserve(entries.size());
    std::string pending;
    try {
      for (const auto entry : entries) {
        if (!active_.is_open()) {
          open_active();
          touched.push_back({active_number_, active_size_ == format::file_header_size ? 0 : active_size_});
        } else if (active_size_ + pending.size() > format::file_header_size &&
                   active_size_ + pending.size() + entry.size() > max_file_size_) {
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
        try {
          if (t.size_before == 0)
            remove_data_file(t.number);
          else
            file(data_path(t.number), O_WRONLY).truncate(t.size_before);
        } catch (const error& e) {
          log(log_, log_level::error,
              std::string("could not roll back a failed append: ") + e.what() + "; no more appends go to that file");
          poisoned_ = t.number;
          failed_rollback_ = true;
        }
      }
      if (!poisoned_) state_.next_file = next_before;
      throw;
    }
    return out;
  }

  void close_active() { active_ = file(); }

  // Starts this writer's data file next_file() (after closing the active one) and makes it
  // active. Never reuses a name: a sequence whose file exists is skipped.
  void start_new_file() {
    close_active();
    while (std::filesystem::exists(data_path(own(state_.next_file)))) ++state_.next_file;
    const file_id n = own(state_.next_file);
    file f(data_path(n), O_RDWR | O_CREAT | O_EXCL);
    state_.created.insert(n);
    try {
      f.write_at(0, format::file_header(sequence_of(n), format_version_));
    } catch (...) {
      remove_data_file(n);
      throw;
    }
    active_ = std::move(f);
    active_number_ = n;
    active_size_ = format::file_header_size;
    state_.next_file = sequence_of(n) + 1;
    std::lock_guard lock(dirty_mutex_);
    dirty_.insert(n);
    dir_dirty_ = true;
  }

  // ------------------------------------------------------------------ durability

  // Ticket for group commit: call after an append, then wait_durable() without the lock.
  std::uint64_t appended() { return commits_.wrote(); }
  void wait_durable(std::uint64_t ticket) {
    commits_.wait_durable(ticket, [&] { sync_appends(); });
  }

  // fsyncs every data file appended to since the last call, and the directory when a
  // file was created. Safe to call without the engine's lock.
  // Calls run one at a time: one that found the set already taken by another must not
  // return before that one's fsyncs are done (the background checkpointer calls it too).
  void sync_appends() {
    std::lock_guard serial(sync_mutex_);
    std::set<file_id> files;
    bool dir = false;
    {
      std::lock_guard lock(dirty_mutex_);
      files.swap(dirty_);
      std::swap(dir, dir_dirty_);
    }
    try {
      for (auto n : files)
        if (auto f = file::open_existing(data_path(n))) f->sync();
      if (dir) sync_directory(*dir_);
    } catch (...) {
      std::lock_guard lock(dirty_mutex_);
      dirty_.insert(files.begin(), files.end());
      dir_dirty_ = dir_dirty_ || dir;
      throw;
    }
  }

  // Whether an append failed and could not be rolled back since the last call: the engine
  // then saves its index, so the saved position lies past the damaged tail.
  bool take_failed_rollback() { return std::exchange(failed_rollback_, false); }

  // No more appends go to file n (it lost bytes the index had named: a power loss).
  void never_append_to(file_id n) {
    if (active_number_ == n) close_active();
    poisoned_ = n;
  }

  // Marks a file written by other means (compaction, download) as needing a sync.
  void mark_dirty(file_id n) {
    std::lock_guard lock(dirty_mutex_);
    dirty_.insert(n);
    dir_dirty_ = true;
  }

  // ------------------------------------------------------------------ download staging

  std::filesystem::path staging_dir() const { return *dir_ / download_staging_name; }
  bool staged_ready() const { return std::filesystem::exists(staging_dir() / staged_ready_name); }

  void clear_staging() {
    std::error_code ec;
    std::filesystem::remove_all(staging_dir(), ec);
    if (ec) throw_errno("remove", staging_dir().string(), ec.value());
  }

 private:
  void write_pending(std::string& pending) {
    active_.write_at(active_size_, pending);
    active_size_ += pending.size();
    pending.clear();
    std::lock_guard lock(dirty_mutex_);
    dirty_.insert(active_number_);
  }

  // Resumes this writer's newest file if it is local, under the limit, of the format being
  // written and never uploaded (a data object is written once: publisher.hpp), else starts
  // a new one.
  void open_active() {
    if (state_.next_file > 1 && poisoned_ != own(state_.next_file - 1) &&
        !state_.stored.contains(own(state_.next_file - 1))) {
      const file_id newest = own(state_.next_file - 1);
      if (auto f = file::open_existing(data_path(newest), O_RDWR)) {
        const std::uint64_t size = f->size();
        if (size >= format::file_header_size && size < max_file_size_ &&
            static_cast<std::uint8_t>(f->read_at(4, 1).at(0)) == format_version_) {
          active_ = std::move(*f);
          active_number_ = newest;
          active_size_ = size;
          return;
        }
      }
    }
    start_new_file();
  }

  std::uint64_t max_file_size_;
  sync_mode sync_;
  int format_version_;
  log_sink log_;

  std::optional<std::filesystem::path> dir_;
  bool temp_ = false;
  std::optional<file_lock> lock_;
  local_state state_;

  file active_;  // the data file being appended to, opened lazily
  file_id active_number_ = 0;
  std::uint64_t active_size_ = 0;
  std::optional<file_id> poisoned_;  // a file a failed rollback left with a bad tail
  bool failed_rollback_ = false;

  std::mutex sync_mutex_;  // one sync_appends() at a time
  std::mutex dirty_mutex_;
  std::set<file_id> dirty_;  // appended to since the last sync_appends()
  bool dir_dirty_ = false;
  group_commit commits_;
};

}  // namespace detail
}  // namespace v0
}  // namespace s4db
