// Reading the working copy's data files back entry by entry: open's replay of what was
// appended after the saved index, a rebuild, a rebase's list of this copy's uncommitted
// writes and the publisher's renumbering all go through replay_file.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../concepts.hpp"
#include "../detail/file.hpp"
#include "../detail/log.hpp"
#include "../detail/working_copy.hpp"
#include "../error.hpp"
#include "../format/entry.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

// Whether files[i] is the newest local file of its writer (the only one a crash can tear).
inline bool newest_of_its_writer(const std::vector<std::pair<file_id, std::uint64_t>>& files, std::size_t i) {
  return i + 1 == files.size() || writer_of(files[i + 1].first) != writer_of(files[i].first);
}

// Calls on_entry(key, &location) for each put and on_entry(key, nullptr) for each
// tombstone of data file n from `from` (0: from its header). A torn last batch of the
// newest file (nothing valid after it) is cut off and logged; any other bad entry is
// corruption_error and no byte is cut. Returns whether any entry was found.
template <class OnEntry>
bool replay_file(detail::working_copy& copy, const log_sink& log, file_id n, std::uint64_t from, bool newest,
                 OnEntry&& on_entry) {
  const auto path = copy.data_path(n);
  detail::file f(path, O_RDWR);
  const std::string name = path.string();
  const std::uint64_t size = f.size();
  // Only the bytes from `from` on are read (the header too when starting before it).
  const std::uint64_t base = from < format::file_header_size ? 0 : std::min(from, size);
  const std::string bytes = f.read_at(base, static_cast<std::size_t>(size - base));
  if (from < format::file_header_size) {
    if (bytes.size() < format::file_header_size && newest) {
      detail::log(log, log_level::warning, name + ": torn file header; the file is removed");
      copy.remove_data_file(n);
      return false;
    }
    if (format::parse_file_header(bytes, name).sequence != sequence_of(n))
      detail::throw_corruption(name + ": its header names another file number");
    from = format::file_header_size;
  }
  bool applied = false;
  std::size_t pos = static_cast<std::size_t>(std::min<std::uint64_t>(from, size) - base);  // in bytes
  while (pos < bytes.size()) {
    const auto [status, entry] = format::parse_entry(std::string_view(bytes).substr(pos));
    if (status != format::parse_status::ok) {
      const std::uint64_t at = base + pos;
      if (!(newest && format::is_torn_tail(bytes, pos)))
        detail::throw_corruption(name + " at offset " + std::to_string(at) + ": " + format::describe(status) +
                                 (newest ? ", and whole entries follow it" : "") +
                                 "; nothing was cut (verify() lists every damaged entry)");
      detail::log(log, log_level::warning,
                  name + ": torn last entry at offset " + std::to_string(at) + " (" + format::describe(status) + ", " +
                      std::to_string(bytes.size() - pos) + " bytes) dropped, not indexed");
      f.truncate(at);
      break;
    }
    if (entry.flags == format::flag_tombstone) {
      on_entry(entry.key, nullptr);
    } else {
      const location loc{n, base + pos, static_cast<std::uint32_t>(entry.size)};
      on_entry(entry.key, &loc);
    }
    applied = true;
    pos += entry.size;
  }
  return applied;
}

// replay_file into an index (or any map): puts set, tombstones erase.
template <class Published>
bool replay_file_into(detail::working_copy& copy, const log_sink& log, file_id n, std::uint64_t from, bool newest,
                      Published& into) {
  return replay_file(copy, log, n, from, newest, [&](std::string_view key, const location* loc) {
    if (loc)
      into.set(key, *loc);
    else
      into.erase(key);
  });
}

}  // namespace engine
}  // namespace v0
}  // namespace s4db
