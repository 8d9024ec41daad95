// fs_store: a directory standing in for a bucket. The object named K is the file root/K;
// every write lands atomically (temporary file, fsync, rename), so readers see the old
// object or the new one, never a part. Keys that would leave root (absolute, with "." or
// ".." segments, empty segments, NUL bytes) are refused with usage_error.
// Thread-safe. Conditional puts are exact, between threads and between processes:
// If-None-Match uses link(), atomic everywhere; If-Match is checked and applied under an
// flock of the object's directory. Staging files that a killed process left are removed
// by list().
#pragma once

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../concepts.hpp"
#include "../detail/file.hpp"
#include "../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "../error.hpp"

namespace s4db {
inline namespace v0 {

class fs_store {
 public:
  explicit fs_store(std::filesystem::path root) : root_(std::move(root)) {}

  const std::filesystem::path& root() const noexcept { return root_; }

  std::optional<object> get(const std::string& key) const {
    auto f = detail::file::open_existing(path_for(key));
    if (!f) return std::nullopt;
    object o{f->read_all(), {}};
    o.etag = etag_of(*f);
    return o;
  }

  std::string get_range(const std::string& key, std::uint64_t offset, std::uint64_t length) const {
    auto f = detail::file::open_existing(path_for(key));
    if (!f) detail::throw_store("get '" + key + "': no such object under " + root_.string(), ENOENT, false);
    return f->read_at(offset, static_cast<std::size_t>(length));
  }

  bool get_file(const std::string& key, const std::filesystem::path& path) const {
    std::error_code ec;
    std::filesystem::copy_file(path_for(key), path, std::filesystem::copy_options::overwrite_existing, ec);
    if (ec == std::errc::no_such_file_or_directory) return false;
    if (ec) detail::throw_errno("copy '" + key + "' to", path.string(), ec.value());
    return true;
  }

  std::string put(const std::string& key, std::string_view data, const put_condition& condition = {}) {
    return publish(key, condition, [&](const std::filesystem::path& tmp) {
      detail::file f(tmp, O_WRONLY | O_CREAT | O_TRUNC);
      f.write_at(0, data);
      f.sync();
    });
  }

  std::string put_file(const std::string& key, const std::filesystem::path& source,
                       const put_condition& condition = {}) {
    return publish(key, condition, [&](const std::filesystem::path& tmp) {
      std::error_code ec;
      std::filesystem::copy_file(source, tmp, std::filesystem::copy_options::overwrite_existing, ec);
      if (ec) detail::throw_errno("copy '" + source.string() + "' to", tmp.string(), ec.value());
      detail::file(tmp, O_RDONLY).sync();
    });
  }

  std::optional<object_info> head(const std::string& key) const {
    auto f = detail::file::open_existing(path_for(key));
    if (!f) return std::nullopt;
    return object_info{key, f->size(), etag_of(*f)};
  }

  void remove(std::span<const std::string> keys) {
    for (const auto& key : keys) {
      const auto path = path_for(key);
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) detail::throw_errno("unlink", path.string());
    }
  }

  std::vector<object_info> list(const std::string& prefix) const {
    // A prefix is the start of a key ("db/" ends in an empty segment a whole key may not
    // have), so check it as the start of one: the same '..' and absolute-path rules apply.
    if (!prefix.empty()) check_key(prefix + "x");
    // Walk only the deepest directory the prefix names in full.
    const auto slash = prefix.rfind('/');
    const std::filesystem::path start = slash == std::string::npos ? root_ : root_ / prefix.substr(0, slash);
    std::vector<object_info> out;
    std::error_code ec;
    std::filesystem::recursive_directory_iterator it(start, ec), end;
    if (ec == std::errc::no_such_file_or_directory) return out;
    if (ec) detail::throw_errno("list", start.string(), ec.value());
    for (; it != end; it.increment(ec)) {
      if (ec) detail::throw_errno("list", start.string(), ec.value());
      if (it->is_directory()) {  // descend only where keys could start with the prefix
        const std::string dir = it->path().lexically_relative(root_).generic_string() + '/';
        if (!dir.starts_with(prefix) && !prefix.starts_with(dir)) it.disable_recursion_pending();
        continue;
      }
      if (!it->is_regular_file()) continue;
      if (detail::is_staging_name(it->path().filename().string())) {
        remove_if_abandoned(it->path());
        continue;
      }
      std::string key = it->path().lexically_relative(root_).generic_string();
      if (!key.starts_with(prefix)) continue;
      auto f = detail::file::open_existing(it->path());
      if (f) out.push_back({std::move(key), f->size(), etag_of(*f), modified_of(*f)});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    return out;
  }

 private:
  static void check_key(std::string_view key) {
    auto refuse = [&](const char* why) {
      detail::throw_usage("fs_store refuses object key '" + std::string(key) + "': " + why);
    };
    if (key.empty()) refuse("it is empty");
    if (key.front() == '/') refuse("it is absolute");
    if (key.find('\0') != std::string_view::npos) refuse("it holds a NUL byte");
    std::size_t start = 0;
    while (start <= key.size()) {
      const std::size_t end = std::min(key.find('/', start), key.size());
      const std::string_view segment = key.substr(start, end - start);
      if (segment == "..") refuse("a '..' segment would leave the root");
      if (segment == ".") refuse("it has a '.' segment");
      if (segment.empty()) refuse("it has an empty segment");
      start = end + 1;
    }
  }

  std::filesystem::path path_for(const std::string& key) const {
    check_key(key);
    return root_ / key;
  }

  static std::chrono::system_clock::time_point modified_of(const detail::file& f) {
    const struct stat st = f.status();
    return std::chrono::system_clock::from_time_t(st.st_mtim.tv_sec) +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(
               std::chrono::nanoseconds(st.st_mtim.tv_nsec));
  }

  // Every write replaces the file by rename, so (inode, size, mtime) changes with it.
  static std::string etag_of(const detail::file& f) {
    const struct stat st = f.status();
    char buf[80];
    std::snprintf(buf, sizeof buf, "\"%llx-%llx-%llx.%lx\"", static_cast<unsigned long long>(st.st_ino),
                  static_cast<unsigned long long>(st.st_size), static_cast<unsigned long long>(st.st_mtim.tv_sec),
                  static_cast<long>(st.st_mtim.tv_nsec));
    return buf;
  }

  // The ETag returned is that of the bytes this call wrote, taken from the staged file
  // before it is linked or renamed into place (both keep its inode, size and mtime): read
  // back afterwards it could be another writer's, or nothing.
  template <class Fill>
  std::string publish(const std::string& key, const put_condition& condition, Fill&& fill) {
    const auto path = path_for(key);
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) detail::throw_errno("mkdir", path.parent_path().string(), ec.value());
    const auto tmp = detail::staging_path(path);
    std::string etag;
    try {
      fill(tmp);
      etag = etag_of(detail::file(tmp, O_RDONLY));
      if (condition.if_absent) {
        if (::link(tmp.c_str(), path.c_str()) != 0) {
          if (errno == EEXIST)
            detail::throw_conflict("put '" + key + "': the object already exists (If-None-Match: *)");
          detail::throw_errno("link", path.string());
        }
        ::unlink(tmp.c_str());
      } else {
        // Every replacing write takes the directory's lock, so none slips between an
        // If-Match check and its rename.
        const auto lock = detail::file_lock::wait_lock(path.parent_path(), O_RDONLY | O_DIRECTORY);
        if (condition.if_match) {
          auto current = head(key);
          if (!current || current->etag != *condition.if_match)
            detail::throw_conflict("put '" + key + "': the object's ETag is no longer " + *condition.if_match);
        }
        detail::rename_file(tmp, path);
      }
    } catch (...) {
      std::filesystem::remove(tmp, ec);
      throw;
    }
    detail::sync_directory(path.parent_path());
    return etag;
  }

  // A staging file is named for the process writing it (detail::staging_path); once that
  // process is gone, nobody will finish it.
  static void remove_if_abandoned(const std::filesystem::path& path) {
    const std::string name = path.filename().string();
    const auto at = name.find(".s4db-tmp.");
    const long pid = std::strtol(name.c_str() + at + 10, nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      std::error_code ignored;
      std::filesystem::remove(path, ignored);
    }
  }

  std::filesystem::path root_;
};

static_assert(store<fs_store>);

}  // namespace v0
}  // namespace s4db
