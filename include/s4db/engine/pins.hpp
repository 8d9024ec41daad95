// What this db's snapshots hold on to (engine/snapshot.hpp): the data files their entries
// lie in. A snapshot maps its local files when it is taken, so this db's compaction,
// download or drop of published files removes no byte it reads (the mappings keep them),
// and registers every file it names here, so this db's gc() deletes none of them from the
// store. Owns the counts, under its own mutex: snapshots come and go on any thread.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>

#include "../concepts.hpp"
#include "../detail/mapped_file.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

class pin_registry {
 public:
  void add(const std::set<file_id>& files) {
    std::lock_guard lock(mutex_);
    for (const file_id n : files) ++counts_[n];
  }
  void remove(const std::set<file_id>& files) {
    std::lock_guard lock(mutex_);
    for (const file_id n : files)
      if (auto it = counts_.find(n); it != counts_.end() && --it->second == 0) counts_.erase(it);
  }
  std::set<file_id> pinned() const {
    std::lock_guard lock(mutex_);
    std::set<file_id> out;
    for (const auto& [n, count] : counts_) out.insert(n);
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::map<file_id, std::size_t> counts_;
};

// One snapshot's hold: its local files mapped, and its files registered against gc.
class pinned_files {
 public:
  pinned_files(std::shared_ptr<pin_registry> registry, std::set<file_id> named,
               std::unordered_map<file_id, std::shared_ptr<const detail::mapped_file>> mapped)
      : registry_(std::move(registry)), named_(std::move(named)), mapped_(std::move(mapped)) {
    registry_->add(named_);
  }
  pinned_files(const pinned_files&) = delete;
  pinned_files& operator=(const pinned_files&) = delete;
  ~pinned_files() { registry_->remove(named_); }

  // The local mapping of file n taken with the snapshot, or null (read from the store).
  const detail::mapped_file* local(file_id n) const {
    const auto it = mapped_.find(n);
    return it == mapped_.end() ? nullptr : it->second.get();
  }

 private:
  std::shared_ptr<pin_registry> registry_;
  std::set<file_id> named_;
  std::unordered_map<file_id, std::shared_ptr<const detail::mapped_file>> mapped_;
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
