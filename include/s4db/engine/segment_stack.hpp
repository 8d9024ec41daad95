// Reads across format 3's index segments (format/segment.hpp), as a manifest lists them
// (oldest first): a lookup asks the newest segment first and the first that holds the key
// answers (a tombstone: absent); a scan merges them in key order, forward or backward, the
// newest entry of each key winning and tombstones hiding what is below. A scan holds one
// decoded block per segment, never more: its memory is bounded by the segments it merges,
// not by the keys it yields (LevelDB's MergingIterator does the same over its tables).
// Owns the segments (shared: a cursor, or a copy of the stack a snapshot keeps, holds what
// it reads, so pushing more segments leaves them valid). Not thread-safe to change; reads
// of an unchanging stack may run in parallel.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../format/segment.hpp"
#include "key_span.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

// One entry of a segment, owned: what a lookup or a scan yields.
struct segment_hit {
  std::string key;
  format::segment_kind kind = format::segment_kind::put;
  location loc{};
  std::string inline_entry;

  bool live() const noexcept { return kind != format::segment_kind::tombstone; }

  static segment_hit of(const format::segment_entry& e) {
    return {std::string(e.key), e.kind, e.loc, std::string(e.inline_entry)};
  }
};

class segment_stack {
 public:
  // Adds the newest segment on top; throws corruption_error (changing nothing) when its
  // trailer, filter or block index is damaged.
  void push(std::shared_ptr<const std::string> bytes, std::string where) {
    auto view = format::segment_view::open(*bytes, std::move(where));
    segments_.push_back(std::make_shared<const segment>(segment{std::move(bytes), std::move(view)}));
  }

  std::size_t size() const noexcept { return segments_.size(); }

  // The newest entry of `key` in any segment (a tombstone included), or nullopt.
  std::optional<segment_hit> find(std::string_view key) const {
    for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
      std::optional<segment_hit> hit;
      if ((*it)->view.find(key, [&](const format::segment_entry& e) { hit = segment_hit::of(e); })) return hit;
    }
    return std::nullopt;
  }

  // A cursor over the live keys of `span`, in key order (largest first when `reverse`).
  // With `tombstones`, a key whose newest entry is a tombstone is yielded too (as that
  // tombstone): what a merge of segments that are not the oldest must keep.
  class cursor;
  cursor scan(const key_span& span, bool reverse, bool tombstones = false) const;

 private:
  struct segment {
    std::shared_ptr<const std::string> bytes;
    format::segment_view view;
  };
  std::vector<std::shared_ptr<const segment>> segments_;  // oldest first
};

class segment_stack::cursor {
 public:
  bool valid() const noexcept { return current_ != npos; }
  const segment_hit& entry() const { return runs_[current_].block[runs_[current_].at]; }
  // Moves to the next key (live, unless the scan yields tombstones).
  void next() {
    step_past(entry().key);
    settle();
  }

 private:
  friend class segment_stack;
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  // One segment's position: the decoded block it is in, and the entry in it.
  struct run {
    std::shared_ptr<const segment> held;
    const format::segment_view* view = nullptr;
    std::size_t block_index = 0;
    std::vector<segment_hit> block;
    std::size_t at = 0;
    bool done = false;
  };

  cursor(std::vector<std::shared_ptr<const segment>> newest_first, key_span span, bool reverse, bool tombstones)
      : span_(std::move(span)), reverse_(reverse), tombstones_(tombstones) {
    for (auto& held : newest_first) {
      run r;
      r.view = &held->view;
      r.held = std::move(held);
      seek(r);
      runs_.push_back(std::move(r));
    }
    settle();
  }

  void load(run& r, std::size_t b) const {
    r.block_index = b;
    r.block.clear();
    r.view->for_each_in(b, [&](const format::segment_entry& e) { r.block.push_back(segment_hit::of(e)); });
  }

