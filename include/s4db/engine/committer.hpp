// Publishing and following: upload()'s push of the data files and commit of the index
// (through detail/publisher.hpp, which does the conditional transfers and settles unknown
// outcomes), the rebase of this copy's uncommitted writes onto a newer published index
// (a lost race, refresh(), or open), and the renumbering of a local file whose name is
// taken. Owns the count of rebases. Called under the db's exclusive lock.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../detail/file.hpp"
#include "../error.hpp"
#include "../format/entry.hpp"
#include "../format/manifest.hpp"
#include "../format/segment.hpp"
#include "context.hpp"
#include "key_span.hpp"
#include "mapped_files.hpp"
#include "published_index.hpp"
#include "replay.hpp"
#include "writer.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

template <class Store, class Codec, published_index Published>
class committer {
 public:
  committer(context<Store>& c, Published& index, writer<Store, Codec, Published>& writer, const mapped_files& files)
      : c_(c), index_(index), writer_(writer), files_(files) {}

  // How many times this db's commits lost a race and were rebased onto another writer's.
  std::uint64_t rebases() const noexcept { return rebases_; }

  // Pushes this copy's data files, then commits the index (publisher.hpp). This copy's
  // committed files the index no longer names go locally afterwards (and, without
  // options::keep_published_files, those the store holds).
  void publish(bool rebase) {
    refuse_a_format_1_commit_already_lost();
    if (c_.copy.exists()) c_.publisher.push_data_files([&](file_id n, file_id to) { renumber(n, to); });
    commit_index(rebase);
    const bool unnamed = drop_unnamed_committed_files();
    drop_published_files();  // changes no state: `stored` keeps them
    if (!unnamed) return;
    try {
      c_.copy.write_state();
    } catch (const error& e) {  // the files are gone; the state names them stored until the next save
      c_.log(log_level::warning, std::string("saving local.state failed: ") + e.what());
    }
  }

  // Commits the index, saving it locally first; a lost race rebases when `rebase` (never
  // with format 1: its single namespace cannot hold two writers' new files).
  // Format 3 first uploads the segment of this copy's changes since its last commit (once:
  // a lost race re-reads the manifest and commits the same segment on top of it).
  void commit_index(bool rebase) {
    if (c_.bucket.segmented()) {
      stage_segment();
      // Nothing to publish on a published manifest: no commit of nothing, only what a
      // commit would have adopted (one HEAD when nothing changed).
      if (!c_.unpublished() && !index_.staged() && !c_.copy.state().published_etag.empty()) return void(refresh());
    }
    std::string committed;
    const int rebased = c_.publisher.commit(
        [&] { return committed = index_.encode(c_.opt.format_version, c_.copy); },
        // The note that a commit is under way goes to local.state first. Formats 1 and 2
        // save the index there too; format 3's local index is this copy's own (open
        // replays what came after it), so a commit costs the change.
        [&](const std::string&) { c_.bucket.segmented() ? c_.copy.write_state() : writer_.save_local(); },
        [&](const std::optional<object>& published) {
          rebase_for_commit(published);
          // A segment of every key was taken from the index before the rebase: made again.
          if (c_.bucket.segmented() && index_.whole_rewrite()) stage_segment();
        },
        rebase && c_.opt.format_version != 1 && c_.opt.fenced);
    if (c_.bucket.segmented()) index_.committed(committed, c_.bucket.index_key());
    rebases_ += static_cast<std::uint64_t>(rebased);
  }

  // Adopts the published index if it changed since this copy loaded it (one request when
  // it did not), with this copy's unpublished writes applied on top. Returns whether it changed.
  bool refresh() {
    const auto published = c_.bucket.newer_index(c_.copy.state().published_etag);
    if (!published) return false;
    rebase_onto(published);
    if (c_.copy.exists()) writer_.save_local();
    return true;
  }

  // Format 3: a merge or a pin committed `merged` on the manifest this copy is at. It
  // holds the same keys, so it becomes the one this copy is at without a read.
  void follow_edit(const object& merged) {
    index_.know_manifest(format::decode_manifest(merged.data, c_.bucket.index_key()));
    c_.copy.state().published_etag = merged.etag;
    c_.copy.state().published_changes = c_.bucket.changes_of(merged.data);
    if (!c_.copy.exists()) return;
    try {
      c_.copy.write_state();
    } catch (const error& e) {  // a reopen reads the manifest again: the same keys
      c_.log(log_level::warning, std::string("saving local.state failed: ") + e.what());
    }
  }

