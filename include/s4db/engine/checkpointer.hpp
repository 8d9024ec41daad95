// The local index's periodic checkpoint, written off the write path (docs/architecture.md,
// "The checkpoint in the background"). A background thread rolls the checkpoint on disk
// forward: it reads the last one (checking its digest), applies this copy's own entries
// appended since up to a position P taken when it starts, and writes the result to a
// staging file. It never reads the live index, so writes go on meanwhile; the writer
// installs the file under the db's lock (a rename and two small writes of local.state) if
// nothing but appends changed the index since the job started. Only for compact_index,
// whose checkpoint is its memory image; other containers save on the write path.
// Owns the thread and its staging file; start, take, cancel under the db's lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "../concepts.hpp"
#include "../detail/file.hpp"
#include "../detail/local_state.hpp"
#include "../detail/working_copy.hpp"
#include "../error.hpp"
#include "../format/endian.hpp"
#include "../format/entry.hpp"
#include "../format/names.hpp"
#include "../index/compact.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

class checkpointer {
 public:
  // A stretch of one of this copy's data files to apply: [from, to).
  struct stretch {
    file_id n = 0;
    std::uint64_t from = 0, to = 0;
  };

  struct job {
    detail::file base;          // the checkpoint on disk now, opened before it can be replaced
    detail::digest base_bytes;  // what local.state records for it
    std::vector<stretch> tail;  // the entries appended after it, up to P
    file_id covered_file = 1;   // P
    std::uint64_t covered_offset = 0;
    std::filesystem::path dir;  // the working copy
    bool durable = false;       // fsync the data files up to P and the new checkpoint
  };

  struct result {
    std::filesystem::path written;  // the new checkpoint, in a staging file beside index.idx
    detail::local_state::saved_index saved;
    std::uint64_t bytes = 0;
    // The checkpoint it replaces, kept open: renamed over, its last reference would go
    // with the rename, and freeing its cached pages (tens of milliseconds) would stall the
    // writer; retire() hands it back to be closed by the next job's thread.
    detail::file replaced;
  };

  checkpointer() = default;
  checkpointer(const checkpointer&) = delete;
  checkpointer& operator=(const checkpointer&) = delete;
  ~checkpointer() { cancel(); }

  bool running() const noexcept { return thread_.joinable(); }

  // Starts rolling `j.base` forward. `copy` is used only for sync_appends() (thread-safe).
  void start(job j, detail::working_copy& copy) {
    cancel();
    stop_ = false;
    done_ = false;
    outcome_.reset();
    error_.clear();
    thread_ = std::thread([this, j = std::move(j), &copy, retired = std::move(retired_)]() mutable {
      retired = detail::file();  // closed here, off the write path
      try {
        outcome_ = roll_forward(j, copy);
      } catch (const std::exception& e) {
        if (!stop_) error_ = e.what();
      } catch (...) {
        if (!stop_) error_ = "an unknown exception";
      }
      done_.store(true, std::memory_order_release);
    });
  }

  // The finished job's new checkpoint, once (nullopt while it runs, after a failure, whose
  // reason `failure` then holds, or when there is none).
  std::optional<result> take(std::string& failure) {
    if (!running() || !done_.load(std::memory_order_acquire)) return std::nullopt;
    thread_.join();
    failure = std::exchange(error_, {});
    return std::exchange(outcome_, std::nullopt);
  }

  // A replaced checkpoint (result::replaced), to close off the write path.
  void retire(detail::file replaced) { retired_ = std::move(replaced); }

  // Stops the job, if one runs, and removes what it wrote.
  void cancel() noexcept {
    if (!running()) return;
    stop_ = true;
    thread_.join();
    if (outcome_) {
      std::error_code ignored;
      std::filesystem::remove(outcome_->written, ignored);
      outcome_.reset();
    }
  }

 private:
  using map = detail::compact_map<location>;

  void check_stop() const {
    if (stop_.load(std::memory_order_relaxed)) detail::throw_usage("the background checkpoint was cancelled");
  }

