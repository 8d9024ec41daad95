// Publishing: moving a working copy's data files and index into the store so that an
// upload never overwrites bytes it did not write and an unknown outcome is never guessed.
//   - Data objects are written once: a data file the store lacks is created with
//     If-None-Match: *, and once uploaded the working copy appends to it no more (the next
//     write starts a new file). One whose bytes the store holds exactly as this copy
//     recorded them is skipped (never on size alone). (A grown file, left by an older
//     version of this library, is replaced with If-Match on the ETag its upload got.)
//   - Every file that an index commit names for this copy's new writes was created in the
//     store by the same upload() call: one uploaded by an earlier call (whose commit
//     failed) moves to a fresh name first, keeping only the entries the index names there
//     (the moved file is newer than files written after it, and is replayed after them). So gc(grace), which deletes
//     only objects older than its grace that the published index does not name, cannot delete one under a commit that
//     takes less than the grace, and a name it deleted is never written again.
//   - A name the store holds with bytes this copy cannot vouch for is read back: our own
//     bytes put by this call (a lost response) are adopted; anything else (another
//     writer's, or ours from an earlier call, which a gc may be deleting) moves our file to
//     a fresh number.
//   - The index commit is saved locally first with a note that it is under way; a failed
//     PUT is settled by reading the store back, and the note stays when even that fails,
//     for the next open to settle.
//   - Fenced (options::fenced, the default), the commit is a compare-and-swap: If-Match on
//     the ETag of the index this copy last loaded (If-None-Match: * when there was none).
//     A lost race reloads the winner's index, lets the engine apply this copy's
//     uncommitted writes on top, and tries again after a random pause (full jitter, growing
//     to at most a second) until options::rebase_timeout has passed.
// Used by basic_db under its write lock; the transfers run `concurrency` at once.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../concepts.hpp"
#include "../error.hpp"
#include "../options.hpp"
#include "bucket.hpp"
#include "file.hpp"
#include "local_state.hpp"
#include "log.hpp"
#include "parallel.hpp"
#include "progress.hpp"
#include "working_copy.hpp"

