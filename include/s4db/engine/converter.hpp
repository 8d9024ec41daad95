// Conversion between format 2 and format 3 (docs/format.md, "Conversion"). The data files
// are the same in both, so a conversion rewrites only the index, never a value, and needs
// no local copy. Fenced against writers of either format:
//
//   2 -> 3: (1 -> 3 too: format 3 reads format 1's data files as format 2 does)
//           reads index.idx (ETag E), writes one segment of every key and manifest.s4m
//           naming it, then replaces index.idx by the version 3 marker under If-Match E.
//           A format 2 writer that commits meanwhile makes that fail: it starts again. A
//           format 2 writer that commits after it finds the marker and refuses (usage_error,
//           its writes kept in its working copy).
//   3 -> 2: reads the manifest (ETag E) and every key of its segments, seals the manifest
//           under If-Match E (a pin named ~sealed-for-format-2 that every format 3 reader
//           and writer refuses: a commit after it fails and rebases onto it, and refuses),
//           writes index.idx as the format 2 index of those keys over the marker, then
//           deletes the manifest, its segments and what failed commits left. A format 3
//           commit before the seal makes the seal fail: it starts again. Refused while
//           checkpoints are pinned (format 2 cannot keep them: drop_checkpoint() them).
//
// A conversion interrupted anywhere is finished by running it again; until then every
// reader and writer sees one consistent format or refuses clearly. Stateless.
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

#include "../concepts.hpp"
#include "../detail/bucket.hpp"
#include "../detail/log.hpp"
#include "../error.hpp"
#include "../format/index_file.hpp"
#include "../format/manifest.hpp"
#include "../format/names.hpp"
#include "../format/segment.hpp"
#include "../options.hpp"
#include "key_span.hpp"
#include "segment_stack.hpp"
#include "writer.hpp"

