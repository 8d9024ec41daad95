// Merging format 3's index segments (docs/format.md, "Merging"), so that however many
// commits a database has had, it has few segments: size-tiered, by entries. A manifest's
// segments, oldest first, are kept so that each holds more than `merge_ratio` times the
// entries of all the segments above it; a merge restores that after commits broke it by
// merging the newest run that does: the smallest i whose segment holds at most
// merge_ratio times the entries above it, with everything above. The entries then shrink
// by more than merge_ratio from each segment to the next, so a database of N keys has at
// most 1 + log4(N) segments once merged (12 at 10M keys), and an entry is rewritten about
// log4(N) times over its life.
//
// A merge needs the store only, never a data file: any process may run it (a writer's
// merge_segments(), its background merger, or s4db merge, which is not a writer). It
// reads the run's segments, writes their merge as a new segment (newest entry of each key;
// tombstones kept unless the run starts at the oldest segment, as an older segment outside
// it may hold what they erase) and commits the manifest under If-Match with the run
// replaced by it in place: segments committed meanwhile stay above it. A lost race
// re-reads the manifest and replaces the run again if it is still there, whole and in
// order (and still the oldest, for a merge that dropped tombstones); otherwise the merge
// is given up and its segment is garbage for gc. A merge changes no key's value, so a
// commit of it whose outcome is unknown harms nothing either way. Holds only what its
// last merge() committed (chain()).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../detail/bucket.hpp"
#include "../detail/log.hpp"
#include "../error.hpp"
#include "../format/manifest.hpp"
#include "../format/segment.hpp"
#include "../options.hpp"
#include "manifest_edit.hpp"
#include "segment_stack.hpp"