  // Adopts `published` (the store's index now; nullopt: there is none, and this copy's
  // index stays the base) with this copy's unpublished writes applied on top: per key, the
  // later write wins, and an erase removes the key whoever wrote it.
  void rebase_onto(const std::optional<object>& published) {
    const auto writes = c_.unpublished() ? uncommitted_writes() : decltype(uncommitted_writes()){};
    if (published) index_.adopt(published->data, c_.bucket.index_key(), c_.copy);
    for (const auto& [key, loc] : writes) {
      if (loc)
        index_.set(key, *loc);
      else
        index_.erase(key);
    }
    c_.copy.state().published_etag = published ? published->etag : std::string();
    c_.copy.state().published_changes = published ? c_.bucket.changes_of(published->data) : 0;
    writer_.mark_changed();
    files_.forget();
    drop_unnamed_committed_files();
    rename_files_another_writer_may_have_named();
    c_.log(log_level::info, "applied " + std::to_string(writes.size()) + " unpublished writes on top of the store's " +
                                c_.bucket.index_key() + " (ETag " +
                                context<Store>::describe_etag(c_.copy.state().published_etag) + ")");
  }

  // With format_version 1: a data file of a writer namespace the index names (format 1
  // cannot name it; compact() rewrites the database into format 1 files).
  std::optional<file_id> namespaced_file_named() const {
    if (c_.opt.format_version != 1) return std::nullopt;
    for (const auto& element : index_)
      if (writer_of(element.second.file) != 0) return element.second.file;
    return std::nullopt;
  }

  // Without options::keep_published_files: this copy's own files that are committed and
  // that the store holds byte for byte as recorded go locally; `stored` keeps them, so
  // open() knows them as the store's, and the next write starts a new file (a data
  // object is written once).
  void drop_published_files() {
    if (c_.opt.keep_published_files || !c_.copy.exists() || c_.unpublished()) return;
    bool dropped = false;
    for (const auto& [n, size] : c_.copy.data_files()) {
      const auto stored = c_.copy.state().stored.find(n);
      if (!c_.copy.is_own(n) || c_.copy.holds_uncommitted(n, size) || stored == c_.copy.state().stored.end() ||
          stored->second.size != size)
        continue;
      if (!dropped) {
        c_.copy.close_active();
        files_.forget();
      }
      c_.remove_local_quietly(n);
      dropped = true;
    }
  }

 private:
  // Format 3: the segment of this copy's changes since its last commit (every key, after a
  // compaction or a rebuild), uploaded under a name of its writer's no object has, staged
  // for the manifest the commit publishes. Nothing changed: no segment.
  void stage_segment() {
    // A reopened copy knows the ETag of the manifest it is at, not its segments.
    const auto& at = c_.copy.state().published_etag;
    if (!index_.manifest() && !at.empty())
      if (auto m = c_.bucket.get_index(); m && m->etag == at)
        index_.know_manifest(format::decode_manifest(m->data, c_.bucket.index_key()));
    const bool whole = index_.whole_rewrite() || c_.copy.state().rebase_all;
    entry_list changes;  // sorted by key; a tombstone's location has length 0
    if (whole) {
      index_.rewrite_whole();
      changes = index_.entries_in(key_span{});
    } else {
      std::map<std::string, std::optional<location>> last;  // per key, its last write
      for (auto& [key, loc] : uncommitted_writes()) last[std::move(key)] = loc;
      for (auto& [key, loc] : last) changes.emplace_back(key, loc.value_or(location{}));
    }
    if (changes.empty() && !whole) return index_.stage(std::nullopt, {});
    format::segment_builder builder;
    std::map<file_id, std::uint64_t> files;  // the files it names, with its live bytes there
    local_entries small(c_);
    for (const auto& [key, loc] : changes) {
      if (loc.length == 0) {
        builder.add({key, format::segment_kind::tombstone, loc, {}});
        continue;
      }
      files[loc.file] += loc.length;
      const auto entry = loc.length <= c_.opt.inline_threshold ? small.read(loc) : std::nullopt;
      builder.add({key, entry ? format::segment_kind::inline_put : format::segment_kind::put, loc,
                   entry ? std::string_view(*entry) : std::string_view()});
    }
    format::manifest::segment record;
    record.writer = c_.copy.writer();
    record.level = whole ? 1 : 0;
    record.entries = builder.entries();
    record.first_key = changes.empty() ? std::string() : changes.front().first;
    record.last_key = changes.empty() ? std::string() : changes.back().first;
    const std::string bytes = builder.finish();
    record.bytes = bytes.size();
    record.sequence = c_.bucket.put_segment(record.writer, index_.next_segment(record.writer), bytes);
    index_.stage(std::move(record), std::move(files));
  }

