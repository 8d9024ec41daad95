// The read path: get, get_many and items() find a key's location in the index under the
// db's shared lock, drop it, and read exactly the entry's bytes: a view of the local
// mapping, a pread, or one ranged read from the store. A read whose data object vanished
// (compacted by this db, or by another writer and collected) looks the key up once more,
// adopting a newer published index when there is one. Owns nothing but its use of the
// mapped files; takes the lock itself (context.hpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../detail/file.hpp"
#include "../detail/mapped_file.hpp"
#include "../detail/parallel.hpp"
#include "../error.hpp"
#include "../format/entry.hpp"
#include "committer.hpp"
#include "context.hpp"
#include "item_range.hpp"
#include "mapped_files.hpp"
#include "pins.hpp"
#include "published_index.hpp"
#include "snapshot.hpp"
#include "values.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

template <class Store, class Codec, published_index Published>
class reader {
 public:
  using items_type = item_range<reader>;
  using item_views_type = item_range<reader, true>;
  using snapshot_type = snapshot<reader>;

  reader(context<Store>& c, const Published& index, const values<Codec>& values, const mapped_files& files,
         committer<Store, Codec, Published>& committer)
      : c_(c), index_(index), values_(values), files_(files), committer_(committer) {}

  std::optional<std::string> get(std::string_view key) const {
    for (int attempt = 0;; ++attempt) {
      location loc;
      std::shared_ptr<const detail::mapped_file> local;
      {
        std::shared_lock lock(c_.mutex);
        c_.check_open();
        const auto found = index_.find(key);
        if (!found) return std::nullopt;
        loc = *found;
        local = files_.holding(loc);
      }
      try {
        return read_value(key, loc, local.get());
      } catch (const store_error& e) {
        if (attempt > 0 || !e.not_found() || !moved_since(key, loc)) {
          // A local file shorter than the index says, with no newer index to read and no
          // copy in the store: that is damage, not a stale copy.
          if (local && e.not_found()) detail::throw_corruption(e.what());
          throw;
        }
      }
    }
  }

  std::vector<std::optional<std::string>> get_many(const std::vector<std::string_view>& keys) const {
    struct wanted_entry {
      std::size_t slot;
      location loc;
    };
    std::vector<std::optional<std::string>> out(keys.size());
    std::vector<wanted_entry> remote;
    std::vector<std::pair<wanted_entry, std::shared_ptr<const detail::mapped_file>>> local;
    {
      std::shared_lock lock(c_.mutex);
      c_.check_open();
      for (std::size_t i = 0; i < keys.size(); ++i) {
        const auto found = index_.find(keys[i]);
        if (!found) continue;
        if (auto file = files_.holding(*found))
          local.push_back({{i, *found}, std::move(file)});
        else
          remote.push_back({i, *found});
      }
    }
    for (const auto& [entry, file] : local) {
      try {
        out[entry.slot] = read_value(keys[entry.slot], entry.loc, file.get());
      } catch (const store_error& e) {  // a stale local copy, the store's object gone
        if (!e.not_found()) throw;
        out[entry.slot] = get(keys[entry.slot]);
      }
    }

    // Runs of entries that touch or overlap in one file become one ranged read, up to 8 MiB.
    std::sort(remote.begin(), remote.end(), [](const auto& a, const auto& b) {
      return std::tie(a.loc.file, a.loc.offset) < std::tie(b.loc.file, b.loc.offset);
    });
    constexpr std::uint64_t max_request = 8 * 1024 * 1024;
    struct run {
      std::size_t first, last;  // [first, last) in remote
      location span;
    };
    std::vector<run> runs;
    for (std::size_t i = 0; i < remote.size();) {
      const location& head = remote[i].loc;
      std::uint64_t end = head.offset + head.length;
      std::size_t j = i + 1;
      for (; j < remote.size() && remote[j].loc.file == head.file && remote[j].loc.offset <= end; ++j) {
        const std::uint64_t grown = std::max(end, remote[j].loc.offset + remote[j].loc.length);
        if (grown - head.offset > max_request) break;
        end = grown;
      }
      runs.push_back({i, j, {head.file, head.offset, static_cast<std::uint32_t>(end - head.offset)}});
      i = j;
    }
    std::vector<char> gone(runs.size(), 0);  // the object vanished under the read (compaction)
    detail::parallel_for(runs.size(), c_.opt.concurrency, [&](std::size_t r) {
      try {
        with_entry(runs[r].span, nullptr, [&](std::string_view bytes) {
          for (std::size_t i = runs[r].first; i < runs[r].last; ++i) {
            const auto& e = remote[i];
            out[e.slot] = values_.decode_entry(keys[e.slot], c_.where(e.loc),
                                               bytes.substr(e.loc.offset - runs[r].span.offset, e.loc.length));
          }
        });
      } catch (const store_error& e) {
        if (!e.not_found()) throw;
        gone[r] = 1;
      }
    });
    for (std::size_t r = 0; r < runs.size(); ++r)
      if (gone[r])
        for (std::size_t i = runs[r].first; i < runs[r].last; ++i) out[remote[i].slot] = get(keys[remote[i].slot]);
    return out;
  }

