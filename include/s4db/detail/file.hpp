// POSIX file helpers: an owning descriptor with exact reads and writes, and atomic
// replacement (temporary file, fsync, rename, directory fsync). Every failure throws
// store_error naming the call, the path and errno.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "../error.hpp"

namespace s4db {
inline namespace v0 {
namespace detail {

// Told of every fsync the library makes: the file's path and size then, or -1 for a
// directory. Null unless a test installs it (the power-loss test records what was durable,
// then drops the rest). Called from whichever thread synced; must not throw.
inline std::atomic<void (*)(const std::string& path, std::int64_t size)> sync_probe{nullptr};

class file {
 public:
  file() = default;
  file(const std::filesystem::path& path, int flags, mode_t mode = 0644) : path_(path.string()) {
    do fd_ = ::open(path_.c_str(), flags | O_CLOEXEC, mode);
    while (fd_ < 0 && errno == EINTR);
    if (fd_ < 0) throw_errno("open", path_);
  }
  // Opens for reading, or returns an empty file when there is none.
  static std::optional<file> open_existing(const std::filesystem::path& path, int flags = O_RDONLY) {
    try {
      return file(path, flags);
    } catch (const store_error& e) {
      if (e.status() == ENOENT) return std::nullopt;
      throw;
    }
  }
  file(file&& other) noexcept : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}
  file& operator=(file&& other) noexcept {
    if (this != &other) {
      close_quietly();
      fd_ = std::exchange(other.fd_, -1);
      path_ = std::move(other.path_);
    }
    return *this;
  }
  file(const file&) = delete;
  file& operator=(const file&) = delete;
  ~file() { close_quietly(); }

  bool is_open() const noexcept { return fd_ >= 0; }
  int descriptor() const noexcept { return fd_; }
  const std::string& path() const noexcept { return path_; }

  struct stat status() const {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) throw_errno("fstat", path_);
    return st;
  }

  std::uint64_t size() const { return static_cast<std::uint64_t>(status().st_size); }

  // Reads up to n bytes at offset; fewer only at the end of the file. Allocates no more
  // than the file holds, however large n is (n may come from a corrupt index).
  std::string read_at(std::uint64_t offset, std::size_t n) const {
    const std::uint64_t available = size();
    n = static_cast<std::size_t>(std::min<std::uint64_t>(n, offset < available ? available - offset : 0));
    std::string out(n, '\0');
    std::size_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd_, out.data() + done, n - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw_errno("pread", path_);
      if (got == 0) break;
      done += static_cast<std::size_t>(got);
    }
    out.resize(done);
    return out;
  }

  std::string read_all() const { return read_at(0, static_cast<std::size_t>(size())); }

  void write_at(std::uint64_t offset, std::string_view bytes) const {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t put = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
      if (put < 0 && errno == EINTR) continue;
      if (put < 0) throw_errno("write", path_);
      done += static_cast<std::size_t>(put);
    }
  }

  void truncate(std::uint64_t size) const {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) throw_errno("ftruncate", path_);
  }

  // Writes the file's dirty pages out and waits for them, without fsync's journal commit
  // (so without its durability): a file about to be renamed over another then has nothing
  // left for the rename to write (ext4 writes out such a file during the rename).
  void write_out() const {
    if (::sync_file_range(fd_, 0, 0,
                          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) != 0)
      throw_errno("sync_file_range", path_);
  }

  void sync() const {
    if (::fsync(fd_) != 0) throw_errno("fsync", path_);
    if (auto probe = sync_probe.load()) probe(path_, static_cast<std::int64_t>(status().st_size));
  }

 private:
  void close_quietly() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
  std::string path_;
};

inline std::optional<std::string> read_file(const std::filesystem::path& path) {
  auto f = file::open_existing(path);
  if (!f) return std::nullopt;
  return f->read_all();
}

inline void sync_directory(const std::filesystem::path& dir) {
  const file d(dir, O_RDONLY | O_DIRECTORY);
  if (::fsync(d.descriptor()) != 0) throw_errno("fsync", d.path());
  if (auto probe = sync_probe.load()) probe(d.path(), -1);
}

// An exclusive advisory lock (flock) held while the object lives; released by close,
// also when the process dies. try_lock returns nullopt when another holder has it.
class file_lock {
 public:
  static std::optional<file_lock> try_lock(const std::filesystem::path& path) {
    file f(path, O_RDWR | O_CREAT);
    int rc;
    do rc = ::flock(f.descriptor(), LOCK_EX | LOCK_NB);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      if (errno == EWOULDBLOCK) return std::nullopt;
      throw_errno("flock", path.string());
    }
    return file_lock(std::move(f));
  }
  // Waits for the lock (for short critical sections shared between processes).
  static file_lock wait_lock(const std::filesystem::path& path, int flags = O_RDONLY) {
    file f(path, flags);
    int rc;
    do rc = ::flock(f.descriptor(), LOCK_EX);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) throw_errno("flock", path.string());
    return file_lock(std::move(f));
  }

 private:
  explicit file_lock(file f) : file_(std::move(f)) {}
  file file_;
};

// A name beside `path` for staging its replacement; unique per process and call.
inline std::filesystem::path staging_path(const std::filesystem::path& path) {
  static std::atomic<unsigned> counter{0};
  auto name =
      path.filename().string() + ".s4db-tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
  return path.parent_path() / ("." + name);
}

inline bool is_staging_name(std::string_view name) { return name.find(".s4db-tmp.") != std::string_view::npos; }

inline void rename_file(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) throw_errno("rename to", to.string());
}

// Replaces `path` with `bytes` so that a crash leaves either the old or the new content;
// `durable` adds the fsyncs that make the same hold across a power loss.
inline void write_file_atomic(const std::filesystem::path& path, std::span<const std::string_view> pieces,
                              bool durable = true) {
  const auto tmp = staging_path(path);
  try {
    file f(tmp, O_WRONLY | O_CREAT | O_TRUNC);
    std::uint64_t at = 0;
    for (auto piece : pieces) {
      f.write_at(at, piece);
      at += piece.size();
    }
    if (durable) f.sync();
    rename_file(tmp, path);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
  if (durable) sync_directory(path.parent_path());
}

inline void write_file_atomic(const std::filesystem::path& path, std::string_view bytes, bool durable = true) {
  write_file_atomic(path, std::span<const std::string_view>(&bytes, 1), durable);
}

}  // namespace detail
}  // namespace v0
}  // namespace s4db
