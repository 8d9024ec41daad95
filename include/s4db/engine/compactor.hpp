// compact(): the live entries rewritten into new files of this copy's namespace, those
// published, then the new index committed (fenced, never rebased). Deletes nothing in the
// store: what the old index named is gc's (engine/garbage_collector.hpp). Stateless.
// Called under the db's exclusive lock.
#pragma once

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "../detail/progress.hpp"
#include "../error.hpp"
#include "../format/entry.hpp"
#include "committer.hpp"
#include "context.hpp"
#include "downloader.hpp"
#include "mapped_files.hpp"
#include "published_index.hpp"
#include "reader.hpp"
#include "values.hpp"
#include "writer.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

template <class Store, class Codec, published_index Published>
class compactor {
 public:
  compactor(context<Store>& c, Published& index, const values<Codec>& values, writer<Store, Codec, Published>& writer,
            const mapped_files& files, committer<Store, Codec, Published>& committer,
            downloader<Store, Codec, Published>& downloader, const reader<Store, Codec, Published>& reader)
      : c_(c),
        index_(index),
        values_(values),
        writer_(writer),
        files_(files),
        committer_(committer),
        downloader_(downloader),
        reader_(reader) {}

  void compact() {
    auto& copy = c_.copy;
    writer_.ensure_dir();
    refuse_to_compact_nothing_over_lost_data();
    c_.publisher.begin();
    // Unpublished writes go first, except into format 1 from namespaced files: format 1
    // cannot name those, so this compaction's commit publishes the writes with the rest.
    if (!c_.unpublished()) {
      if (c_.opt.fenced) committer_.refresh();
    } else if (!committer_.namespaced_file_named()) {
      committer_.publish(true);
    }
    const std::set<file_id> referenced = index_.referenced_files();
    std::vector<std::string> lost;
    for (auto n : referenced)
      if (!copy.size_of(n) && !c_.store.head(c_.bucket.data_key(n))) lost.push_back(c_.bucket.data_key(n));
    if (!lost.empty())
      detail::throw_usage("compact: the index references " + context<Store>::join(lost) +
                          ", neither in local_dir nor in the store; nothing was changed");
    downloader_.fetch_missing(downloader_.files_to_fetch());
    copy.close_active();
    const auto objects = c_.bucket.data_objects();
    copy.raise_next_file(c_.bucket.highest(objects, copy.writer()) + 1);
    for (const auto& [n, size] : copy.data_files()) copy.raise_next_past(n);
    const file_id first_new = copy.own(copy.next_file());

    auto fresh = write_live_entries();
    const file_id end_new = copy.own(copy.next_file());
    std::vector<file_id> created;
    for (auto n = first_new; n < end_new; ++n)
      if (copy.size_of(n)) created.push_back(n);
    auto drop_created = [&] {
      for (auto n : created) {
        c_.remove_local_quietly(n);
        copy.state().stored.erase(n);
      }
      files_.forget();
    };
    try {
      copy.sync_appends();  // whatever sync_mode says: the old files go once this commits
      for (auto n : c_.publisher.put_files(created, objects))
        if (!c_.publisher.settle_as_ours(n))
          detail::throw_conflict("compact: another writer created " + c_.bucket.data_key(n) +
                                 ", a name this compaction chose; nothing was published or deleted");
    } catch (...) {
      drop_created();
      throw;
    }
    auto old = index_.replace(fresh.replace({}));
    writer_.mark_changed();
    files_.forget();
    const bool had_unpublished = c_.unpublished();  // false: the writes were published above
    try {
      committer_.commit_index(false);  // also saves it locally first: the copy is now the compacted one
    } catch (const conflict_error& e) {
      // The replacement files stay in the store, for gc(): a commit whose condition was
      // lost may still have been applied and built on by another writer (one whose
      // retry got 412), and nothing here can tell that from a race really lost. The
      // copy is as before the compaction, writes included: none unpublished if none were.
      index_.restore(std::move(old));
      copy.state().unpublished = had_unpublished;
      drop_created();
      writer_.save_local();
      detail::throw_conflict(
          "compact: another writer committed " + c_.bucket.index_key() +
          " while this compaction ran; the published database is untouched (refresh() or upload(), then compact() "
          "again; the replacement files it uploaded are garbage for gc()) [" +
          e.what() + "]");
    } catch (...) {
      // Not published (or not known to be): the compacted index is this copy's own change,
      // published by the next upload().
      copy.state().unpublished = true;
      try {
        copy.write_state();
      } catch (const error&) {  // open replays the compacted files and marks them so
      }
      throw;
    }

    // The old objects stay in the store: another writer may have loaded the old index and
    // still read from them, or (a Python 0.9 writer, which grows its files) commit an index
    // naming one again. gc(grace) deletes them once no published index names them and
    // they are older than its grace. This copy's local files the new index does not name go.
    for (const auto& [n, size] : copy.data_files())
      if (!(copy.is_own(n) && n >= first_new)) c_.remove_local_quietly(n);
    std::erase_if(copy.state().stored, [&](const auto& e) { return !(copy.is_own(e.first) && e.first >= first_new); });
    committer_.drop_published_files();
    try {
      copy.write_state();
    } catch (const error& e) {
      c_.log(log_level::warning, std::string("compact: committed, but saving local.state failed: ") + e.what());
    }
  }