  std::optional<result> roll_forward(job& j, detail::working_copy& copy) const {
    const std::string where = (j.dir / format::index_name).string();
    // Read, not mapped: mapping (and unmapping) tens of megabytes holds the process's
    // memory map lock all along, and every page fault of the writing thread would wait.
    auto bytes = std::make_shared<std::string>(j.base.read_all());
    if (!j.base_bytes.matches(*bytes)) detail::throw_corruption(where + ": its checksum differs from local.state's");
    auto index = map::from_checkpoint(*bytes, bytes);  // its arrays used where they lie, in `bytes`
    if (!index) detail::throw_corruption(where + ": a damaged checkpoint");
    check_stop();
    for (const auto& s : j.tail) apply(s, j.dir, *index);
    if (j.durable) copy.sync_appends();  // the checkpoint never names bytes a power loss can take
    const auto image = index->checkpoint_image();
    const auto staging = detail::staging_path(j.dir / format::index_name);
    try {
      detail::file out(staging, O_WRONLY | O_CREAT | O_TRUNC);
      detail::digest::builder digest;
      std::uint64_t at = 0;
      constexpr std::size_t step = 4 << 20;  // cancellable between steps
      for (auto piece : image.pieces()) {
        for (; !piece.empty(); piece.remove_prefix(std::min(piece.size(), step))) {
          check_stop();
          const auto part = piece.substr(0, std::min(piece.size(), step));
          out.write_at(at, part);
          digest.add(part);
          at += part.size();
        }
      }
      // Written out here in every sync mode: ext4 (auto_da_alloc) writes out a file renamed
      // over another during the rename, which would take 50 ms per 100 MB on the write path.
      if (j.durable)
        out.sync();
      else
        out.write_out();  // no journal commit, which the writer's appends would wait for
      return result{staging, {digest.done(), j.covered_file, j.covered_offset}, at, std::move(j.base)};
    } catch (...) {
      std::error_code ignored;
      std::filesystem::remove(staging, ignored);
      throw;
    }
  }

  // Applies the entries of one stretch, which were whole when the job started, read in
  // steps of a few megabytes: any entry that does not parse fails the job (open's replay
  // judges torn tails, not this).
  void apply(const stretch& s, const std::filesystem::path& dir, map& index) const {
    const auto path = dir / format::data_file_name(s.n);
    const detail::file f(path, O_RDONLY);
    constexpr std::size_t step = 4 << 20;
    std::uint64_t at = std::max<std::uint64_t>(s.from, format::file_header_size);  // the next entry
    while (at < s.to) {
      check_stop();
      const std::string bytes = f.read_at(at, static_cast<std::size_t>(std::min<std::uint64_t>(step, s.to - at)));
      std::size_t pos = 0;
      while (pos < bytes.size()) {
        auto parsed = format::parse_entry(std::string_view(bytes).substr(pos));
        std::string whole;  // an entry longer than what this step read
        if (parsed.status == format::parse_status::truncated && pos == 0 && bytes.size() >= format::entry_overhead) {
          const std::uint64_t size = format::entry_overhead + format::load_be<std::uint32_t>(bytes.data() + 1) +
                                     std::uint64_t{format::load_be<std::uint32_t>(bytes.data() + 5)};
          if (size <= s.to - at) parsed = format::parse_entry(whole = f.read_at(at, static_cast<std::size_t>(size)));
        }
        if (parsed.status == format::parse_status::truncated && pos > 0) break;  // read again from it
        if (parsed.status != format::parse_status::ok)
          detail::throw_corruption(path.string() + " at offset " + std::to_string(at + pos) + ": " +
                                   format::describe(parsed.status));
        const auto& entry = parsed.entry;
        if (entry.flags == format::flag_tombstone)
          index.erase(entry.key);
        else
          index.insert_or_assign(entry.key, location{s.n, at + pos, static_cast<std::uint32_t>(entry.size)});
        pos += entry.size;
      }
      at += pos;
    }
  }

  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::optional<result> outcome_;  // written by the thread before done_, read after
  std::string error_;
  detail::file retired_;
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