  // The bytes of small entries in this copy's local data files, for inline segment entries
  // (options::inline_threshold); nullopt where the file is not local (another writer's).
  class local_entries {
   public:
    explicit local_entries(const context<Store>& c) : c_(c) {}
    std::optional<std::string> read(const location& loc) {
      if (!c_.copy.exists()) return std::nullopt;
      auto [it, fresh] = open_.try_emplace(loc.file);
      if (fresh) it->second = detail::file::open_existing(c_.copy.data_path(loc.file));
      if (!it->second) return std::nullopt;
      try {
        std::string bytes = it->second->read_at(loc.offset, loc.length);
        if (bytes.size() == loc.length) return bytes;
      } catch (const error&) {  // unreadable here: the segment names the entry, as for a large one
      }
      return std::nullopt;
    }

   private:
    const context<Store>& c_;
    std::map<file_id, std::optional<detail::file>> open_;
  };

  // This copy's writes since its last commit, in the order written: (key, location) for a
  // put, (key, nullopt) for an erase. Read from its own data files past the committed
  // position, so they survive a restart; after a rebuild, every key of the index and every
  // key its own files erase that the index lacks.
  std::vector<std::pair<std::string, std::optional<location>>> uncommitted_writes() {
    std::vector<std::pair<std::string, std::optional<location>>> out;
    const auto& state = c_.copy.state();
    if (state.rebase_all) {
      // Every key the index holds, and every key this copy erased that it does not hold:
      // without those, a rebase after a rebuild would bring back what the copy erased.
      for (const auto& element : index_) out.emplace_back(element.first, element.second);
      std::set<std::string, std::less<>> erased;
      if (c_.copy.exists())
        for (const auto& [n, size] : c_.copy.data_files())
          if (c_.copy.is_own(n))
            replay_file(c_.copy, c_.opt.log, n, 0, false, [&](std::string_view key, const location* loc) {
              if (!loc && !index_.find(key)) erased.emplace(key);
            });
      for (const auto& key : erased) out.emplace_back(key, std::nullopt);
      return out;
    }
    if (!c_.copy.exists()) return out;
    for (const auto& [n, size] : c_.copy.data_files()) {
      if (!c_.copy.is_own(n) || n < state.committed_file) continue;
      const std::uint64_t from = n == state.committed_file ? state.committed_offset : 0;
      replay_file(c_.copy, c_.opt.log, n, from, false, [&](std::string_view key, const location* loc) {
        out.emplace_back(std::string(key), loc ? std::optional<location>(*loc) : std::nullopt);
      });
    }
    return out;
  }

  // This copy's committed files that the index no longer names (another writer compacted
  // them away, or a compaction of this copy whose commit was settled later) are garbage
  // here too: kept, they would keep their objects from gc and be published again. But not
  // one that holds a tombstone: an older file may still hold the put it erased, and
  // rebuild_index(), replaying what is left, would bring the key back (a compaction,
  // which rewrites every live entry and drops every older file, collects it).
  // Returns whether it dropped any.
  bool drop_unnamed_committed_files() {
    if (!c_.copy.exists()) return false;
    const auto referenced = index_.named_files();
    bool dropped = false;
    for (const auto& [n, size] : c_.copy.data_files())
      if (c_.copy.is_own(n) && n < c_.copy.state().committed_file && !referenced.contains(n) && !holds_tombstone(n)) {
        c_.remove_local_quietly(n);
        c_.copy.state().stored.erase(n);
        dropped = true;
      }
    return dropped;
  }

  bool holds_tombstone(file_id n) {
    bool found = false;
    try {
      replay_file(c_.copy, c_.opt.log, n, 0, false, [&](std::string_view, const location* loc) { found |= !loc; });
    } catch (const error&) {
      return true;  // unreadable: kept, as if it did
    }
    return found;
  }

