// What basic_db::stats() and basic_db::verify() report.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "format/entry.hpp"

namespace s4db {
inline namespace v0 {

struct db_stats {
  std::size_t keys = 0;
  std::size_t files = 0;         // data files, local or in the store
  std::size_t local_files = 0;   // of which local
  std::uint64_t file_bytes = 0;  // their total size, headers included
  std::uint64_t live_bytes = 0;  // the entries the index points at
  std::size_t writers = 0;       // writer namespaces among the data files
  // Data objects in the store that the index does not reference: another writer's upload
  // not yet committed, or what a crash or a lost race left (gc() deletes the old ones).
  std::uint64_t garbage_bytes = 0;
  std::size_t garbage_files = 0;
  // The store holds a published index. Data objects without one are a first upload still
  // in flight, or an index that was lost (rebuild_index() recovers the keys).
  bool index_published = false;
  // Format 3 (0 segments and no checkpoints on formats 1 and 2): the index segments the
  // manifest lists, and the checkpoints it pins.
  int format_version = 2;
  std::size_t segments = 0;
  std::vector<std::string> checkpoints;

  // Overwritten entries and tombstones in the files the index names: what compact() would
  // reclaim (the garbage is gc()'s, not compaction's).
  std::uint64_t dead_bytes() const {
    const std::uint64_t kept = live_bytes + (files - std::min(files, garbage_files)) * format::file_header_size;
    const std::uint64_t named = file_bytes > garbage_bytes ? file_bytes - garbage_bytes : 0;
    return named > kept ? named - kept : 0;
  }
};

// One thing verify() found wrong: in which object (prefix + file name), where, and what.
struct verify_problem {
  std::string object;
  std::uint64_t offset = 0;
  std::string what;
};

}  // namespace v0
}  // namespace s4db
