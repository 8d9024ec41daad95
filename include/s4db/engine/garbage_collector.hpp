// gc(grace): deletes the data objects under the prefix that neither the published index,
// this copy's index, this copy's local files nor a live snapshot of this db name, once they are older than the grace
// (another writer's upload in flight is younger). The only part that deletes objects.
// Stateless. Called under the db's exclusive lock.
#pragma once

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "../error.hpp"
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
  context<Store>& c_;
  Published& index_;
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
