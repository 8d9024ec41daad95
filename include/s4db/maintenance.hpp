// Maintenance of a published database by a process that is not a writer: no local
// directory, no index in memory, no data file read or written.
//
//   merge_segments(store, opt)     format 3's segment merging (engine/segment_merger.hpp);
//                                  basic_db::merge_segments() is the same from a db
//   rewrite_sparse_files(store, opt) format 3: the live entries of data files less than half
//                                  live moved to a new one (engine/file_rewriter.hpp)
//   checkpoint(store, opt, name)   format 3's checkpoints (engine/checkpoints.hpp), as
//   drop_checkpoint(...)           basic_db::checkpoint() and drop_checkpoint()
//   convert_format(store, opt, to) format 2 <-> 3, rewriting the index only, fenced against
//                                  writers of either format (engine/converter.hpp)
//
// s4db merge, compact (format 3, without --local-dir: a merge and a rewrite), checkpoint,
// drop-checkpoint and convert run them.
#pragma once

#include <string>

#include "detail/bucket.hpp"
#include "engine/checkpoints.hpp"
#include "engine/converter.hpp"
#include "engine/file_rewriter.hpp"
#include "engine/segment_merger.hpp"
#include "engine/writer.hpp"
#include "error.hpp"
#include "options.hpp"

namespace s4db {
inline namespace v0 {

namespace detail {
inline void require_format_3(const char* what, const options& opt, const char* otherwise) {
  if (opt.format_version != 3)
    throw_usage(std::string(what) + ": format " + std::to_string(opt.format_version) + otherwise +
                "; nothing was changed");
}
}  // namespace detail

// Throws usage_error unless opt.format_version is 3; store and corruption errors as a
// db's calls do. Its segments are named in a random writer namespace of their own.
template <class Store>
merge_report merge_segments(Store& store, const options& opt) {
  detail::require_format_3("merge_segments", opt, " has one index object, not segments");
  detail::bucket<Store> bucket(store, opt.prefix, 3);
  return engine::segment_merger<Store>(bucket, engine::random_writer(), opt.log, opt.clock).merge();
}

// Format 3: rewrites the data files whose live entries fill less than half of them (their
// live entries into one new file, committed as a relocation segment that never shadows a
// newer write). usage_error unless opt.format_version is 3. Reads each such file whole.
template <class Store>
rewrite_report rewrite_sparse_files(Store& store, const options& opt) {
  detail::require_format_3("rewrite_sparse_files", opt,
                           " has no manifest to list files by (compact() rewrites formats 1 and 2)");
  detail::bucket<Store> bucket(store, opt.prefix, 3);
  return engine::file_rewriter<Store>(bucket, engine::random_writer(), opt.log, opt.clock, opt.inline_threshold)
      .rewrite();
}

// Format 3's checkpoints, as basic_db::checkpoint() and drop_checkpoint() make them.
template <class Store>
void checkpoint(Store& store, const options& opt, const std::string& name) {
  detail::bucket<Store> bucket(store, opt.prefix, 3);
  engine::checkpoints<Store>(bucket, opt.clock).create(name);
}

template <class Store>
bool drop_checkpoint(Store& store, const options& opt, const std::string& name) {
  detail::bucket<Store> bucket(store, opt.prefix, 3);
  return engine::checkpoints<Store>(bucket, opt.clock).drop(name).has_value();
}

// Converts the database under opt.prefix to format `to` (3 from 2, or 2 from 3; the other
// format is read from the store, opt.format_version is not used). usage_error, changing
// nothing, when it is in format `to` already, nothing is published, `to` is neither 2 nor
// 3, or (to 2) checkpoints are pinned; conflict_error when writers kept committing while
// it ran. Writers of the old format with unpublished writes refuse their next upload()
// afterwards (their writes stay in their working copies).
template <class Store>
convert_report convert_format(Store& store, const options& opt, int to) {
  engine::converter<Store> convert(store, opt.prefix, opt.log, opt.clock);
  if (to == 3) return convert.to_format_3();
  if (to == 2) return convert.to_format_2();
  detail::throw_usage("convert: format " + std::to_string(to) +
                      " is not one it converts to (2 or 3; format 1 databases are compacted into format 2 first)");
}

}  // namespace v0
}  // namespace s4db
