// Fetching: download() (the working copy made a copy of the published database, staged
// and swapped in all or nothing, finished by open() after a crash midway) and the fetches
// of the data files a compaction or a local scan needs. Stateless beyond the staging
// directory it fills. Called under the db's exclusive lock.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "../detail/file.hpp"
#include "../detail/parallel.hpp"
#include "../detail/progress.hpp"
#include "../error.hpp"
#include "../format/names.hpp"
#include "committer.hpp"
#include "context.hpp"
#include "mapped_files.hpp"
#include "published_index.hpp"
#include "writer.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

template <class Store, class Codec, published_index Published>
class downloader {
 public:
  using object_map = std::map<file_id, object_info>;

  downloader(context<Store>& c, Published& index, writer<Store, Codec, Published>& writer, const mapped_files& files,
             committer<Store, Codec, Published>& committer)
      : c_(c), index_(index), writer_(writer), files_(files), committer_(committer) {}

  // download(): stages the published index and the data files it names that this copy
  // lacks, then swaps them in (basic_db::download says what a caller sees).
  void download(bool force) {
    auto& copy = c_.copy;
    if (c_.unpublished() && !force)
      detail::throw_usage("download: the working copy " + copy.dir().string() +
                          " holds writes never uploaded; upload() them first, or download({.force = true}) "
                          "to discard them");
    writer_.ensure_dir();
    copy.close_active();
    copy.clear_staging();
    std::error_code ec;
    std::filesystem::create_directories(copy.staging_dir(), ec);
    if (ec) detail::throw_errno("mkdir", copy.staging_dir().string(), ec.value());
    const auto published = c_.bucket.get_index();
    const auto objects = c_.bucket.data_objects();
    std::set<file_id> wanted;
    if (published)
      for (const auto& element : index_.decode(published->data, c_.bucket.index_key(), copy))
        wanted.insert(element.second.file);

    std::string ready = "published " + (published ? published->etag : std::string()) + "\n" + "next_file " +
                        std::to_string(std::max(copy.next_file(), c_.bucket.highest(objects, copy.writer()) + 1)) +
                        "\n";
    std::vector<file_id> fetch;
    for (auto n : wanted) {
      auto it = objects.find(n);
      if (it == objects.end())
        detail::throw_store("download: the published index names " + c_.bucket.data_key(n) +
                                ", which is not in the store; nothing was changed",
                            404, false);
      ready += "stored " + std::to_string(n) + " " + std::to_string(it->second.size) + " " + it->second.etag + "\n";
      if (!holds_published_copy(n, it->second)) fetch.push_back(n);
    }
    try {
      fetch_files(fetch, objects, copy.staging_dir(), published ? published->data.size() : 0);
      if (published) detail::write_file_atomic(copy.staging_dir() / format::index_name, published->data);
      detail::write_file_atomic(copy.staging_dir() / detail::staged_ready_name, ready);
    } catch (...) {
      copy.clear_staging();
      throw;
    }
    finish_download();
  }

  // Swaps a fully staged download in (staging holds the fetched files, the index and
  // READY, which lists what the store holds). Run again by open() after a crash midway:
  // each step can be repeated.
  void finish_download() {
    auto& copy = c_.copy;
    const auto staging = copy.staging_dir();
    const std::string ready = detail::read_file(staging / detail::staged_ready_name).value_or("");
    auto& state = copy.state();
    state.stored.clear();
    std::set<file_id> wanted;
    std::istringstream lines(ready);
    for (std::string line; std::getline(lines, line);) {
      std::istringstream words(line);
      std::string word;
      words >> word;
      if (word == "published") {
        state.published_etag = line.size() > 10 ? line.substr(10) : std::string();
      } else if (word == "next_file") {
        std::uint32_t n = 1;
        words >> n;
        copy.raise_next_file(n);
      } else if (word == "stored") {
        file_id n = 0;
        detail::stored_file f;
        words >> n >> f.size >> f.etag;
        state.stored[n] = f;
        wanted.insert(n);
      }
    }
    writer_.mark_changed();  // no background checkpoint reads the files replaced here
    copy.close_active();
    for (auto n : wanted)
      if (std::filesystem::exists(staging / format::data_file_name(n)))
        detail::rename_file(staging / format::data_file_name(n), copy.data_path(n));
    for (const auto& [n, size] : copy.data_files())
      if (!wanted.contains(n)) copy.remove_data_file(n);
    files_.forget();
    const auto index = detail::read_file(staging / format::index_name);
    if (index)
      index_.adopt(*index, c_.bucket.index_key(), copy);
    else
      index_.clear();
    state.published_changes = index ? c_.bucket.changes_of(*index) : 0;
    state.unpublished = false;
    state.publishing.reset();
    state.publishing_at.reset();
    copy.mark_committed();
    writer_.save_local();
    copy.clear_staging();
  }

