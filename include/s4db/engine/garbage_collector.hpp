// gc(grace): deletes the data objects under the prefix that neither the published index,
// this copy's index, this copy's local files nor a live snapshot of this db name, once they are older than the grace
// (another writer's upload in flight is younger). The only part that deletes objects.
// Stateless. Called under the db's exclusive lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
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
    const auto now = c_.now();
    std::vector<std::string> gone;
    for (const auto& [n, info] : objects)
      if (!keep.contains(n) && now - info.last_modified >= grace) gone.push_back(info.key);
    c_.store.remove(gone);
    for (const auto& key : gone) c_.log(log_level::info, "gc: deleted " + key);
    return gone;
  }

 private:
  // Format 3: the data files and segments to keep are those the manifest names, those it
  // retired less than the grace ago (a reader of the manifest before may still read
  // them), those a checkpoint's manifest copy names (and the copy), those this copy's
  // index names or this copy has locally, and those a live snapshot reads. Everything
  // else of those kinds under the prefix, older than the grace, goes (a failed commit's
  // segment, a dropped checkpoint's copy too). A pinned copy that cannot be read stops
  // it before it deletes anything.
  std::vector<std::string> collect_segmented(std::chrono::seconds grace) {
    const auto now = c_.now();
    const auto now_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
    const auto grace_ms = static_cast<std::uint64_t>(grace.count()) * 1000;
    const auto& prefix = c_.bucket.prefix();
    std::vector<object_info> segments, data;  // segments and checkpoint copies; data files
    for (auto& o : c_.store.list(prefix)) {
      const std::string_view name = std::string_view(o.key).substr(prefix.size());
      if ((name.starts_with(format::segment_head) && name.ends_with(".s4s")) ||
          (name.starts_with(format::checkpoint_head) && name.ends_with(".s4m")))
        segments.push_back(std::move(o));
      else if (format::parse_data_file_name(name))
        data.push_back(std::move(o));
    }
    const auto published = c_.bucket.get_index();
    if (!published) {
      if (!data.empty() || !segments.empty())
        detail::throw_usage("gc: the store holds " + std::to_string(data.size() + segments.size()) +
                            " data objects and segments but no " + c_.bucket.index_key() +
                            " names them; nothing was changed (rebuild_index({.from_store = true}) recovers the "
                            "index from the data files)");
      return {};
    }
    const auto m = format::decode_manifest(published->data, c_.bucket.index_key());
    auto recent = [&](std::uint64_t when_ms) { return when_ms + grace_ms > now_ms; };
    std::set<std::string> keep_segments;
    std::set<file_id> keep_files = index_.referenced_files();
    auto keep_named = [&](const format::manifest& named) {
      for (const auto& s : named.segments) keep_segments.insert(format::segment_name(s.writer, s.sequence));
      for (const auto& f : named.files) keep_files.insert(f.id);
    };
    keep_named(m);
    for (const auto& pin : m.pins) {
      const std::string name = format::checkpoint_object(pin);
      const auto copy = c_.store.get(c_.bucket.key(name));
      if (!copy)
        detail::throw_corruption("gc: " + c_.bucket.key(name) + ", the manifest of checkpoint '" + pin.name +
                                 "', is not in the store; nothing was deleted");
      keep_named(format::decode_manifest(copy->data, c_.bucket.key(name)));
      keep_segments.insert(name);
    }
    for (const auto& r : m.retired_segments)
      if (recent(r.when_ms)) keep_segments.insert(format::segment_name(r.writer, r.sequence));
    for (const auto& r : m.retired_files)
      if (recent(r.when_ms)) keep_files.insert(r.id);
    for (const auto& [n, size] : c_.copy.data_files()) keep_files.insert(n);
    keep_files.merge(c_.pins->pinned());
    std::vector<std::string> gone;
    auto old = [&](const object_info& o) { return now - o.last_modified >= grace; };
    for (const auto& o : data)
      if (old(o) && !keep_files.contains(*format::parse_data_file_name(o.key.substr(prefix.size()))))
        gone.push_back(o.key);
    for (const auto& o : segments)
      if (old(o) && !keep_segments.contains(o.key.substr(prefix.size()))) gone.push_back(o.key);
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
