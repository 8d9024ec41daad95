// memory_store: a bucket in process memory, for tests and fuzzing. Copies share one
// bucket, so two dbs over copies of one memory_store see the same objects. Thread-safe;
// conditional puts are exact (checked and applied under one lock).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../concepts.hpp"
#include "../detail/file.hpp"
#include "../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "../error.hpp"

namespace s4db {
inline namespace v0 {

class memory_store {
 public:
  std::optional<object> get(const std::string& key) const {
    std::lock_guard lock(bucket_->mutex);
    auto it = bucket_->objects.find(key);
    if (it == bucket_->objects.end()) return std::nullopt;
    return it->second;
  }

  std::string get_range(const std::string& key, std::uint64_t offset, std::uint64_t length) const {
    std::lock_guard lock(bucket_->mutex);
    const std::string& data = find_or_throw(key).data;
    if (offset >= data.size()) return {};
    return data.substr(static_cast<std::size_t>(offset), static_cast<std::size_t>(length));
  }

  bool get_file(const std::string& key, const std::filesystem::path& path) const {
    auto o = get(key);
    if (!o) return false;
    detail::file(path, O_WRONLY | O_CREAT | O_TRUNC).write_at(0, o->data);
    return true;
  }

  std::string put(const std::string& key, std::string_view data, const put_condition& condition = {}) {
    std::lock_guard lock(bucket_->mutex);
    auto it = bucket_->objects.find(key);
    if (condition.if_absent && it != bucket_->objects.end())
      detail::throw_conflict("put '" + key + "': the object already exists (If-None-Match: *)");
    if (condition.if_match && (it == bucket_->objects.end() || it->second.etag != *condition.if_match))
      detail::throw_conflict("put '" + key + "': the object's ETag is no longer " + *condition.if_match);
    std::string etag = "\"m" + std::to_string(++bucket_->writes) + "\"";
    bucket_->objects.insert_or_assign(key, object{std::string(data), etag});
    bucket_->modified.insert_or_assign(key, std::chrono::system_clock::now());
    return etag;
  }

  std::string put_file(const std::string& key, const std::filesystem::path& path, const put_condition& condition = {}) {
    return put(key, detail::file(path, O_RDONLY).read_all(), condition);
  }

  std::optional<object_info> head(const std::string& key) const {
    std::lock_guard lock(bucket_->mutex);
    auto it = bucket_->objects.find(key);
    if (it == bucket_->objects.end()) return std::nullopt;
    return object_info{key, it->second.data.size(), it->second.etag};
  }

  void remove(std::span<const std::string> keys) {
    std::lock_guard lock(bucket_->mutex);
    for (const auto& key : keys) {
      bucket_->objects.erase(key);
      bucket_->modified.erase(key);
    }
  }

  std::vector<object_info> list(const std::string& prefix) const {
    std::lock_guard lock(bucket_->mutex);
    std::vector<object_info> out;
    for (auto it = bucket_->objects.lower_bound(prefix); it != bucket_->objects.end() && it->first.starts_with(prefix);
         ++it)
      out.push_back({it->first, it->second.data.size(), it->second.etag, bucket_->modified.at(it->first)});
    return out;
  }

 private:
  struct bucket {
    std::mutex mutex;
    std::map<std::string, object, std::less<>> objects;
    std::map<std::string, std::chrono::system_clock::time_point, std::less<>> modified;
    std::uint64_t writes = 0;
  };

  const object& find_or_throw(const std::string& key) const {
    auto it = bucket_->objects.find(key);
    if (it == bucket_->objects.end())
      detail::throw_store("get '" + key + "': no such object in memory_store", 404, false);
    return it->second;
  }

  std::shared_ptr<bucket> bucket_ = std::make_shared<bucket>();
};

static_assert(store<memory_store>);

}  // namespace v0
}  // namespace s4db
