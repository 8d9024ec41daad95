// The published index of every format: formats 1 and 2 as whole_index publishes them (one
// object holding every key), and format 3 (docs/format.md, "Format 3") as index segments
// listed by a manifest, so a commit uploads one segment of the keys it changed
// and a follow reads only the segments it lacks. For format 3 it still holds every key in
// the Index container, as whole_index does (issue 21 pages them out); what it adds is the
// manifest it is at, the segment a commit is about to publish, and the way to the store.
//
// For format 3 "the published bytes" the rest of the engine handles are the manifest's
// (manifest.s4m, committed under If-Match as index.idx is): decode() and adopt() of a
// manifest fetch its segments (adopt only the ones past the oldest it shares with the
// manifest it holds), encode() is the next manifest: the one it holds plus the staged
// segment (a compaction's: only that segment, the old ones retired). Not thread-safe by
// itself: basic_db's lock guards it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../format/manifest.hpp"
#include "../format/segment.hpp"
#include "whole_index.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

// How a segmented_index reaches the store: set by basic_db for format 3.
struct segment_source {
  std::function<std::string(const std::string& name)> segment;  // a segment's bytes; store_error when missing
  std::function<std::string(const std::string& name)> where;    // its object key, for messages
  clock_source clock;                                           // what manifests are stamped with
};

template <class Index>
class segmented_index : public whole_index<Index> {
  using base = whole_index<Index>;

 public:
  using map_type = typename base::map_type;

  // Format 3 from now on: segments come through `source`.
  void use_segments(segment_source source) { source_ = std::move(source); }
  bool segmented() const noexcept { return static_cast<bool>(source_.segment); }

  // The manifest this index is at (format 3), once it loaded or committed one.
  const std::optional<format::manifest>& manifest() const noexcept { return at_; }

  map_type decode(std::string_view bytes, const std::string& where_from, detail::working_copy& copy) {
    if (!segmented()) return base::decode(bytes, where_from, copy);
    const auto m = format::decode_manifest(bytes, where_from);
    map_type loaded;
    for (const auto& s : m.segments) apply_segment(loaded, s, copy);
    return loaded;
  }

  // Takes the published bytes (a manifest) as the index. When it keeps the oldest segments
  // of the manifest held, only its segments past those are applied on top (engine/
  // segment_merger.hpp: a merge keeps tombstones unless it takes the oldest segment, so
  // what the held segments past those said is in them); else every segment of it is read.
  void adopt(std::string_view bytes, const std::string& where_from, detail::working_copy& copy) {
    if (!segmented()) return base::adopt(bytes, where_from, copy);
    auto m = format::decode_manifest(bytes, where_from);
    if (const std::size_t kept = at_ ? kept_segments(m, *at_) : 0; kept > 0) {
      for (std::size_t i = kept; i < m.segments.size(); ++i) apply_segment(this->map_, m.segments[i], copy);
    } else {
      auto fresh = decode(bytes, where_from, copy);
      this->map_ = std::move(fresh);
    }
    at_ = std::move(m);
  }

  // A compaction's or a rebuild's index: the next commit publishes it as one segment of
  // every key, in a manifest listing only that one.
  map_type replace(map_type fresh) {
    whole_rewrite_ = true;
    return base::replace(std::move(fresh));
  }
  bool whole_rewrite() const noexcept { return whole_rewrite_; }
  // A replace() undone (a compaction that lost its race puts the old index back).
  void restore(map_type old) {
    base::replace(std::move(old));
    whole_rewrite_ = false;
  }
  void rewrite_whole() noexcept { whole_rewrite_ = true; }

  // The segment the next commit publishes (uploaded already), or none: nothing changed.
  void stage(std::optional<format::manifest::segment> segment, std::map<file_id, std::uint64_t> new_files) {
    staged_ = std::move(segment);
    staged_files_ = std::move(new_files);
  }

  // Whether a segment (or a rewrite of every key) waits for the next commit.
  bool staged() const noexcept { return staged_.has_value() || whole_rewrite_; }

  // The published bytes: for format 3, the next manifest.
  std::string encode(int format_version, const detail::working_copy& copy) const {
    if (!segmented()) return base::encode(format_version, copy);
    return format::encode_manifest(next_manifest(copy));
  }

