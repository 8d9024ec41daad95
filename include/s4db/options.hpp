// How a db is opened. `options` is an aggregate: set the fields you need, the rest keep
// the defaults documented beside them.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line

namespace s4db {
inline namespace v0 {

enum class log_level { debug, info, warning, error };

// Receives the library's log lines. Called from whichever thread did the work; must not
// throw. An empty sink means: warnings and errors go to std::cerr, nothing else.
using log_sink = std::function<void(log_level, std::string_view)>;
// A wall clock: options::clock.
using clock_source = std::function<std::chrono::system_clock::time_point()>;

// The start of the info line opening logs when it takes a newer published index (the
// store's, or the copy's writes rebased onto it), followed by the index's object key: a
// refresh() right after then has nothing left to adopt.
inline constexpr const char* opened_onto_newer_index = "open: adopted the newer published";

// How far a long operation (download, upload, compact, verify, fetch) has come, in bytes.
struct progress_event {
  std::string_view operation;
  std::uint64_t done = 0;
  std::uint64_t total = 0;
};

// Receives progress events, from whichever thread finished a transfer, one call at a time.
using progress_sink = std::function<void(const progress_event&)>;

// What opening does when the local working copy holds unpublished writes *and* the
// store's index.idx changed since that copy was taken from it.
enum class conflict_resolution {
  fail,        // throw conflict_error naming both sides (the default: nothing is lost)
  keep_local,  // open the working copy; the next upload() replaces the store's index
  take_store,  // discard the unpublished local writes and open the store's index
  rebase,      // open the store's index with the unpublished local writes applied on top
               // (as a fenced upload() does after losing a race); they stay unpublished
};

// What a write that returned survives (as LevelDB's WriteOptions::sync); docs/guarantees.md.
enum class sync_mode {
  none,         // a process crash; a power loss may lose writes since the last flush
  flush,        // flush(), close(), upload() and compact() fsync the data files (and the
                // directory) before the index that names them: a power loss keeps what
                // they returned
  every_write,  // each put/erase is on disk before it returns; concurrent writers share
                // one fsync (group commit)
};

struct options {
  // Object-key prefix of the database in the store, used as given ("my-db/" or "").
  std::string prefix{};
  // Where data files and the local index live. Without it a temporary directory is made
  // on the first call that needs a disk (see README, "local_dir").
  std::optional<std::filesystem::path> local_dir{};
  // Soft limit on a data file's size: an entry is never split, so one oversized entry
  // gets a file of its own.
  std::uint64_t max_file_size = 64 * 1024 * 1024;
  // The local index is saved on close/upload, and by flush() or a write once the bytes
  // appended since the last save pass the larger of this and the last saved index's size
  // (a save then costs the same per byte written at any size); opening replays at most
  // that much.
  std::uint64_t index_save_interval = 16 * 1024 * 1024;
  // With compact_index (the default), the periodic save is written by a background thread
  // from the last one and the appends since (engine/checkpointer.hpp), so no put waits for
  // it; false saves on the write path, as other index containers always do.
  bool background_checkpoint = true;
  conflict_resolution on_conflict = conflict_resolution::fail;
  // The format written: 2 (Python s4db 0.9 and later: writer namespaces, an index with a
  // checksum, values stored raw when compression does not shrink them), or 1 (the 0.5-0.8
  // format, for old readers: one namespace, so a commit that loses a race is a
  // conflict_error). Both are always read.
  int format_version = 2;
  // Format 3: after each upload() that leaves the index segments out of their size-tiered
  // shape, merge them on a thread of this db (merge_segments(), engine/segment_merger.hpp),
  // so reads and follows stay bounded without calling it. Off: merges happen when
  // merge_segments(), compact() or `s4db merge` is called.
  bool merge_in_background = false;
  // Format 3: an entry (header, key and value as the data file holds it) of at most this
  // many bytes is also copied into the index segment a commit writes, so that a reader
  // without the data file has it with the segment's block (SPEC section 8); 0: none.
  std::uint32_t inline_threshold = 128;
  // Format 3: open the state checkpoint(name) pinned, read-only (writes, upload(), compact(),
  // gc() and the like throw usage_error), without a local_dir.
  std::optional<std::string> checkpoint{};
  // Conditional writes (docs/guarantees.md, "Several writers"): data files are created
  // with If-None-Match: * and grown with If-Match, and the index commit is a
  // compare-and-swap on the ETag of the index this copy last loaded. false only for
  // stores without conditional writes, where concurrent commits can lose each other.
  bool fenced = true;
  // How long a fenced upload() goes on rebasing after lost races (each after a random
  // pause of up to a second) before it throws conflict_error, losing nothing. Contended
  // writers make progress: a loser retries at once on the winner's index.
  std::chrono::milliseconds rebase_timeout = std::chrono::seconds(60);
  // false: after each upload() and compact(), this copy's data files the store holds go
  // from local_dir, and reads of them are range GETs (as a follower's without them): the
  // working copy keeps its index, its writer namespace and its unpublished writes only
  // (the s4db tool's cached copy is one). true keeps them for local reads.
  bool keep_published_files = true;
  sync_mode sync = sync_mode::none;
  // How many transfers download(), upload(), items({.local = true}), compact() and
  // get_many() run against the store at once.
  std::size_t concurrency = 16;
  log_sink log{};
  // The wall clock gc(grace) ages objects by and format 3's manifests are stamped with
  // (empty: the system's). A simulation or a test may run a virtual one (LevelDB's Env
  // and SlateDB's SystemClock serve the same end).
  clock_source clock{};
  progress_sink progress{};
};

// For items(): with `local`, first download the data files the index references that
// are not local, then read every value from disk.
struct items_options {
  bool local = false;
  bool salvage = false;  // skip damaged entries (item_range::skipped() counts them) instead of throwing
};

// For scan(): the keys in [from, to) that start with prefix, in unsigned byte order
// (largest first with reverse). An empty range (to at or below from) yields nothing.
struct scan_options {
  std::string from{};               // first key, inclusive ("" = from the smallest)
  std::optional<std::string> to{};  // end, exclusive (nullopt = to the largest)
  std::string prefix{};             // only keys starting with it
  bool reverse = false;             // largest key first
};

// For download(): with `force`, drop unpublished local writes instead of refusing.
struct download_options {
  bool force = false;
};

// For upload(): with `rebase` (the default), a commit that lost the race to another writer
// reloads the published index, applies this copy's unpublished writes on top and tries
// again (for up to options::rebase_timeout); without it, the lost race throws
// conflict_error and nothing is lost.
struct upload_options {
  bool rebase = true;
};

// For rebuild_index(): with `from_store`, and no local data files, list and fetch the
// store's data files first.
struct rebuild_options {
  bool from_store = false;
};

}  // namespace v0
}  // namespace s4db
