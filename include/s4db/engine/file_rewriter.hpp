// Format 3's rewrite of the data files that hold little live data (docs/format.md,
// "Rewriting sparse data files"), by a process that need not be a writer (s4db compact
// without a working copy). It folds the manifest's segments into the live location of each
// key, picks the listed data files whose live entries fill less than half of them, copies
// those entries byte for byte into one new data file (with the tombstones of keys no
// segment holds now, which a rebuild from the data files needs; a file holding nothing
// live gives only those), and commits a relocation segment naming the new places,
// inserted right above the segments it folded: a segment committed meanwhile stays above
// it, so a relocation never shadows a newer write. If the segments it folded are no longer
// all there in order (a compaction or a merge took the newest of them), it gives up: the
// new objects are garbage for gc. The files it empties are retired (gc spares them for its
// grace), unless a segment committed meanwhile names them. Memory: the locations of the
// live keys, as compact() needs. Stateless.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../detail/bucket.hpp"
#include "../detail/log.hpp"
#include "../error.hpp"
#include "../format/entry.hpp"
#include "../format/manifest.hpp"
#include "../format/segment.hpp"
#include "../options.hpp"
#include "key_span.hpp"
#include "manifest_edit.hpp"
#include "segment_stack.hpp"

namespace s4db {
inline namespace v0 {

// What rewrite_sparse_files() did.
struct rewrite_report {
  std::size_t files_rewritten = 0;  // their live entries moved to the new file
  std::size_t files_unlisted = 0;   // holding nothing live, only dropped from the manifest
  std::size_t entries_moved = 0;
  std::uint64_t bytes_written = 0;   // the new data file
  std::uint64_t bytes_released = 0;  // the files retired, whole (gc deletes them after its grace)
};

namespace engine {

template <class Store>
class file_rewriter {
 public:
  file_rewriter(const detail::bucket<Store>& bucket, std::uint32_t writer, log_sink log, clock_source clock,
                std::uint32_t inline_threshold)
      : bucket_(bucket),
        writer_(writer),
        log_(std::move(log)),
        clock_(std::move(clock)),
        inline_threshold_(inline_threshold) {}

  rewrite_report rewrite() {
    rewrite_report report;
    auto published = bucket_.get_index();
    if (!published) return report;
    const auto m = format::decode_manifest(published->data, bucket_.index_key());
    if (m.segments.empty()) return report;
    segment_stack stack;
    for (const auto& s : m.segments) stack.push(fetch(s), bucket_.key(format::segment_name(s.writer, s.sequence)));
    std::map<file_id, std::uint64_t> live;
    for (auto c = stack.scan(key_span{}, false); c.valid(); c.next()) live[c.entry().loc.file] += c.entry().loc.length;
    std::set<file_id> sparse, unlisted;
    for (const auto& f : m.files) {
      const std::uint64_t used = live.contains(f.id) ? live.at(f.id) : 0;
      if (used == 0)
        unlisted.insert(f.id);
      else if (2 * used < f.bytes - std::min<std::uint64_t>(f.bytes, format::file_header_size))
        sparse.insert(f.id);
    }
    if (sparse.empty() && unlisted.empty()) return report;

    // The live entries of those files, and their tombstones of keys no segment holds now
    // (a rebuild from the data files must not bring an erased key back), copied into one
    // new file, each file read whole once.
    std::vector<std::pair<std::string, location>> moved;
    std::vector<std::string> entries;  // the bytes of each moved entry, for inline ones
    const file_id to = next_file_id();
    std::string file_bytes = format::file_header(sequence_of(to), 2);
    std::set<std::string, std::less<>> erased;
    for (const file_id n : sparse_or_unlisted(sparse, unlisted)) {
      const auto o = bucket_.store().get(bucket_.data_key(n));
      if (!o)
        detail::throw_store(bucket_.data_key(n) + ": a data file the manifest names is not in the store", 404, false);
      const std::string_view all = o->data;
      format::parse_file_header(all, bucket_.data_key(n));
      for (std::size_t at = format::file_header_size; at < all.size();) {
        const auto parsed = format::parse_entry(all.substr(at));
        if (parsed.status != format::parse_status::ok)
          detail::throw_corruption(bucket_.data_key(n) + " at offset " + std::to_string(at) + ": " +
                                   format::describe(parsed.status) + "; nothing was rewritten");
        const auto& e = parsed.entry;
        const auto newest = stack.find(e.key);
        const bool tombstone = e.flags & format::flag_tombstone;
        if (!tombstone && newest && newest->live() &&
            newest->loc == location{n, at, static_cast<std::uint32_t>(e.size)}) {
          moved.emplace_back(std::string(e.key), location{to, file_bytes.size(), static_cast<std::uint32_t>(e.size)});
          entries.emplace_back(all.substr(at, e.size));
          file_bytes += entries.back();
        } else if (tombstone && (!newest || !newest->live()) && erased.emplace(e.key).second) {
          file_bytes.append(all.substr(at, e.size));
        }
        at += e.size;
      }
    }
    std::vector<std::size_t> order(moved.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return moved[a].first < moved[b].first; });

    std::optional<format::manifest::segment> relocation;
    const bool writes_file = file_bytes.size() > format::file_header_size;
    if (writes_file) put_data_file(to, file_bytes);
    if (!moved.empty()) {
      format::segment_builder builder;
      for (const std::size_t i : order) {
        const bool small = moved[i].second.length <= inline_threshold_;
        builder.add({moved[i].first, small ? format::segment_kind::inline_put : format::segment_kind::put,
                     moved[i].second, small ? std::string_view(entries[i]) : std::string_view()});
      }
      relocation.emplace();
      relocation->writer = writer_;
      relocation->level = 0;
      relocation->entries = builder.entries();
      relocation->first_key = moved[order.front()].first;
      relocation->last_key = moved[order.back()].first;
      const std::string bytes = builder.finish();
      relocation->bytes = bytes.size();
      std::uint64_t after = 0;
      for (const auto& w : m.writers)
        if (w.id == writer_) after = w.last_segment;
      relocation->sequence = bucket_.put_segment(writer_, after + 1, bytes);
    }

    const auto last = m.segments.back();
    std::set<file_id> retired;
    const auto edit = edit_manifest(
        bucket_, std::move(published),
        [&](format::manifest& now) {
          auto at = std::find_if(now.segments.begin(), now.segments.end(),
                                 [&](const auto& s) { return s.writer == last.writer && s.sequence == last.sequence; });
          if (at == now.segments.end()) return false;
          // What segments committed meanwhile name stays listed.
          std::set<file_id> named_above;
          for (auto it = at + 1; it != now.segments.end(); ++it) {
            const auto bytes = fetch(*it);
            format::segment_view::open(*bytes, format::segment_name(it->writer, it->sequence))
                .for_each([&](const format::segment_entry& e) {
                  if (e.kind != format::segment_kind::tombstone) named_above.insert(e.loc.file);
                });
          }
          const std::uint64_t when = format::unix_ms_now(clock_);
          retired.clear();
          std::erase_if(now.files, [&](const format::manifest::data_file& f) {
            const bool gone = (sparse.contains(f.id) || unlisted.contains(f.id)) && !named_above.contains(f.id);
            if (gone) {
              retired.insert(f.id);
              now.retired_files.push_back({f.id, when});
            }
            return gone;
          });
          if (writes_file) {  // listed, so gc keeps it (its tombstones too, for a rebuild)
            std::uint64_t moved_bytes = 0;
            for (const auto& [key, loc] : moved) moved_bytes += loc.length;
            const format::manifest::data_file added{to, file_bytes.size(), moved_bytes};
            now.files.insert(std::upper_bound(now.files.begin(), now.files.end(), added,
                                              [](const auto& a, const auto& b) { return a.id < b.id; }),
                             added);
          }
          if (relocation) {
            now.segments.insert(at + 1, *relocation);
            auto w =
                std::find_if(now.writers.begin(), now.writers.end(), [&](const auto& x) { return x.id == writer_; });
            if (w == now.writers.end()) {
              now.writers.push_back({writer_, relocation->sequence});
              std::sort(now.writers.begin(), now.writers.end(),
                        [](const auto& a, const auto& b) { return a.id < b.id; });
            } else {
              w->last_segment = std::max(w->last_segment, relocation->sequence);
            }
          }
          now.changes += 1;  // where entries lie changed
          return true;
        },
        "rewrite_sparse_files", clock_);
    if (!edit) {
      detail::log(log_, log_level::info,
                  "rewrite: another commit replaced the segments it read; the rewrite is given up");
      return report;
    }
    for (auto n : retired) {
      const auto f = std::find_if(m.files.begin(), m.files.end(), [&](const auto& x) { return x.id == n; });
      if (f != m.files.end()) report.bytes_released += f->bytes;
      (sparse.contains(n) ? report.files_rewritten : report.files_unlisted) += 1;
    }
    report.entries_moved = moved.size();
    report.bytes_written = writes_file ? file_bytes.size() : 0;
    detail::log(log_, log_level::info,
                "rewrite: " + std::to_string(report.entries_moved) + " live entries of " +
                    std::to_string(report.files_rewritten) + " sparse data files moved to " + bucket_.data_key(to));
    return report;
  }

 private:
  std::shared_ptr<const std::string> fetch(const format::manifest::segment& s) {
    const std::string name = format::segment_name(s.writer, s.sequence);
    auto [it, fresh] = segments_.try_emplace(name);
    if (fresh) it->second = std::make_shared<const std::string>(bucket_.segment(name));
    return it->second;
  }

  static std::vector<file_id> sparse_or_unlisted(const std::set<file_id>& a, const std::set<file_id>& b) {
    std::vector<file_id> out(a.begin(), a.end());
    out.insert(out.end(), b.begin(), b.end());
    std::sort(out.begin(), out.end());
    return out;
  }

  // A data file name of this namespace no object has.
  file_id next_file_id() const {
    return make_file_id(writer_, detail::bucket<Store>::highest(bucket_.data_objects(), writer_) + 1);
  }

  // Written once, under a name no object has (If-None-Match: *); a lost response that left
  // these bytes there counts as done.
  void put_data_file(file_id n, const std::string& bytes) const {
    try {
      bucket_.store().put(bucket_.data_key(n), bytes, put_condition::when_absent());
    } catch (const error& e) {
      if (!dynamic_cast<const conflict_error*>(&e) && !dynamic_cast<const store_error*>(&e)) throw;
      const auto there = bucket_.store().get(bucket_.data_key(n));
      if (!there || there->data != bytes) throw;
    }
  }

  const detail::bucket<Store>& bucket_;
  std::uint32_t writer_;
  log_sink log_;
  clock_source clock_;
  std::uint32_t inline_threshold_;
  std::map<std::string, std::shared_ptr<const std::string>> segments_;  // fetched once per rewrite
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
