// merge_segments(store, opt): format 3's segment merging as a process that is not a
// writer (s4db merge runs it): no local directory, no data file read, no index in memory;
// the segments of the run it merges, one segment written, the manifest committed under
// If-Match (engine/segment_merger.hpp). basic_db::merge_segments() is the same from a db.
#pragma once

#include "detail/bucket.hpp"
#include "engine/segment_merger.hpp"
#include "engine/writer.hpp"
#include "error.hpp"
#include "options.hpp"

namespace s4db {
inline namespace v0 {

// Throws usage_error unless opt.format_version is 3; store and corruption errors as a
// db's calls do. Its segments are named in a random writer namespace of their own.
template <class Store>
merge_report merge_segments(Store& store, const options& opt) {
  if (opt.format_version != 3)
    detail::throw_usage("merge_segments: format " + std::to_string(opt.format_version) +
                        " has one index object, not segments; nothing was changed");
  detail::bucket<Store> bucket(store, opt.prefix, 3);
  return engine::segment_merger<Store>(bucket, engine::random_writer(), opt.log).merge();
}

}  // namespace v0
}  // namespace s4db
