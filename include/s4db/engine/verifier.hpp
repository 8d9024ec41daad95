// Looking without changing: verify() reads every data file (the local copy, else the
// store's) and checks each entry and each index entry; stats() counts keys, files,
// writers, live, dead and garbage bytes. Stateless. verify() runs under the db's
// exclusive lock (no appends while files are read), stats() under the shared one.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../detail/file.hpp"
#include "../detail/progress.hpp"
#include "../error.hpp"
#include "../format/entry.hpp"
#include "../inspect.hpp"
#include "context.hpp"
#include "published_index.hpp"
#include "values.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

template <class Store, class Codec, published_index Published>
class verifier {
 public:
  verifier(const context<Store>& c, const Published& index, const values<Codec>& values)
      : c_(c), index_(index), values_(values) {}

  db_stats stats() const {
    std::map<file_id, std::uint64_t> sizes;
    const auto objects = c_.bucket.data_objects();
    for (const auto& [n, info] : objects) sizes[n] = info.size;
    db_stats s;
    for (const auto& [n, size] : c_.copy.data_files()) {
      sizes[n] = size;
      ++s.local_files;
    }
    s.keys = index_.size();
    s.files = sizes.size();
    std::set<std::uint32_t> writers;
    for (const auto& [n, size] : sizes) {
      s.file_bytes += size;
      writers.insert(writer_of(n));
    }
    s.writers = writers.size();
    for (const auto& element : index_) s.live_bytes += element.second.length;
    const auto referenced = index_.referenced_files();
    for (const auto& [n, info] : objects)
      if (!referenced.contains(n)) {
        s.garbage_bytes += info.size;
        ++s.garbage_files;
      }
    s.index_published = c_.bucket.head_index().has_value();
    return s;
  }

  std::vector<verify_problem> verify() const {
    std::map<file_id, std::uint64_t> sizes;
    for (const auto& [n, info] : c_.bucket.data_objects()) sizes[n] = info.size;
    std::set<file_id> local;
    for (const auto& [n, size] : c_.copy.data_files()) {
      sizes[n] = size;
      local.insert(n);
    }
    // The index's entries per file, by offset.
    std::map<file_id, std::vector<std::pair<location, std::string_view>>> expected;
    for (const auto& element : index_)
      expected[element.second.file].emplace_back(element.second, std::string_view(element.first));
    for (auto& [n, entries] : expected)
      std::sort(entries.begin(), entries.end(),
                [](const auto& a, const auto& b) { return a.first.offset < b.first.offset; });

    std::vector<verify_problem> problems;
    std::uint64_t total = 0;
    for (const auto& [n, size] : sizes) total += size;
    detail::progress_meter meter(c_.opt.progress, "verify", total);
    for (const auto& [n, size] : sizes) {
      const std::string name = c_.bucket.data_key(n);
      std::string bytes;
      if (local.contains(n)) {
        bytes = detail::file(c_.copy.data_path(n), O_RDONLY).read_all();
      } else if (auto o = c_.store.get(name)) {
        bytes = std::move(o->data);
      } else {
        problems.push_back({name, 0, "listed, but gone when read"});
        continue;
      }
      meter.report(bytes.size());
      const auto& want = expected[n];
      const auto after = sizes.upper_bound(n);
      verify_file(n, name, bytes, after == sizes.end() || writer_of(after->first) != writer_of(n), want, problems);
    }
    for (const auto& [n, entries] : expected)
      if (!sizes.contains(n))
        for (const auto& [loc, key] : entries)
          problems.push_back(
              {c_.bucket.data_key(n), loc.offset,
               "index entry for key '" + std::string(key) + "' names a file neither local nor in the store"});
    return problems;
  }

 private:
  // One data file's bytes against the index entries that point into it.
  void verify_file(file_id n, const std::string& name, std::string_view bytes, bool newest,
                   const std::vector<std::pair<location, std::string_view>>& want,
                   std::vector<verify_problem>& problems) const {
    try {
      if (format::parse_file_header(bytes, name).sequence != sequence_of(n))
        problems.push_back({name, 5, "header names another file number"});
    } catch (const corruption_error& e) {
      problems.push_back({name, 0, e.what()});
      return;
    }
    std::size_t next = 0;  // in want
    auto index_entry = [&](std::size_t i) { return "index entry for key '" + std::string(want[i].second) + "'"; };
    std::uint64_t pos = format::file_header_size;
    while (pos < bytes.size()) {
      const auto parsed = format::parse_entry(bytes.substr(static_cast<std::size_t>(pos)));
      const auto& [status, entry] = parsed;
      for (; next < want.size() && want[next].first.offset < pos; ++next)
        problems.push_back({name, want[next].first.offset, index_entry(next) + " points inside another entry"});
      if (status != format::parse_status::ok) {
        // Reported once, with the live keys it takes (those whose entry starts here); the
        // scan goes on at the next entry the index names, so damage does not hide the
        // healthy entries after it.
        const bool at_end = format::is_torn_tail(bytes, static_cast<std::size_t>(pos));
        std::string what = std::string(format::describe(status)) +
                           (newest && at_end ? " (a torn last entry: rebuild-index drops it)" : "");
        std::string keys;
        for (; next < want.size() && want[next].first.offset == pos; ++next)
          keys += (keys.empty() ? "'" : ", '") + std::string(want[next].second) + "'";
        problems.push_back(
            {name, pos, what + (keys.empty() ? "; no live key's entry starts here" : "; it holds key " + keys)});
        if (next == want.size()) break;
        pos = want[next].first.offset;
        continue;
      }
      for (; next < want.size() && want[next].first.offset == pos; ++next) {
        const location& loc = want[next].first;
        if (entry.key != want[next].second)
          problems.push_back({name, pos, index_entry(next) + " points at the entry of another key"});
        else if (loc.length != entry.size)
          problems.push_back({name, pos,
                              index_entry(next) + " gives length " + std::to_string(loc.length) + ", the entry has " +
                                  std::to_string(entry.size)});
        else if (std::string value; values_.decode(entry, value) == value_status::undecodable)
          problems.push_back({name, pos, index_entry(next) + ": the value does not decode"});
        else if (value_status::ok != values_.decode(entry, value))
          problems.push_back(
              {name, pos,
               index_entry(next) + " points at an entry with flags " + values<Codec>::hex_byte(entry.flags)});
      }
      pos += entry.size;
    }
    for (; next < want.size(); ++next)
      problems.push_back({name, want[next].first.offset, index_entry(next) + " points past the last whole entry"});
  }

  const context<Store>& c_;
  const Published& index_;
  const values<Codec>& values_;
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