  // Format 1 has one namespace for every writer, so it never rebases a commit: a copy
  // whose loaded index is no longer the published one would lose its commit anyway. It
  // fails before it uploads a data file: one pushed now could take a name another writer's
  // collected file had, under which readers of an older index would find other bytes.
  void refuse_a_format_1_commit_already_lost() {
    if (c_.opt.format_version != 1 || !c_.unpublished()) return;
    // The index encoder would refuse too, but only after the data files were pushed.
    if (const auto named = namespaced_file_named())
      detail::throw_usage("upload: format version 1 cannot name data files of writer namespaces (the index names " +
                          c_.bucket.data_key(*named) +
                          "); nothing was uploaded (compact() with format_version 1 rewrites the database, these "
                          "writes included, into format 1 files)");
    if (!c_.opt.fenced) return;
    const auto head = c_.store.head(c_.bucket.index_key());
    const std::string now = head ? head->etag : std::string();
    if (now == c_.copy.state().published_etag) return;
    detail::throw_conflict("upload: another writer committed " + c_.bucket.index_key() +
                           " since this copy loaded it, and format 1 (one namespace for every writer) cannot "
                           "merge two writers' files: nothing was uploaded and nothing was lost (refresh() "
                           "applies this copy's writes on top of the published index; then upload() again)");
  }

  // After adopting a newer format 1 index: this copy's files never uploaded whose names it
  // now knows another writer used (below the index's next_file) move to fresh names, so no
  // upload of them can take the name of another writer's file, collected since.
  void rename_files_another_writer_may_have_named() {
    if (!c_.copy.exists() || c_.copy.writer() != 0) return;
    std::vector<file_id> clashing;
    for (const auto& [n, size] : c_.copy.data_files())
      if (c_.copy.is_own(n) && !c_.copy.state().stored.contains(n) && sequence_of(n) < index_.legacy_next())
        clashing.push_back(n);
    if (clashing.empty()) return;
    c_.copy.raise_next_file(c_.bucket.highest(c_.bucket.data_objects(), 0) + 1);
    for (const auto& [n, size] : c_.copy.data_files()) c_.copy.raise_next_past(n);
    for (auto n : clashing) {
      const file_id fresh = c_.copy.own(std::max(c_.copy.next_file(), index_.legacy_next()));
      c_.log(log_level::info, "rebase: " + c_.copy.data_path(n).string() + " becomes " + format::data_file_name(fresh) +
                                  ": another writer's file had its name");
      renumber(n, fresh);
      c_.copy.raise_next_past(fresh);
    }
  }

  // A lost race's rebase. When the winner's index dropped files the old one named (a
  // compaction), a file this copy was still appending to may be gone: the store gets it
  // back before the index names it again. Otherwise no extra request.
  void rebase_for_commit(const std::optional<object>& published) {
    const auto before = index_.referenced_files();
    rebase_onto(published);
    const auto after = index_.referenced_files();
    const bool dropped =
        !published || std::any_of(before.begin(), before.end(), [&](file_id n) { return !after.contains(n); });
    if (c_.copy.exists() && dropped) c_.publisher.push_data_files([&](file_id n, file_id to) { renumber(n, to); });
  }

  // Moves local data file n to id `to`, for the publisher: the index follows, saved
  // before the old file goes, so a crash leaves both and a replay of the new one is
  // harmless (it holds only entries the index names, and tombstones of absent keys).
  void renumber(file_id n, file_id to) {
    // `to` is newer than every file: a rebase or a reopen replays it after files written
    // after n. So it holds only what still counts of n: the entries the index names there,
    // and a tombstone for each key n erases that the index lacks. Copied whole, an entry
    // a later write superseded would come back with it.
    c_.copy.close_active();
    const std::string bytes = detail::file(c_.copy.data_path(n), O_RDONLY).read_all();
    std::string entries;
    std::vector<std::pair<std::string, location>> moved;
    std::set<std::string, std::less<>> erased;
    replay_file(c_.copy, c_.opt.log, n, 0, false, [&](std::string_view key, const location* loc) {
      const auto named = index_.find(key);
      if (loc && named && *named == *loc) {
        moved.emplace_back(std::string(key), location{to, format::file_header_size + entries.size(), loc->length});
        entries.append(bytes, static_cast<std::size_t>(loc->offset), loc->length);
      } else if (!loc && !named && erased.emplace(key).second) {
        format::append_entry(entries, format::flag_tombstone, key, {});
      }
    });
    c_.copy.write_renumbered(n, to, entries);
    for (auto& [key, loc] : moved) index_.set(key, loc);
    c_.copy.state().stored.erase(n);
    files_.forget();
    writer_.save_local();
    c_.copy.remove_data_file(n);
  }

  context<Store>& c_;
  Published& index_;
  writer<Store, Codec, Published>& writer_;
  const mapped_files& files_;
  std::uint64_t rebases_ = 0;  // lost races this db rebased its commit after
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