namespace s4db {
inline namespace v0 {

// What merge_segments() did.
struct merge_report {
  std::size_t merges = 0;           // merges committed
  std::size_t segments_merged = 0;  // input segments they replaced
  std::uint64_t entries_written = 0;
  std::uint64_t bytes_written = 0;
  std::size_t segments_before = 0;  // in the manifest read first
  std::size_t segments_after = 0;   // in the manifest last committed or read
};

namespace engine {

inline constexpr std::uint64_t merge_ratio = 4;

// The first segment of the run a merge takes (the run goes to the newest), or nullopt when
// the segments keep the size-tiered shape already.
inline std::optional<std::size_t> run_to_merge(const std::vector<format::manifest::segment>& segments) {
  std::uint64_t above = 0;
  std::optional<std::size_t> first;
  for (std::size_t i = segments.size(); i-- > 0;) {
    if (i + 1 < segments.size() && segments[i].entries <= merge_ratio * above) first = i;
    above += segments[i].entries;
  }
  return first;
}

template <class Store>
class segment_merger {
 public:
  // `writer`: the namespace its segments are named in (a writer's own, or a random one).
  segment_merger(const detail::bucket<Store>& bucket, std::uint32_t writer, log_sink log, clock_source clock)
      : bucket_(bucket), writer_(writer), log_(std::move(log)), clock_(std::move(clock)) {}

  // Merges until the manifest has the size-tiered shape (usually one merge). Throws
  // store_error or corruption_error from the store; a race lost for good ends it quietly.
  merge_report merge() {
    merge_report report;
    chain_.reset();
    chained_ = true;
    bool first = true;
    for (int round = 0; round < max_rounds; ++round) {
      auto published = bucket_.get_index();
      if (!published) break;
      auto m = format::decode_manifest(published->data, bucket_.index_key());
      if (first) report.segments_before = m.segments.size();
      first = false;
      report.segments_after = m.segments.size();
      const auto from = run_to_merge(m.segments);
      if (!from) break;
      if (!merge_once(*published, std::move(m), *from, report)) break;
    }
    return report;
  }

  // When every merge of the last merge() was committed on the one before it and the first
  // on the manifest with ETag `first`: that ETag and the manifest committed last. A db at
  // `first` follows the merges by taking that manifest as its own, reading nothing.
  const std::optional<std::pair<std::string, object>>& chain() const noexcept { return chain_; }

 private:
  static constexpr int max_rounds = 16;

  struct segment_id {
    std::uint32_t writer;
    std::uint64_t sequence;
    bool operator==(const segment_id&) const = default;
    static segment_id of(const format::manifest::segment& s) { return {s.writer, s.sequence}; }
  };

  // Merges m's segments [from, end) and commits it; false when the race was lost for good.
  bool merge_once(object published, format::manifest m, std::size_t from, merge_report& report) {
    const bool oldest = from == 0;
    std::vector<segment_id> run;
    segment_stack stack;
    std::uint8_t level = 0;
    for (std::size_t i = from; i < m.segments.size(); ++i) {
      const auto& s = m.segments[i];
      run.push_back(segment_id::of(s));
      level = std::max<std::uint8_t>(level, s.level);
      const std::string name = format::segment_name(s.writer, s.sequence);
      stack.push(std::make_shared<const std::string>(bucket_.segment(name)), bucket_.key(name));
    }
    format::segment_builder builder;
    std::optional<format::manifest::segment> output;
    for (auto c = stack.scan(key_span{}, false, !oldest); c.valid(); c.next()) {
      const auto& e = c.entry();
      builder.add({e.key, e.kind, e.loc, e.inline_entry});
      if (!output) output.emplace().first_key = e.key;
      output->last_key = e.key;
    }
    if (output) {
      output->writer = writer_;
      output->level = static_cast<std::uint8_t>(std::min(level + 1, 255));
      output->entries = builder.entries();
      const std::string bytes = builder.finish();
      output->bytes = bytes.size();
      output->sequence = bucket_.put_segment(writer_, next_sequence(m), bytes);
      report.entries_written += output->entries;
      report.bytes_written += output->bytes;
    }
    const auto edit = edit_manifest(
        bucket_, std::move(published), [&](format::manifest& now) { return replace(now, run, oldest, output); },
        "merge", clock_);
    if (!edit) {
      detail::log(log_, log_level::info,
                  "merge: another commit replaced the segments it merged; the merge is given up");
      break_chain();
      return false;
    }
    if (chained_ && (!chain_ || chain_->second.etag == edit->base_etag))
      chain_.emplace(chain_ ? chain_->first : edit->base_etag, edit->committed);
    else
      break_chain();
    report.merges += 1;
    report.segments_merged += run.size();
    report.segments_after = edit->m.segments.size();
    detail::log(log_, log_level::info,
                "merge: " + std::to_string(run.size()) + " segments became " + (output ? "one" : "none") + " of " +
                    std::to_string(output ? output->entries : 0) + " entries");
    return true;
  }

  // Replaces the run in m by `output` (none: the run only erased keys no older segment
  // holds); false when m no longer holds the run whole, in order (and first, when the
  // merge dropped tombstones).
  bool replace(format::manifest& m, const std::vector<segment_id>& run, bool oldest,
               const std::optional<format::manifest::segment>& output) const {
    auto at =
        std::search(m.segments.begin(), m.segments.end(), run.begin(), run.end(),
                    [](const format::manifest::segment& s, const segment_id& id) { return segment_id::of(s) == id; });
    if (at == m.segments.end() || (oldest && at != m.segments.begin())) return false;
    const std::uint64_t now = format::unix_ms_now(clock_);
    at = m.segments.erase(at, at + static_cast<std::ptrdiff_t>(run.size()));
    if (output) m.segments.insert(at, *output);
    for (const auto& id : run) m.retired_segments.push_back({id.writer, id.sequence, now});
    if (output) {
      auto w = std::find_if(m.writers.begin(), m.writers.end(), [&](const auto& x) { return x.id == writer_; });
      if (w == m.writers.end()) {
        m.writers.push_back({writer_, output->sequence});
        std::sort(m.writers.begin(), m.writers.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
      } else {
        w->last_segment = std::max(w->last_segment, output->sequence);
      }
    }
    return true;
  }

  void break_chain() {
    chained_ = false;
    chain_.reset();
  }

  std::uint64_t next_sequence(const format::manifest& m) const {
    for (const auto& w : m.writers)
      if (w.id == writer_) return w.last_segment + 1;
    return 1;
  }

  const detail::bucket<Store>& bucket_;
  std::uint32_t writer_;
  log_sink log_;
  clock_source clock_;
  std::optional<std::pair<std::string, object>> chain_;
  bool chained_ = true;
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
