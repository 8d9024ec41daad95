// gc(grace): deletes the data objects under the prefix that neither the published index,
// this copy's index, this copy's local files nor a live snapshot of this db name, once they are older than the grace
// (another writer's upload in flight is younger). The only part that deletes objects.
// Stateless. Called under the db's exclusive lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../format/manifest.hpp"
#include "../format/names.hpp"
#include "context.hpp"
#include "published_index.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

template <class Store, published_index Published>
class garbage_collector {
 public:
  garbage_collector(context<Store>& c, Published& index) : c_(c), index_(index) {}

  std::vector<std::string> collect(std::chrono::seconds grace) {
    if (c_.unpublished())
      detail::throw_usage("gc: the working copy " + c_.copy.dir().string() +
                          " holds writes never uploaded; upload() them first");
    if (c_.bucket.segmented()) return collect_segmented(grace);
    const auto objects = c_.bucket.data_objects();
    const auto published = c_.bucket.get_index();
    if (!published && !objects.empty())
      detail::throw_usage("gc: the store holds " + std::to_string(objects.size()) + " data objects but no " +
                          c_.bucket.index_key() +
                          " names them; nothing was changed (rebuild_index({.from_store = true}), or s4db "
                          "rebuild-index, recovers the index from them)");
    std::set<file_id> keep = index_.referenced_files();
    if (published)
      for (const auto& element : index_.decode(published->data, c_.bucket.index_key(), c_.copy))
        keep.insert(element.second.file);
    for (const auto& [n, size] : c_.copy.data_files()) keep.insert(n);
    keep.merge(c_.pins->pinned());
    const auto now = std::chrono::system_clock::now();
    std::vector<std::string> gone;
    for (const auto& [n, info] : objects)
      if (!keep.contains(n) && now - info.last_modified >= grace) gone.push_back(info.key);
    c_.store.remove(gone);
    for (const auto& key : gone) c_.log(log_level::info, "gc: deleted " + key);
    return gone;
  }

 private:
  // Format 3: the manifests to keep are the newest, every one younger than the grace (a
  // reader may be at it) and every one a checkpoint of the newest pins; the data files and
  // segments to keep, those any of them names, this copy's index names, this copy has
  // locally, or a live snapshot reads. Everything else under the prefix of those kinds,
  // older than the grace, goes: data files, segments (a failed commit's too), manifests.
  std::vector<std::string> collect_segmented(std::chrono::seconds grace) {
    const auto now = std::chrono::system_clock::now();
    const auto& prefix = c_.bucket.prefix();
    std::map<std::uint64_t, object_info> manifests;
    std::vector<object_info> segments, data;
    for (auto& o : c_.store.list(prefix)) {
      const std::string_view name = std::string_view(o.key).substr(prefix.size());
      if (auto n = format::parse_manifest_name(name))
        manifests.emplace(*n, std::move(o));
      else if (name.starts_with(format::segment_head) && name.ends_with(".s4s"))
        segments.push_back(std::move(o));
      else if (format::parse_data_file_name(name))
        data.push_back(std::move(o));
    }
    if (manifests.empty()) {
      if (!data.empty())
        detail::throw_usage("gc: the store holds " + std::to_string(data.size()) + " data objects but no manifest " +
                            "names them; nothing was changed (rebuild_index({.from_store = true}) recovers the "
                            "index from them)");
      return {};
    }
    const auto newest = c_.bucket.chain().newest();
    std::set<std::uint64_t> kept{newest->value.number};
    for (const auto& p : newest->value.pins) kept.insert(p.manifest);
    for (const auto& [n, info] : manifests)
      if (now - info.last_modified < grace) kept.insert(n);
    std::set<std::string> keep_names;
    std::set<file_id> keep_files = index_.referenced_files();
    for (const auto& [n, size] : c_.copy.data_files()) keep_files.insert(n);
    keep_files.merge(c_.pins->pinned());
    for (const auto n : kept) {
      const auto m = n == newest->value.number ? std::optional<detail::published_manifest>(*newest)
                                               : c_.bucket.chain().read(n);
      if (!m) continue;  // a pin of a manifest gone: nothing of it to keep
      for (const auto& s : m->value.segments) keep_names.insert(format::segment_name(s.writer, s.sequence));
      for (const auto& f : m->value.files) keep_files.insert(f.id);
    }
    std::vector<std::string> gone;
    auto old = [&](const object_info& o) { return now - o.last_modified >= grace; };
    for (const auto& o : data)
      if (old(o) && !keep_files.contains(*format::parse_data_file_name(o.key.substr(prefix.size()))))
        gone.push_back(o.key);
    for (const auto& o : segments)
      if (old(o) && !keep_names.contains(o.key.substr(prefix.size()))) gone.push_back(o.key);
    for (const auto& [n, o] : manifests)
      if (!kept.contains(n) && old(o)) gone.push_back(o.key);
    c_.store.remove(gone);
    for (const auto& key : gone) c_.log(log_level::info, "gc: deleted " + key);
    return gone;
  }

  context<Store>& c_;
  Published& index_;
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