  // Places a run at the first entry of the span in the scan's direction.
  void seek(run& r) const {
    const auto& blocks = r.view->blocks();
    if (blocks.empty() || span_.empty()) return void(r.done = true);
    if (!reverse_) {
      const auto it = std::lower_bound(
          blocks.begin(), blocks.end(), span_.low,
          [](const auto& b, const std::string& k) { return std::string_view(b.last_key) < std::string_view(k); });
      if (it == blocks.end()) return void(r.done = true);
      load(r, static_cast<std::size_t>(it - blocks.begin()));
      r.at = static_cast<std::size_t>(
          std::lower_bound(r.block.begin(), r.block.end(), span_.low,
                           [](const segment_hit& h, const std::string& k) { return h.key < k; }) -
          r.block.begin());
      // (the block's last key is at or past the start, so an entry of it is too)
      if (!span_.below_end(r.block[r.at].key)) r.done = true;
    } else {
      // The last block holding a key below the end: the one whose last key is the first at
      // or past the end (or the last block), or the one before it.
      std::size_t b = blocks.size() - 1;
      if (span_.high) {
        const auto it = std::lower_bound(
            blocks.begin(), blocks.end(), *span_.high,
            [](const auto& h, const std::string& k) { return std::string_view(h.last_key) < std::string_view(k); });
        b = it == blocks.end() ? blocks.size() - 1 : static_cast<std::size_t>(it - blocks.begin());
      }
      load(r, b);
      std::size_t n = r.block.size();
      if (span_.high)
        n = static_cast<std::size_t>(
            std::lower_bound(r.block.begin(), r.block.end(), *span_.high,
                             [](const segment_hit& h, const std::string& k) { return h.key < k; }) -
            r.block.begin());
      if (n == 0) {
        if (b == 0) return void(r.done = true);
        load(r, b - 1);
        n = r.block.size();
      }
      r.at = n - 1;
      if (r.block[r.at].key < span_.low) r.done = true;
    }
  }

  // One entry on in the scan's direction, into the next block when this one ends.
  void advance(run& r) const {
    if (r.done) return;
    if (!reverse_) {
      if (++r.at == r.block.size()) {
        if (r.block_index + 1 == r.view->blocks().size()) return void(r.done = true);
        load(r, r.block_index + 1);
        r.at = 0;
      }
      if (!span_.below_end(r.block[r.at].key)) r.done = true;
    } else {
      if (r.at == 0) {
        if (r.block_index == 0) return void(r.done = true);
        load(r, r.block_index - 1);
        r.at = r.block.size();
      }
      --r.at;
      if (r.block[r.at].key < span_.low) r.done = true;
    }
  }

  // Moves every run past `key` (the newest entry of it was taken, or it was hidden).
  void step_past(const std::string& key_in) {
    const std::string key = key_in;  // the runs' blocks change under it
    for (auto& r : runs_)
      if (!r.done && r.block[r.at].key == key) advance(r);
  }

  // Picks the next key in the scan's direction: the first run (newest first) holding it
  // answers; a tombstone hides it and the search goes on.
  void settle() {
    for (;;) {
      current_ = npos;
      for (std::size_t i = 0; i < runs_.size(); ++i) {
        if (runs_[i].done) continue;
        if (current_ == npos) {
          current_ = i;
          continue;
        }
        const auto& k = runs_[i].block[runs_[i].at].key;
        const auto& best = runs_[current_].block[runs_[current_].at].key;
        if (reverse_ ? k > best : k < best) current_ = i;  // ties keep the newer run
      }
      if (current_ == npos || entry().live() || tombstones_) return;
      step_past(entry().key);
    }
  }

  key_span span_;
  bool reverse_;
  bool tombstones_;
  std::vector<run> runs_;  // newest first
  std::size_t current_ = npos;
};

inline segment_stack::cursor segment_stack::scan(const key_span& span, bool reverse, bool tombstones) const {
  return cursor({segments_.rbegin(), segments_.rend()}, span, reverse, tombstones);
}

}  // namespace engine
}  // namespace v0
}  // namespace s4db