  // items()'s snapshot of the index, taken under the db's lock (held by the caller). Local
  // streams the local data files in file order (not for an ordered index: its keys come in order).
  template <class Range = items_type>
  Range items(const items_options& how) const {
    constexpr bool sorted = requires { typename Published::map_type::key_compare; };
    if (how.local && !sorted && c_.copy.exists()) return Range(this, how.salvage, live_files());
    std::vector<std::pair<std::string, location>> snapshot;
    snapshot.reserve(index_.size());
    for (const auto& element : index_) snapshot.emplace_back(element.first, element.second);
    return Range(this, how.salvage, std::move(snapshot));
  }

  // scan()'s list: the keys in the span, in order, values read lazily as items()'s are.
  // Under the db's lock (held by the caller).
  items_type scan(const scan_options& how) const {
    auto entries = index_.entries_in(key_span::of(how));
    const std::size_t n = entries.size();
    return items_type(this, false, std::make_shared<const entry_list>(std::move(entries)), 0, n, how.reverse);
  }

  // snapshot(): every (key, location) in key order, the local files they lie in mapped,
  // and every file they name registered against this db's gc. Under the db's lock.
  snapshot_type take_snapshot(const std::shared_ptr<pin_registry>& registry) const {
    auto entries = std::make_shared<const entry_list>(index_.entries_in(key_span{}));
    std::map<file_id, location> furthest;  // per file, the entry that ends last
    for (const auto& [key, loc] : *entries) {
      auto [it, fresh] = furthest.try_emplace(loc.file, loc);
      if (!fresh && loc.offset + loc.length > it->second.offset + it->second.length) it->second = loc;
    }
    std::set<file_id> named;
    std::unordered_map<file_id, std::shared_ptr<const detail::mapped_file>> mapped;
    for (const auto& [n, loc] : furthest) {
      named.insert(n);
      if (auto local = files_.holding(loc)) mapped.emplace(n, std::move(local));
    }
    return snapshot_type(this, std::move(entries),
                         std::make_shared<const pinned_files>(registry, std::move(named), std::move(mapped)));
  }

  items_type snapshot_range(std::shared_ptr<const entry_list> entries, std::size_t first, std::size_t count,
                            bool reverse, std::shared_ptr<const pinned_files> pins) const {
    return items_type(this, false, std::move(entries), first, count, reverse, std::move(pins));
  }

  // A snapshot's read: through the files it pinned, else from the store; never from a
  // newer index (an object gone from the store is an error, not a reason to read another value).
  std::string read_pinned(std::string_view key, const location& loc, const pinned_files& pins) const {
    {
      std::shared_lock lock(c_.mutex);
      c_.check_open();
    }
    try {
      return read_value(key, loc, pins.local(loc.file));
    } catch (const store_error& e) {
      if (!e.not_found()) throw;
      detail::throw_store(c_.where(loc) +
                              ": a snapshot's data object is gone from the store (deleted by the gc of "
                              "another db; this db's gc() spares what its snapshots read): " +
                              e.what(),
                          404, false);
    }
  }

  // Calls use(bytes) with exactly the entry at loc: a view of the local mapping when it
  // covers the entry, else bytes read with pread, else one ranged read from the store.
  template <class Use>
  decltype(auto) with_entry(const location& loc, const detail::mapped_file* local, Use&& use) const {
    if (local && local->covers(loc.offset, loc.length)) return use(local->view(loc.offset, loc.length));
    std::string bytes = local ? local->read_at(loc.offset, loc.length) : std::string();
    // A local file that ends before the entry is an older copy of the published one (names
    // are never reused, so the bytes at an offset never change): the store has the rest.
    // When the store no longer has it either (compacted away, and collected), the caller
    // gets store_error not_found, as without a local copy, and reads the newer index.
    if (bytes.size() != loc.length) {
      try {
        bytes = c_.store.get_range(c_.bucket.data_key(loc.file), loc.offset, loc.length);
      } catch (const store_error& e) {
        if (!local || !e.not_found()) throw;
        detail::throw_store(c_.where(loc) + ": the local file ends " + std::to_string(loc.length - bytes.size()) +
                                " bytes before the entry the index names, and the store has no copy",
                            404, false);
      }
    }
    if (bytes.size() != loc.length)
      detail::throw_corruption(c_.where(loc) + ": the file ends " + std::to_string(loc.length - bytes.size()) +
                               " bytes before the entry the index names");
    return use(std::string_view(bytes));
  }