  // The data files the index names that are not local, or whose local copy (of another
  // writer's file, fetched before it grew) ends before the last entry the index names there.
  std::vector<file_id> files_to_fetch() const {
    std::map<file_id, std::uint64_t> ends;
    for (const auto& element : index_) {
      auto& end = ends[element.second.file];
      end = std::max(end, element.second.offset + element.second.length);
    }
    std::vector<file_id> out;
    for (const auto& [n, end] : ends) {
      const auto size = c_.copy.size_of(n);
      if (!size || (!c_.copy.is_own(n) && *size < end)) out.push_back(n);
    }
    return out;
  }

  // Downloads these data files (replacing a stale local copy through a staging file).
  void fetch_missing(const std::vector<file_id>& missing) {
    writer_.ensure_dir();
    if (missing.empty()) return;
    const auto objects = c_.bucket.data_objects();
    fetch_files(missing, objects, c_.copy.dir());
    for (auto n : missing)
      if (auto it = objects.find(n); it != objects.end())
        c_.copy.state().stored[n] = {it->second.size, it->second.etag};
    files_.forget();
  }

  // items({.local = true})'s fetch. A file gone from the store (another writer compacted,
  // and gc deleted it) means a newer index exists: it is adopted, as a reader does.
  void fetch_for_local_reads() {
    writer_.ensure_dir();
    for (int attempt = 0;; ++attempt) {
      try {
        fetch_missing(files_to_fetch());
        return;
      } catch (const store_error& e) {
        if (attempt > 0 || !e.not_found() || !committer_.refresh()) throw;
      }
    }
  }

  // Downloads these data files into `into`, `concurrency` at once. The progress reported
  // counts `fetched` bytes (the index download() got first) as done.
  void fetch_files(const std::vector<file_id>& numbers, const object_map& objects, const std::filesystem::path& into,
                   std::uint64_t fetched = 0) {
    auto size_of = [&](file_id n) { return objects.contains(n) ? objects.at(n).size : 0; };
    std::uint64_t total = fetched;
    for (auto n : numbers) total += size_of(n);
    detail::progress_meter meter(c_.opt.progress, "download", total);
    if (fetched) meter.report(fetched);
    detail::parallel_for(numbers.size(), c_.opt.concurrency, [&](std::size_t i) {
      c_.bucket.fetch(numbers[i], into / format::data_file_name(numbers[i]));
      meter.report(size_of(numbers[i]));
    });
  }

 private:
  // Whether local data file n holds exactly the published object `info` (the bytes this
  // copy recorded under that ETag, at that size).
  bool holds_published_copy(file_id n, const object_info& info) const {
    const auto& stored = c_.copy.state().stored;
    const auto it = stored.find(n);
    return it != stored.end() && it->second.etag == info.etag && it->second.size == info.size &&
           c_.copy.size_of(n) == info.size;
  }

  context<Store>& c_;
  Published& index_;
  writer<Store, Codec, Published>& writer_;
  const mapped_files& files_;
  committer<Store, Codec, Published>& committer_;
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
