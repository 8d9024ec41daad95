// A local data file opened for reading and mapped into memory as it was when mapped, so
// a point read is a bounds check and a view: no system call, no copy. Bytes past the
// mapping (the file grew since) are read with pread instead. Readers share one instance;
// it is immutable after construction.
#pragma once

#include <sys/mman.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "file.hpp"

namespace s4db {
inline namespace v0 {
namespace detail {

class mapped_file {
 public:
  enum class mode {
    shared,      // pages are read as they are touched
    read_ahead,  // every page is read and mapped now (one call, not a fault per page)
    // read ahead too, and writable: a write changes this mapping's copy of the page only,
    // never the file (for a checkpoint the index uses in place)
    private_copy,
  };

  explicit mapped_file(file f, mode m = mode::shared) : file_(std::move(f)) {
    const std::uint64_t size = file_.size();
    if (size == 0) return;
    const int flags = (m == mode::private_copy ? MAP_PRIVATE : MAP_SHARED) | (m == mode::shared ? 0 : MAP_POPULATE);
    void* p = ::mmap(nullptr, static_cast<std::size_t>(size), PROT_READ, flags, file_.descriptor(), 0);
    if (p == MAP_FAILED) return;  // reads fall back to pread
    // Made writable only now: populating a writable private mapping would copy every page.
    if (m == mode::private_copy && ::mprotect(p, static_cast<std::size_t>(size), PROT_READ | PROT_WRITE) != 0) {
      ::munmap(p, static_cast<std::size_t>(size));
      return;
    }
    data_ = static_cast<const char*>(p);
    size_ = static_cast<std::size_t>(size);
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  ~mapped_file() {
    if (data_) ::munmap(const_cast<char*>(data_), size_);
  }

  // True when [offset, offset + n) lies inside the mapping.
  // Written so that no offset from a corrupt index can overflow the test.
  bool covers(std::uint64_t offset, std::uint64_t n) const noexcept { return offset <= size_ && n <= size_ - offset; }

  // The mapped bytes at [offset, offset + n); the caller checked covers().
  std::string_view view(std::uint64_t offset, std::uint64_t n) const noexcept {
    return {data_ + offset, static_cast<std::size_t>(n)};
  }

  std::string read_at(std::uint64_t offset, std::size_t n) const { return file_.read_at(offset, n); }

 private:
  file file_;
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace detail
}  // namespace v0
}  // namespace s4db