 private:
  // A copy with no keys and no writes of its own, compacting a store that holds data
  // objects but no index, would publish an empty index over them: their keys (an index
  // that was lost, or a first upload in flight) would then be garbage for gc(). Refuses,
  // changing nothing. A copy with writes publishes them, as upload() would.
  void refuse_to_compact_nothing_over_lost_data() const {
    if (!index_.empty() || c_.unpublished() || c_.bucket.head_index()) return;
    if (const auto objects = c_.bucket.data_objects(); !objects.empty())
      detail::throw_usage("compact: the store holds " + std::to_string(objects.size()) + " data objects but no " +
                          c_.bucket.index_key() +
                          " names them; nothing was changed (rebuild_index({.from_store = true}), or s4db "
                          "rebuild-index, recovers the index from them)");
  }

  // Writes every live entry, in (file, offset) order, into new data files starting at the
  // working copy's next number; returns the index that names them. Entries are copied as
  // stored (checked, never carrying corruption forward), 4 MiB at a time; writing format
  // 1, an entry stored raw or flagged binary is encoded again in the codec's own form.
  Published write_live_entries() {
    std::vector<std::pair<std::string_view, location>> live;  // views of the index's keys: it stays as it is
    live.reserve(index_.size());
    for (const auto& element : index_) live.emplace_back(element.first, element.second);
    std::sort(live.begin(), live.end(), [](const auto& a, const auto& b) {
      return std::tie(a.second.file, a.second.offset) < std::tie(b.second.file, b.second.offset);
    });
    std::uint64_t live_bytes = 0;
    for (const auto& element : live) live_bytes += element.second.length;
    detail::progress_meter meter(c_.opt.progress, "compact", live_bytes);
    Published fresh;
    if (!live.empty()) c_.copy.start_new_file();
    constexpr std::size_t chunk = 4 * 1024 * 1024;
    for (std::size_t i = 0; i < live.size();) {
      std::string buffer;
      std::vector<std::string_view> entries;
      std::vector<std::size_t> lengths;
      const std::size_t begin = i;
      for (; i < live.size() && buffer.size() < chunk; ++i) {
        const std::string_view key = live[i].first;
        const location& loc = live[i].second;
        const auto file = files_.holding(loc);
        reader_.with_entry(loc, file.get(), [&](std::string_view bytes) {
          const auto entry = format::parse_exact_entry(bytes, key, c_.where(loc));
          if (c_.opt.format_version == 1 && entry.flags != Codec::flag) {
            std::string stored;
            values_.encode_plain(values_.decode_entry(key, c_.where(loc), bytes), stored);
            lengths.push_back(format::append_entry(buffer, Codec::flag, key, stored));
          } else {
            buffer += bytes;
            lengths.push_back(bytes.size());
          }
        });
      }
      for (std::size_t j = begin, at = 0; j < i; at += lengths[j - begin], ++j)
        entries.push_back(std::string_view(buffer).substr(at, lengths[j - begin]));
      const auto locations = c_.copy.append(entries);
      meter.report(buffer.size());
      for (std::size_t j = begin; j < i; ++j) fresh.set(live[j].first, locations[j - begin]);
    }
    c_.copy.close_active();
    return fresh;
  }

  context<Store>& c_;
  Published& index_;
  const values<Codec>& values_;
  writer<Store, Codec, Published>& writer_;
  const mapped_files& files_;
  committer<Store, Codec, Published>& committer_;
  downloader<Store, Codec, Published>& downloader_;
  const reader<Store, Codec, Published>& reader_;
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
