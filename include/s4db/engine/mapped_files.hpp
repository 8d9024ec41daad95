// The working copy's data files as readers map them: one shared mapping per file, made on
// first read and made again when the file has grown past the entry asked for. Owns the
// cache and its own mutex (readers fill it under the db's shared lock); every part that
// renames, removes or replaces local files calls forget().
#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>

#include "../concepts.hpp"
#include "../detail/file.hpp"
#include "../detail/mapped_file.hpp"
#include "../detail/working_copy.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

class mapped_files {
 public:
  explicit mapped_files(const detail::working_copy& copy) : copy_(copy) {}

  // The mapped local data file holding loc, or null when that file is not local.
  std::shared_ptr<const detail::mapped_file> holding(const location& loc) const {
    if (!copy_.exists()) return nullptr;
    std::lock_guard lock(mutex_);
    auto [it, inserted] = files_.try_emplace(loc.file);
    if (inserted || (it->second && !it->second->covers(loc.offset, loc.length))) {
      auto f = detail::file::open_existing(copy_.data_path(loc.file));
      it->second = f ? std::make_shared<const detail::mapped_file>(std::move(*f)) : nullptr;
    }
    return it->second;
  }

  void forget() const {
    std::lock_guard lock(mutex_);
    files_.clear();
  }

 private:
  const detail::working_copy& copy_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<file_id, std::shared_ptr<const detail::mapped_file>> files_;
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
