// The working copy's recovery: open() (load the saved index, finish a download a crash
// interrupted, check for bytes a power loss took, replay what was appended after the
// saved index, settle an index commit whose outcome was unknown, reconcile with the
// store's index: SPEC section 2, "open") and rebuild_index(). Stateless. Runs in the db's
// constructor, and under its exclusive lock for a rebuild.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "../detail/file.hpp"
#include "../detail/local_state.hpp"
#include "../error.hpp"
#include "../format/names.hpp"
#include "committer.hpp"
#include "context.hpp"
#include "downloader.hpp"
#include "mapped_files.hpp"
#include "published_index.hpp"
#include "replay.hpp"
#include "writer.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

template <class Store, class Codec, published_index Published>
class recovery {
 public:
  recovery(context<Store>& c, Published& index, writer<Store, Codec, Published>& writer, const mapped_files& files,
           committer<Store, Codec, Published>& committer, downloader<Store, Codec, Published>& downloader)
      : c_(c), index_(index), writer_(writer), files_(files), committer_(committer), downloader_(downloader) {}

  // Opens the working copy named by options::local_dir, if there is one with a state,
  // else the published index (basic_db's constructor says what a caller sees).
  void open() {
    const auto& opt = c_.opt;
    if (opt.format_version < 1 || opt.format_version > 3)
      detail::throw_usage("options.format_version is " + std::to_string(opt.format_version) +
                          "; s4db writes format 1, 2 or 3");
    c_.copy.state().codec = std::string(Codec::name);
    if constexpr (requires { c_.store.root(); })
      if (opt.local_dir) refuse_local_dir_in_bucket(*opt.local_dir, c_.store.root());
    if (opt.local_dir && std::filesystem::is_directory(*opt.local_dir)) c_.copy.attach(*opt.local_dir);
    if (c_.copy.has_state())
      open_working_copy();
    else
      open_from_store();
  }

  void rebuild(bool from_store) {
    auto& copy = c_.copy;
    writer_.ensure_dir();
    copy.close_active();
    auto files = copy.data_files();
    if (files.empty() && from_store) {
      const auto objects = c_.bucket.data_objects();
      std::vector<file_id> all;
      for (const auto& [n, info] : objects) all.push_back(n);
      downloader_.fetch_files(all, objects, copy.dir());
      for (const auto& [n, info] : objects) copy.state().stored[n] = {info.size, info.etag};
      files = copy.data_files();
    }
    if (files.empty() && !index_.empty())
      detail::throw_usage("rebuild_index: there are no local data files to rebuild from, and the index names " +
                          std::to_string(index_.size()) +
                          " keys; nothing was changed (rebuild_index({.from_store = true}) fetches the store's "
                          "data files first)");
    Published rebuilt;
    for (std::size_t i = 0; i < files.size(); ++i)
      replay_file_into(copy, c_.opt.log, files[i].first, 0, newest_of_its_writer(files, i), rebuilt);
    std::size_t dropped = 0;
    for (const auto& element : index_) dropped += !rebuilt.find(element.first);
    if (dropped)
      c_.log(log_level::warning,
             "rebuild_index: " + std::to_string(dropped) + " keys of the previous index are not in the data files");
    index_.replace(rebuilt.replace({}));
    for (const auto& [n, size] : files) copy.raise_next_past(n);
    copy.state().unpublished = true;
    copy.state().rebase_all = true;  // a lost race keeps every key rebuilt
    files_.forget();
    writer_.save_local();
  }