  // The manifest a commit of the staged segment publishes on top of the one held.
  format::manifest next_manifest(const detail::working_copy& copy) const {
    format::manifest m = at_.value_or(format::manifest{});
    m.number = at_ ? at_->number + 1 : 1;
    m.written_ms = format::unix_ms_now(source_.clock);
    const std::uint64_t now = m.written_ms;
    format::drop_old_retired(m, now);
    if (whole_rewrite_) {
      for (const auto& s : m.segments) m.retired_segments.push_back({s.writer, s.sequence, now});
      for (const auto& f : m.files)
        if (!staged_files_.contains(f.id)) m.retired_files.push_back({f.id, now});
      m.segments.clear();
      m.files.clear();
    }
    if (staged_) m.segments.push_back(*staged_);
    if (staged_ || whole_rewrite_) m.changes += 1;
    std::map<file_id, format::manifest::data_file> files;
    for (const auto& f : m.files) files[f.id] = f;
    for (const auto& [n, live] : staged_files_) {
      auto& f = files[n];
      f.id = n;
      f.bytes = std::max(f.bytes, copy.state().stored.contains(n) ? copy.state().stored.at(n).size : live);
      f.live_bytes = std::min(f.bytes, whole_rewrite_ ? live : f.live_bytes + live);
    }
    m.files.clear();
    for (const auto& [n, f] : files) m.files.push_back(f);
    if (staged_) {
      auto it = std::find_if(m.writers.begin(), m.writers.end(),
                             [&](const format::manifest::writer& w) { return w.id == staged_->writer; });
      if (it == m.writers.end()) {
        m.writers.push_back({staged_->writer, staged_->sequence});
        std::sort(m.writers.begin(), m.writers.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
      } else {
        it->last_segment = std::max(it->last_segment, staged_->sequence);
      }
    }
    return m;
  }

  // The commit of the staged segment took effect as `published` (its bytes).
  void committed(std::string_view published, const std::string& where_from) {
    at_ = format::decode_manifest(published, where_from);
    staged_.reset();
    staged_files_.clear();
    whole_rewrite_ = false;
  }

  // The manifest this copy is at, learnt without changing the keys (a reopen knows its
  // number only).
  void know_manifest(format::manifest m) { at_ = std::move(m); }

  // The data files the published index names: format 3's manifest lists them (a superset:
  // a file whose keys were all overwritten stays listed until a compaction), so this costs
  // the files, not the keys; else every key's.
  std::set<file_id> named_files() const {
    if (!segmented() || !at_) return this->referenced_files();
    std::set<file_id> out;
    for (const auto& f : at_->files) out.insert(f.id);
    for (const auto& [n, live] : staged_files_) out.insert(n);
    return out;
  }

  // The sequence this copy's next segment takes: past every one its writer has in the
  // manifest held.
  std::uint64_t next_segment(std::uint32_t writer) const {
    std::uint64_t last = 0;
    if (at_)
      for (const auto& w : at_->writers)
        if (w.id == writer) last = w.last_segment;
    return last + 1;
  }

 private:
  // How many of `older`'s segments `newer` begins with.
  static std::size_t kept_segments(const format::manifest& newer, const format::manifest& older) {
    if (newer.number < older.number) return 0;
    std::size_t n = 0;
    while (n < older.segments.size() && n < newer.segments.size() &&
           newer.segments[n].writer == older.segments[n].writer &&
           newer.segments[n].sequence == older.segments[n].sequence)
      ++n;
    return n;
  }

  void apply_segment(map_type& into, const format::manifest::segment& s, detail::working_copy& copy) const {
    const std::string name = format::segment_name(s.writer, s.sequence);
    const std::string bytes = source_.segment(name);
    const auto view = format::segment_view::open(bytes, source_.where(name));
    if (view.entries() != s.entries)
      detail::throw_corruption(source_.where(name) + ": the segment holds " + std::to_string(view.entries()) +
                               " entries, its manifest says " + std::to_string(s.entries));
    view.for_each([&](const format::segment_entry& e) {
      if (e.kind == format::segment_kind::tombstone) {
        if (auto it = into.find(e.key); it != into.end()) into.erase(it);
      } else {
        base::assign(into, e.key, e.loc);
        copy.raise_next_past(e.loc.file);
      }
    });
  }

  segment_source source_;
  std::optional<format::manifest> at_;
  std::optional<format::manifest::segment> staged_;
  std::map<file_id, std::uint64_t> staged_files_;  // the data files the staged segment names, with its live bytes there
  bool whole_rewrite_ = false;
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