namespace s4db {
inline namespace v0 {

// What convert_format() did.
struct convert_report {
  int from = 0;
  int to = 0;
  std::size_t keys = 0;
};

namespace engine {

template <class Store>
class converter {
 public:
  converter(Store& store, std::string prefix, log_sink log, clock_source clock)
      : two_(store, prefix, 2), three_(store, prefix, 3), log_(std::move(log)), clock_(std::move(clock)) {}

  convert_report to_format_3() {
    for (int attempt = 0; attempt < attempts; ++attempt) {
      const auto index = two_.store().get(two_.index_key());
      if (!index)
        detail::throw_usage("convert: " + two_.index_key() + " is not in the store: nothing is published to convert");
      if (format::is_format_3_marker(index->data))
        detail::throw_usage("convert: " + two_.index_key() +
                            " is format 3's marker: the database is format 3 already; nothing was changed");
      entry_list entries;
      const auto header = format::decode_index(
          index->data, two_.index_key(),
          [&](std::string_view key, const location& loc) { entries.emplace_back(std::string(key), loc); });
      std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      const std::string manifest = format::encode_manifest(manifest_of(entries));
      // A manifest an interrupted attempt left is replaced: no writer commits on it while
      // index.idx is not the marker.
      const auto there = three_.store().head(three_.index_key());
      three_.store().put(three_.index_key(), manifest,
                         there ? put_condition::when_matching(there->etag) : put_condition::when_absent());
      if (commit(two_, format::format_3_marker(), index->etag)) {
        detail::log(log_, log_level::info,
                    "convert: " + two_.index_key() + ": format 3 now (" + std::to_string(entries.size()) + " keys)");
        return {header.version, 3, entries.size()};
      }
    }
    lost_too_often();
  }

  convert_report to_format_2() {
    for (int attempt = 0; attempt < attempts; ++attempt) {
      const auto marker = two_.store().get(two_.index_key());
      const auto published = three_.store().get(three_.index_key());
      if (marker && !format::is_format_3_marker(marker->data)) {
        if (!published)
          detail::throw_usage("convert: " + two_.index_key() +
                              " is a format 1 or 2 index: the database is format 2 already (format 1: compact it "
                              "with format_version 2 first); nothing was changed");
        remove_format_3_objects();  // an interrupted conversion's last step
        return {3, 2, 0};
      }
      if (!published)
        detail::throw_usage("convert: " + three_.index_key() + " is not in the store: nothing is published to convert");
      auto m = format::decode_manifest(published->data, three_.index_key());
      const bool sealed = format::is_sealed(m);
      if (!m.pins.empty() && !sealed)
        detail::throw_usage("convert: format 2 cannot keep checkpoints, and " + std::to_string(m.pins.size()) +
                            " are pinned (drop_checkpoint() them first); nothing was changed");
      const entry_list entries = every_key(m);
      if (!sealed) {
        m.pins.push_back({std::string(format::sealed_pin), m.number});
        m.number += 1;
        m.written_ms = format::unix_ms_now(clock_);
        if (!commit(three_, format::encode_manifest(m), published->etag)) continue;
      }
      std::uint32_t next_file = 1;
      for (const auto& [key, loc] : entries)
        if (writer_of(loc.file) == 0) next_file = std::max(next_file, sequence_of(loc.file) + 1);
      const std::string index = format::encode_index(2, next_file, entries.size(), entries);
      if (!commit(two_, index, marker ? std::optional<std::string>(marker->etag) : std::nullopt))
        continue;  // (nothing else writes index.idx while the manifest is sealed)
      remove_format_3_objects();
      detail::log(log_, log_level::info,
                  "convert: " + two_.index_key() + ": format 2 now (" + std::to_string(entries.size()) + " keys)");
      return {3, 2, entries.size()};
    }
    lost_too_often();
  }

 private:
  static constexpr int attempts = 8;

  [[noreturn]] void lost_too_often() const {
    detail::throw_conflict("convert: writers committed " + std::to_string(attempts) +
                           " times in a row while it ran; nothing was converted (run it again)");
  }

  // One segment of every entry, uploaded, and the manifest naming it and the files.
  format::manifest manifest_of(const entry_list& entries) const {
    format::segment_builder builder;
    std::map<file_id, std::uint64_t> live;
    for (const auto& [key, loc] : entries) {
      builder.add({key, format::segment_kind::put, loc, {}});
      live[loc.file] += loc.length;
    }
    format::manifest m;
    m.number = 1;
    m.changes = 1;
    m.written_ms = format::unix_ms_now(clock_);
    format::manifest::segment s;
    s.writer = random_writer();
    s.level = 1;
    s.entries = builder.entries();
    if (!entries.empty()) {
      s.first_key = entries.front().first;
      s.last_key = entries.back().first;
    }
    const std::string bytes = builder.finish();
    s.bytes = bytes.size();
    s.sequence = three_.put_segment(s.writer, 1, bytes);
    m.segments.push_back(s);
    m.writers.push_back({s.writer, s.sequence});
    const auto objects = two_.data_objects();
    for (const auto& [n, bytes_live] : live) {
      const auto o = objects.find(n);
      if (o == objects.end())
        detail::throw_corruption("convert: " + two_.index_key() + " names " + two_.data_key(n) +
                                 ", which is not in the store; nothing was changed");
      m.files.push_back({n, o->second.size, std::min<std::uint64_t>(bytes_live, o->second.size)});
    }
    return m;
  }

  // Every live key of the manifest's segments, in key order.
  entry_list every_key(const format::manifest& m) const {
    segment_stack stack;
    for (const auto& s : m.segments) {
      const std::string name = format::segment_name(s.writer, s.sequence);
      stack.push(std::make_shared<const std::string>(three_.segment(name)), three_.key(name));
    }
    entry_list out;
    for (auto c = stack.scan(key_span{}, false); c.valid(); c.next()) out.emplace_back(c.entry().key, c.entry().loc);
    return out;
  }

  // PUTs `bytes` as `b`'s index under If-Match `etag` (none: If-None-Match: *). false: a
  // lost race. A failure whose object turns out to hold these bytes (a lost response, or a
  // retried PUT refused for its own first attempt) took effect; one whose read-back fails
  // too throws (running the conversion again finishes it).
  static bool commit(const detail::bucket<Store>& b, const std::string& bytes, const std::optional<std::string>& etag) {
    auto ours = [&] {
      const auto there = b.store().get(b.index_key());
      return there && there->data == bytes;
    };
    try {
      b.store().put(b.index_key(), bytes, etag ? put_condition::when_matching(*etag) : put_condition::when_absent());
      return true;
    } catch (const conflict_error&) {
      return ours();
    } catch (const store_error&) {
      if (ours()) return true;
      throw;
    }
  }

  // The manifest, every segment and checkpoint copy under the prefix: format 2 reads none.
  // Best effort after the commit: what stays is only garbage.
  void remove_format_3_objects() {
    std::vector<std::string> gone{three_.index_key()};
    for (const auto& o : three_.store().list(three_.prefix())) {
      const std::string_view name = std::string_view(o.key).substr(three_.prefix().size());
      if (name.starts_with(format::segment_head) || name.starts_with(format::checkpoint_head)) gone.push_back(o.key);
    }
    try {
      three_.store().remove(gone);
    } catch (const error& e) {
      detail::log(log_, log_level::warning,
                  std::string("convert: the format 3 objects stay (run convert again to delete them): ") + e.what());
    }
  }

  detail::bucket<Store> two_, three_;
  log_sink log_;
  clock_source clock_;
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