namespace s4db {
inline namespace v0 {
namespace detail {

template <class Store>
class publisher {
 public:
  using object_map = std::map<file_id, object_info>;
  publisher(Store& store, const bucket<Store>& objects, working_copy& copy, const options& opt)
      : store_(store), bucket_(objects), copy_(copy), opt_(opt) {}

  // Starts an upload() or compact() call: files pushed before it are an earlier call's.
  // Fenced, on a store that may ignore conditional writes (s3_store), the first call makes
  // sure it honours them: one that does not is a usage_error before anything is written,
  // never a commit that races silently.
  void begin() {
    pushed_now_.clear();
    attempted_now_.clear();
    if (!opt_.fenced || fencing_checked_) return;
    const auto report = fencing();
    if (!report.fences())
      throw_usage(report.server + " does not honour conditional writes (" + report.summary() +
                  "), so a fenced commit would not be fenced there and concurrent writers could lose each other's "
                  "commits; nothing was written. Set options::fenced = false (s4db --no-fence) if this database has "
                  "one writer at a time, or use a server that honours them (docs/s3.md, \"Services\")");
    fencing_checked_ = true;
  }

  // What the store's conditional writes are worth: probed once (kept in the working copy's
  // `fencing` file for a day) where the store can ignore them, else honoured by construction.
  fencing_report fencing() const {
    if constexpr (store_probes_fencing<Store>) {
      std::optional<std::filesystem::path> cache;
      if (copy_.exists() && !copy_.is_temp()) cache = copy_.dir() / fencing_cache_name;
      return store_.fencing(bucket_.prefix(), cache);
    } else {
      fencing_report by_construction;
      by_construction.server = "this store";
      by_construction.probed = false;
      return by_construction;
    }
  }

  // Pushes every local data file this copy wrote (its own namespace, or any file it never
  // got from the store) that the store does not hold exactly as this copy last uploaded
  // it. Files fetched from other writers' namespaces are theirs to publish. `renumber(n,
  // to)` moves local file n to id `to` (with the index that names it): done when another
  // writer holds n's name, and for a file of uncommitted writes that an earlier call
  // uploaded (see the top of this file).
  template <class Renumber>
  void push_data_files(Renumber&& renumber) {
    copy_.close_active();
    const auto objects = bucket_.data_objects();
    auto& stored = copy_.state().stored;
    std::vector<file_id> changed;
    std::vector<file_id> stale;
    for (const auto& [n, size] : copy_.data_files()) {
      const auto known = stored.find(n);
      if (!copy_.is_own(n) && known != stored.end()) continue;
      const auto listed = objects.find(n);
      if (known != stored.end() && known->second.size > size)
        throw_corruption(copy_.data_path(n).string() + " is " + std::to_string(size) + " bytes, shorter than the " +
                         std::to_string(known->second.size) +
                         " this copy uploaded; a published file is never replaced by a shorter one");
      if (known != stored.end() && copy_.is_own(n) && copy_.holds_uncommitted(n, size) && !pushed_now_.contains(n)) {
        stale.push_back(n);
        continue;
      }
      if (listed != objects.end() && known != stored.end() && listed->second.etag == known->second.etag &&
          listed->second.size == size)
        continue;
      changed.push_back(n);
    }
    auto move_to_fresh_name = [&](file_id n, const std::string& why) {
      copy_.raise_next_file(bucket_.highest(objects, copy_.writer()) + 1);
      for (const auto& [m, size] : copy_.data_files()) copy_.raise_next_past(m);
      const file_id fresh = copy_.own(copy_.next_file());
      log(opt_.log, log_level::info,
          "upload: " + copy_.data_path(n).string() + " becomes " + format::data_file_name(fresh) + ": " + why);
      renumber(n, fresh);
      stored[fresh] = {copy_.size_of(fresh).value_or(0),
                       store_.put_file(bucket_.data_key(fresh), copy_.data_path(fresh), put_condition::when_absent())};
      pushed_now_.insert(fresh);
    };
    for (auto n : stale)
      move_to_fresh_name(n, "an earlier upload of it was never committed, so gc() may delete that object");
    for (auto n : put_files(changed, objects)) {
      if (settle_as_ours(n)) continue;
      move_to_fresh_name(n, "the store's " + bucket_.data_key(n) + " holds other bytes");
    }
  }

  // Uploads these local data files, `concurrency` at once: one the store lacks with
  // If-None-Match: *, one this copy uploaded before with If-Match on that upload's ETag.
  // Records what the store now holds; returns the files whose name the store holds with
  // bytes this copy cannot vouch for (a lost condition, or an outcome left unknown).
  std::vector<file_id> put_files(const std::vector<file_id>& numbers, const object_map& objects) {
    struct job {
      file_id n;
      std::uint64_t size;
      put_condition condition;
    };
    std::vector<job> jobs;
    std::vector<file_id> taken;
    auto& stored = copy_.state().stored;
    for (auto n : numbers) {
      const auto known = stored.find(n);
      const auto listed = objects.find(n);
      const std::uint64_t size = copy_.size_of(n).value_or(0);
      if (listed == objects.end())
        jobs.push_back({n, size, opt_.fenced ? put_condition::when_absent() : put_condition{}});
      else if (known != stored.end() && listed->second.etag == known->second.etag)
        jobs.push_back({n, size, opt_.fenced ? put_condition::when_matching(known->second.etag) : put_condition{}});
      else
        taken.push_back(n);
    }
    std::uint64_t total = 0;
    for (const auto& j : jobs) total += j.size;
    progress_meter meter(opt_.progress, "upload", total);
    std::vector<char> lost(jobs.size(), 0);
    std::mutex record_mutex;
    parallel_for(jobs.size(), opt_.concurrency, [&](std::size_t i) {
      const job& j = jobs[i];
      {
        std::lock_guard lock(record_mutex);
        attempted_now_.insert(j.n);
      }
      try {
        const std::string etag = store_.put_file(bucket_.data_key(j.n), copy_.data_path(j.n), j.condition);
        std::lock_guard lock(record_mutex);
        stored[j.n] = {j.size, etag};
        pushed_now_.insert(j.n);
      } catch (const conflict_error&) {
        lost[i] = 1;
      } catch (const store_error& e) {
        if (!e.may_have_applied()) throw;
        lost[i] = 1;
      }
      meter.report(j.size);
    });
    for (std::size_t i = 0; i < jobs.size(); ++i)
      if (lost[i]) taken.push_back(jobs[i].n);
    return taken;
  }

  // Local data file n's name is held in the store by bytes this copy cannot vouch for.
  // If they are ours and this call put them (a lost response), or gone, the store is
  // brought to our bytes and this returns true. Otherwise this returns false, and the file
  // moves to a fresh name: another writer's bytes, or ours (or a prefix of ours) put by an
  // earlier call, an object that may be older than gc's grace, which a gc that listed it
  // as garbage may be deleting right now (rewriting it under its name would not stop that).
  bool settle_as_ours(file_id n) {
    const std::string local = file(copy_.data_path(n), O_RDONLY).read_all();
    const auto remote = store_.get(bucket_.data_key(n));
    std::string etag;
    if (!remote)
      etag = store_.put_file(bucket_.data_key(n), copy_.data_path(n), put_condition::when_absent());
    else if (remote->data == local && attempted_now_.contains(n))
      etag = remote->etag;
    else
      return false;
    copy_.state().stored[n] = {local.size(), etag};
    pushed_now_.insert(n);
    return true;
  }

  // Commits the index encode() returns as the published index.idx. save(bytes) saves it
  // in the working copy first (when there is one), with the note that its commit is under
  // way. Fenced, a lost race calls rebase(published) (the winner's index, or nullopt when
  // the store has none now) for the engine to apply this copy's uncommitted writes on top,
  // and tries again after a random pause; without `may_rebase`, or once
  // options::rebase_timeout has passed, it throws conflict_error and the writes stay in
  // the working copy, unpublished. Returns how many rebases ran.
  template <class Encode, class Save, class Rebase>
  int commit(Encode&& encode, Save&& save, Rebase&& rebase, bool may_rebase) {
    const auto deadline = std::chrono::steady_clock::now() + opt_.rebase_timeout;
    for (int rebases = 0;; ++rebases) {
      try {
        commit_once(encode(), save);
        return rebases;
      } catch (const conflict_error& e) {
        if (!may_rebase || std::chrono::steady_clock::now() >= deadline)
          throw_conflict("upload: another writer committed " + bucket_.index_key() + " first" +
                         (may_rebase ? " " + std::to_string(rebases + 1) + " times in a row, for " +
                                           std::to_string(opt_.rebase_timeout.count()) + " ms (options::rebase_timeout)"
                                     : std::string()) +
                         "; nothing was lost: the writes stay in the working copy, unpublished, and upload() "
                         "applies them on top of the winner's index (" +
                         e.what() + ")");
        // Writers that lost together would race again at once: a pause drawn uniformly up
        // to a bound that doubles to a second (full jitter), drawn fresh each time (a
        // seeded generator would be copied into forked processes and pause them all alike).
        const auto bound = std::min<std::uint64_t>(1000, 4ull << std::min(rebases, 8));
        std::this_thread::sleep_for(std::chrono::milliseconds(std::random_device{}() % (bound + 1)));
        rebase(bucket_.get_index());
      }
    }
  }

 private:
  template <class Save>
  void commit_once(const std::string& index, Save& save) {
    auto& state = copy_.state();
    const bool was_unpublished = state.unpublished;
    if (copy_.exists()) {
      state.publishing = digest::of(index);
      state.publishing_at = copy_.end_position();
      state.unpublished = false;
      save(index);
    }
    put_condition condition;
    if (opt_.fenced)
      condition = state.published_etag.empty() ? put_condition::when_absent()
                                               : put_condition::when_matching(state.published_etag);
    bool unknown = false;
    try {
      state.published_etag = bucket_.commit_index(index, condition, &unknown);
    } catch (...) {
      // The copy holds what it held before: writes never published only if it had them.
      // An unknown outcome keeps its note (the next commit or open settles it by reading
      // back; a copy with writes stays unpublished meanwhile, as it was).
      state.unpublished = was_unpublished;
      if (copy_.exists() && !unknown) {
        state.publishing.reset();
        state.publishing_at.reset();
        try {
          copy_.write_state();
        } catch (const error&) {  // the note stays; open settles it by reading back
        }
      }
      throw;
    }
    state.publishing.reset();
    state.publishing_at.reset();
    state.unpublished = false;
    state.published_changes = bucket_.changes_of(index);
    if (copy_.exists()) {
      copy_.mark_committed();
      copy_.write_state();
    }
  }

  Store& store_;
  const bucket<Store>& bucket_;
  working_copy& copy_;
  const options& opt_;
  std::set<file_id> pushed_now_;     // the files this upload() or compact() call put
  std::set<file_id> attempted_now_;  // ... or tried to put, the outcome unknown
  bool fencing_checked_ = false;     // begin() found the store's conditional writes honoured
};

}  // namespace detail
}  // namespace v0
}  // namespace s4db