 private:
  // A working copy inside a directory bucket (fs_store), or one holding it, would mix the
  // two: its index.idx would replace the published one, its data files would be listed as
  // objects (or gc'd). Refused before anything is touched.
  static void refuse_local_dir_in_bucket(const std::filesystem::path& local_dir, const std::filesystem::path& root) {
    auto absolute = [](const std::filesystem::path& p) {
      std::error_code ec;
      auto out = std::filesystem::weakly_canonical(std::filesystem::absolute(p), ec);
      if (ec) out = std::filesystem::absolute(p).lexically_normal();
      return out.has_filename() ? out : out.parent_path();  // no trailing separator
    };
    auto within = [](const std::filesystem::path& outer, const std::filesystem::path& inner) {
      return std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end()).first == outer.end();
    };
    const auto copy = absolute(local_dir), bucket = absolute(root);
    if (within(bucket, copy) || within(copy, bucket))
      detail::throw_usage("options.local_dir " + local_dir.string() +
                          (copy == bucket         ? " is the store's directory "
                           : within(bucket, copy) ? " is inside the store's directory "
                                                  : " contains the store's directory ") +
                          root.string() + "; a working copy needs a directory of its own, outside the bucket");
  }

  // The local copy is ours: load its index, finish a download a crash interrupted, check
  // that no data file lost bytes the index names (a power loss), replay what was appended
  // after the index was saved, settle an index commit whose outcome was unknown, then
  // reconcile with the store's index.
  void open_working_copy() {
    auto& copy = c_.copy;
    const bool finishing_download = copy.staged_ready();
    typename Published::saved_load saved;
    const auto loaded = copy.load(Codec::name, [&](const detail::working_copy::loaded_copy& l) {
      if (!finishing_download && !l.index.empty())
        saved =
            index_.load_saved(l.index, (copy.dir() / format::index_name).string(), l.read ? nullptr : l.mapping, copy);
    });
    if (finishing_download) {
      downloader_.finish_download();
    } else {
      writer_.loaded_checkpoint(saved.checkpoint_bytes);
      copy.clear_staging();
      check_lost_bytes(loaded.covers, saved.file_ends);
      const bool replayed = replay_tail(loaded.covers.covered_file, loaded.covers.covered_offset);
      // Format 3 saves no index at a commit (it costs the change): a tail replayed from
      // before the committed position was published, and marks nothing unpublished.
      if (replayed && (c_.opt.format_version != 3 || copy.holds_uncommitted_writes())) copy.state().unpublished = true;
      writer_.mark_changed(replayed);
    }
    reconcile_with_store();
    writer_.settle_writer();
  }

  void reconcile_with_store() {
    using outcome = typename detail::bucket<Store>::outcome;
    const auto& copy = c_.copy;
    const auto remote = c_.bucket.head_index();
    const std::string remote_etag = remote ? remote->etag : std::string();
    auto& state = c_.copy.state();
    if (state.publishing) {
      std::string etag;
      const auto settled =
          remote_etag == state.published_etag ? outcome::not_ours : c_.bucket.published_is(*state.publishing, &etag);
      if (settled == outcome::unknown)
        detail::throw_store("open: cannot tell whether the last index commit of " + copy.dir().string() +
                                " reached the store (reading " + c_.bucket.index_key() + " back failed); try again",
                            0, true);
      if (settled == outcome::ours) {
        state.published_etag = etag;
        c_.copy.mark_committed(state.publishing_at);  // writes after that commit stay uncommitted
        if (c_.copy.holds_uncommitted_writes()) state.unpublished = true;
      } else {
        state.unpublished = true;
      }
      state.publishing.reset();
      state.publishing_at.reset();
      c_.copy.write_state();
      if (settled == outcome::ours) return;
    }
    if (remote_etag == state.published_etag) return;
    if (!remote && !state.published_etag.empty()) {
      c_.log(log_level::warning, "the store's " + c_.bucket.index_key() + " is gone; keeping the working copy in " +
                                     copy.dir().string() + " (upload() publishes it again)");
      state.unpublished = true;
      state.published_etag.clear();
      return;
    }
    if (state.unpublished && state.published_changes != 0) {
      // Format 3: a manifest changed by merges and pins only (its changes as they were)
      // holds the keys of the one this copy is at: no conflict, and nothing to rebase.
      auto published = c_.bucket.get_index();
      if (published && c_.bucket.changes_of(published->data) == state.published_changes) {
        committer_.follow_edit(*published);
        return;
      }
    }
    if (state.unpublished) {
      switch (c_.opt.on_conflict) {
        case conflict_resolution::keep_local:
          c_.log(log_level::warning, "keeping the local working copy in " + copy.dir().string() +
                                         " over the store's changed " + c_.bucket.index_key());
          return;
        case conflict_resolution::rebase:
          committer_.rebase_onto(c_.bucket.get_index());
          writer_.save_local();
          log_adopted();
          return;
        case conflict_resolution::take_store:
          c_.log(log_level::warning, "discarding unpublished local writes in " + copy.dir().string() +
                                         " for the store's " + c_.bucket.index_key());
          break;
        case conflict_resolution::fail:
          detail::throw_conflict("both sides changed: the working copy in " + copy.dir().string() +
                                 " holds writes never uploaded, and the store's " + c_.bucket.index_key() +
                                 " changed since it was taken (ETag " +
                                 context<Store>::describe_etag(state.published_etag) + " then, " +
                                 context<Store>::describe_etag(remote_etag) +
                                 " now); open with options.on_conflict = rebase, keep_local or take_store");
      }
    }
    state.unpublished = false;
    downloader_.download(false);
    log_adopted();
  }

  // Said at info level, so a caller about to refresh() can tell "up to date because opening
  // adopted it" from "nothing changed".
  void log_adopted() const {
    c_.log(log_level::info, std::string(opened_onto_newer_index) + " " + c_.bucket.index_key());
  }

  void open_from_store() {
    auto published = c_.bucket.get_index();
    if (published) {
      index_.adopt(published->data, c_.bucket.index_key(), c_.copy);
      c_.copy.state().published_etag = published->etag;
      c_.copy.state().published_changes = c_.bucket.changes_of(published->data);
      return;
    }
    // A local-only database, as the Python original leaves it: index.idx, no state file.
    if (c_.copy.exists()) {
      const auto index_path = c_.copy.dir() / format::index_name;
      if (auto bytes = detail::read_file(index_path)) {
        index_.adopt(*bytes, index_path.string(), c_.copy);
        c_.copy.state().unpublished = true;
        c_.copy.state().rebase_all = true;
      }
    }
  }

  // A power loss can leave one of this copy's data files shorter than the index (or the
  // saved position) says. Such a file is fetched again when the store holds the bytes this
  // copy uploaded; else opening fails: appending there would write over bytes the index names.
  void check_lost_bytes(const detail::local_state::saved_index& covers,
                        const std::map<file_id, std::uint64_t>& file_ends) {
    auto& copy = c_.copy;
    std::map<file_id, std::uint64_t> needed;  // of this copy's own files: others' are the store's
    for (const auto& [n, end] : file_ends)
      if (copy.is_own(n)) needed.emplace(n, end);
    const auto local = copy.data_files();
    std::map<file_id, std::uint64_t> local_sizes(local.begin(), local.end());
    bool unaccounted = false;  // a file the index names is not local, nor known to be stored
    for (const auto& [n, end] : needed) unaccounted |= !copy.state().stored.contains(n) && !local_sizes.contains(n);
    if (unaccounted) {
      const auto objects = c_.bucket.data_objects();
      // Lost from local disk only if this copy made it; else (format 1's one namespace)
      // another writer's file, compacted and collected: the store's business, not ours.
      const auto& state = copy.state();
      for (const auto& [n, end] : needed)
        if (!objects.contains(n) && !copy.size_of(n) && (!state.tracks_created || state.created.contains(n)))
          detail::throw_corruption(copy.data_path(n).string() + " is gone, though the index names " +
                                   std::to_string(end) +
                                   " bytes of it, and the store has no copy (lost in a power cut, with sync_mode "
                                   "none?); download({.force = true}) into a new local_dir recovers what was "
                                   "published");
    }
    for (const auto& [n, size] : local) {
      if (!copy.is_own(n)) continue;  // a fetched copy of another writer's file may be older
      const auto it = needed.find(n);
      const std::uint64_t named = it == needed.end() ? 0 : it->second;
      if (size >= named && !(n == covers.covered_file && size < covers.covered_offset)) continue;
      if (size >= named) {  // only entries the index no longer needs were lost
        copy.never_append_to(n);
        continue;
      }
      const auto stored = copy.state().stored.find(n);
      const auto info = c_.store.head(c_.bucket.data_key(n));
      if (stored != copy.state().stored.end() && info && info->etag == stored->second.etag && info->size >= named) {
        c_.log(log_level::warning, copy.data_path(n).string() + " is " + std::to_string(size) +
                                       " bytes, the index names " + std::to_string(named) +
                                       " (lost in a power cut?); fetching the published copy");
        c_.bucket.fetch(n, copy.data_path(n));
        continue;
      }
      detail::throw_corruption(copy.data_path(n).string() + " is " + std::to_string(size) +
                               " bytes, but the index names bytes up to " + std::to_string(named) +
                               " and the store holds no copy of them (lost in a power cut, with sync_mode none?); "
                               "download({.force = true}) into a new local_dir recovers what was published");
    }
  }

  // Replays this copy's own entries from (file, offset) on; returns whether any was found.
  // Files of other namespaces came from the store whole, and the index already has them.
  bool replay_tail(file_id covered_file, std::uint64_t covered_offset) {
    const auto files = c_.copy.data_files();
    bool replayed = false;
    for (std::size_t i = 0; i < files.size(); ++i) {
      const auto [n, size] = files[i];
      if (n < covered_file || !c_.copy.is_own(n)) continue;
      const std::uint64_t from = n == covered_file ? covered_offset : 0;
      replayed |= replay_file_into(c_.copy, c_.opt.log, n, from, newest_of_its_writer(files, i), index_);
      c_.copy.raise_next_past(n);
    }
    return replayed;
  }

  context<Store>& c_;
  Published& index_;
  writer<Store, Codec, Published>& writer_;
  const mapped_files& files_;
  committer<Store, Codec, Published>& committer_;
  downloader<Store, Codec, Published>& downloader_;
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