 private:
  friend items_type;
  friend item_views_type;

  std::string read_value(std::string_view key, const location& loc, const detail::mapped_file* local) const {
    return with_entry(loc, local,
                      [&](std::string_view bytes) { return values_.decode_entry(key, c_.where(loc), bytes); });
  }

  // After a read found the data object gone: whether the key has since moved (this db
  // compacted), or whether the published index changed (another writer compacted) and was
  // adopted, this copy's unpublished writes on top. Either way, reading again may work.
  bool moved_since(std::string_view key, const location& loc) const {
    {
      std::shared_lock lock(c_.mutex);
      const auto found = index_.find(key);
      if (!found || !(*found == loc)) return true;
    }
    std::unique_lock lock(c_.mutex);
    return committer_.refresh();
  }

  // items({.local = true})'s snapshot: per data file (in id order), where its live entries
  // start, and its bytes up to the last of them, mapped. Returns the files and the count.
  std::pair<std::vector<live_file>, std::size_t> live_files() const {
    std::map<file_id, std::pair<live_file, std::uint64_t>> files;  // with the end of its last live entry
    std::pair<live_file, std::uint64_t>* current = nullptr;
    for (const auto& element : index_) {
      const location& loc = element.second;
      if (!current || current->first.n != loc.file) {
        current = &files[loc.file];
        current->first.n = loc.file;
      }
      auto& starts = current->first.starts;
      const auto word = static_cast<std::size_t>(loc.offset / 64);
      if (starts.size() <= word) starts.resize(std::max(word + 1, starts.size() + starts.size() / 2));
      starts[word] |= std::uint64_t{1} << (loc.offset % 64);
      current->second = std::max(current->second, loc.offset + loc.length);
    }
    std::vector<live_file> out;
    out.reserve(files.size());
    for (auto& [n, entry] : files) {
      auto& f = entry.first;  // not a structured binding: clang 14 cannot capture one
      const std::uint64_t end = entry.second;
      // A mapping of its own, read ahead whole: the file is about to be read end to end.
      if (c_.copy.exists())
        if (auto opened = detail::file::open_existing(c_.copy.data_path(n)))
          f.mapped =
              std::make_shared<const detail::mapped_file>(std::move(*opened), detail::mapped_file::mode::read_ahead);
      if (f.mapped && f.mapped->covers(0, end)) {
        f.bytes = f.mapped->view(0, end);
      } else {  // not mapped (or the local copy is older): read, from the store if need be
        with_entry(location{n, 0, static_cast<std::uint32_t>(end)}, f.mapped.get(),
                   [&](std::string_view bytes) { f.read.assign(bytes); });
      }
      out.push_back(std::move(f));
      if (out.back().bytes.empty()) out.back().bytes = out.back().read;  // after the move: a view of where it lies
    }
    return {std::move(out), index_.size()};
  }

  // The live entry at `offset` of a streamed file, into `out` (key, value): copies, or views
  // of the file's bytes (a value that is not stored raw is decoded into `scratch`).
  template <class Out>
  void decode_streamed(const live_file& f, std::uint64_t offset, Out& out, std::string& scratch) const {
    constexpr bool views = std::is_same_v<Out, std::pair<std::string_view, std::string_view>>;
    const auto [status, entry] = format::parse_entry(f.bytes.substr(static_cast<std::size_t>(offset)));
    const location loc{f.n, offset, static_cast<std::uint32_t>(entry.size)};
    if (status != format::parse_status::ok) detail::throw_corruption(c_.where(loc) + ": " + format::describe(status));
    value_status decoded;
    if constexpr (views)
      decoded = values_.decode_view(entry, scratch, out.second);
    else
      decoded = values_.decode(entry, out.second);
    if (decoded != value_status::ok) {  // decode_entry says what is wrong
      scratch =
          values_.decode_entry(entry.key, c_.where(loc), f.bytes.substr(static_cast<std::size_t>(offset), entry.size));
      out.second = scratch;
    }
    out.first = entry.key;
  }

  // items()'s read of a snapshot entry. When the data object vanished (another writer
  // compacted), the key is read as get() reads it, with the index read again.
  std::string read_snapshot_value(const std::string& key, const location& loc) const {
    std::shared_ptr<const detail::mapped_file> local;
    {
      std::shared_lock lock(c_.mutex);
      c_.check_open();
      local = files_.holding(loc);
    }
    try {
      return read_value(key, loc, local.get());
    } catch (const store_error& e) {
      if (!e.not_found()) throw;
      if (auto value = get(key)) return *std::move(value);
      throw;
    }
  }

  context<Store>& c_;
  const Published& index_;
  const values<Codec>& values_;
  const mapped_files& files_;
  committer<Store, Codec, Published>& committer_;
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
