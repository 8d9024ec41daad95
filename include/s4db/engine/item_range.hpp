// What items(), item_views() and scan() return: every (key, value) of a list of (key,
// location) taken from the index, either read lazily one by one (a shared list, walked
// forward or backward over a span of it), or streamed file by file from the local data
// files ({.local = true}), live entries only. items() yields copies (std::string pairs);
// item_views() (Views) yields string_views valid until the iteration moves on: a streamed
// value stored raw is viewed where it lies in the mapped file, any other is decoded into
// one buffer the range reuses, so no item allocates. Reads through its Reader
// (engine/reader.hpp); a snapshot's ranges read through its pinned files (engine/pins.hpp)
// and never fall back to the db's newer index. With items({.salvage = true}) a damaged
// entry is skipped and counted (skipped()), as sqlite3's .recover and LevelDB's RepairDB
// keep what can be read.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../concepts.hpp"
#include "../detail/mapped_file.hpp"
#include "../error.hpp"
#include "key_span.hpp"
#include "pins.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

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

template <class Reader, bool Views = false>
class item_range {
 public:
  using value_type =
      std::conditional_t<Views, std::pair<std::string_view, std::string_view>, std::pair<std::string, std::string>>;

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
    // A damaged entry (corruption_error) throws, or with salvage is counted and skipped.
    void load() {
      for (; position_ < range_->count_; ++position_) {
        const auto& [key, loc] = range_->entry(position_);
        try {
          if constexpr (Views) {
            range_->scratch_ = range_->read(key, loc);
            current_.second = range_->scratch_;
          } else {
            current_.second = range_->read(key, loc);
          }
          current_.first = key;
          return;
        } catch (const corruption_error&) {
          if (!range_->salvage_) throw;
          ++range_->skipped_;
        }
      }
    }
    void load_streamed() {
      for (; position_ < range_->files_.size(); ++position_, offset_ = 0) {
        const auto& f = range_->files_[position_];
        while (const auto at = f.next_live(offset_)) {
          offset_ = *at;
          try {
            range_->reader_->decode_streamed(f, offset_, current_, range_->scratch_);
            return;
          } catch (const corruption_error&) {
            if (!range_->salvage_) throw;
            ++range_->skipped_;
            ++offset_;
          }
        }
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
    it.position_ = streams() ? files_.size() : count_;
    return it;
  }
  // How many items the range holds (skipped ones included).
  std::size_t size() const noexcept { return count_; }
  // With items_options::salvage: how many damaged entries the iteration skipped so far.
  std::size_t skipped() const noexcept { return skipped_; }

 private:
  friend Reader;

  // Entries [first, first + count) of `entries`, backward when `reverse`; read through
  // `pins` when they are a snapshot's.
  item_range(const Reader* reader, bool salvage, std::shared_ptr<const entry_list> entries, std::size_t first,
             std::size_t count, bool reverse = false, std::shared_ptr<const pinned_files> pins = nullptr)
      : reader_(reader),
        entries_(std::move(entries)),
        first_(first),
        count_(count),
        reverse_(reverse),
        pins_(std::move(pins)),
        salvage_(salvage) {}
  item_range(const Reader* reader, bool salvage, entry_list entries)
      : reader_(reader), count_(entries.size()), salvage_(salvage) {
    entries_ = std::make_shared<const entry_list>(std::move(entries));
  }
  item_range(const Reader* reader, bool salvage, std::pair<std::vector<live_file>, std::size_t> files)
      : reader_(reader), files_(std::move(files.first)), count_(files.second), streaming_(true), salvage_(salvage) {}
  bool streams() const noexcept { return streaming_; }
  const std::pair<std::string, location>& entry(std::size_t i) const {
    return (*entries_)[reverse_ ? first_ + count_ - 1 - i : first_ + i];
  }
  std::string read(const std::string& key, const location& loc) const {
    return pins_ ? reader_->read_pinned(key, loc, *pins_) : reader_->read_snapshot_value(key, loc);
  }

  const Reader* reader_;
  std::shared_ptr<const entry_list> entries_;
  std::size_t first_ = 0;
  std::vector<live_file> files_;
  std::size_t count_ = 0;
  bool reverse_ = false;
  std::shared_ptr<const pinned_files> pins_;
  bool streaming_ = false;
  bool salvage_ = false;
  mutable std::size_t skipped_ = 0;
  mutable std::string scratch_;  // the value Views yields when it is not a view of the file
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
