// An allocator for the index's big arrays. Allocations of 2 MiB and more are mapped straight
// from the kernel and marked for transparent huge pages, so filling 50 MB takes 25 page
// faults instead of 12,000; elements are default-initialised (a resize does not write zeros
// over memory about to be overwritten). Smaller ones come from operator new. A mapped
// allocation grows with mremap (reallocate): the kernel moves its pages, nothing is copied,
// so growing a 300 MB array costs microseconds, not a copy and 300 MB of page faults.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

#include "require_cxx20.hpp"  // a pre-C++20 build stops here, with one line

namespace s4db {
inline namespace v0 {
namespace detail {

template <class T>
struct big_allocator {
  using value_type = T;
  static constexpr std::size_t huge_page = std::size_t{2} << 20;

  big_allocator() = default;
  template <class U>
  big_allocator(const big_allocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < huge_page) return static_cast<T*>(::operator new(bytes));
    // Mapped with a huge page to spare, then trimmed to start on a huge page boundary.
    const std::size_t size = rounded(bytes);
    void* p = ::mmap(nullptr, size + huge_page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    const auto start = reinterpret_cast<std::uintptr_t>(p);
    const std::uintptr_t aligned = (start + huge_page - 1) / huge_page * huge_page;
    if (aligned > start) ::munmap(p, aligned - start);
    if (const std::uintptr_t slack = start + huge_page - aligned)
      ::munmap(reinterpret_cast<void*>(aligned + size), slack);
#ifdef MADV_HUGEPAGE
    // A hint, over the whole mapping: marking a part would split it in two, and mremap
    // cannot move a range across mappings.
    ::madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);
#endif
    return reinterpret_cast<T*>(aligned);
  }

  // p (room for n elements, the first `used` of them in use) grown to room for `to`.
  T* reallocate(T* p, std::size_t used, std::size_t n, std::size_t to) {
    if (p && n * sizeof(T) >= huge_page) {
      void* q = ::mremap(p, rounded(n * sizeof(T)), rounded(to * sizeof(T)), MREMAP_MAYMOVE);
      if (q == MAP_FAILED) throw std::bad_alloc();
      return static_cast<T*>(q);  // the mapping keeps its huge page hint
    }
    T* q = allocate(to);
    if (used > 0) std::memcpy(static_cast<void*>(q), p, used * sizeof(T));
    if (p) deallocate(p, n);
    return q;
  }

  void deallocate(T* p, std::size_t n) noexcept {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < huge_page)
      ::operator delete(p);
    else
      ::munmap(p, rounded(bytes));
  }

  // Default-initialisation: no zeros written for trivial types.
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }

  friend bool operator==(const big_allocator&, const big_allocator&) noexcept { return true; }

 private:
  // Whole small pages (the kernel fills the tail past the last huge page boundary with small ones).
  static std::size_t rounded(std::size_t bytes) {
    constexpr std::size_t page = 4096;
    return (bytes + page - 1) / page * page;
  }
};

}  // namespace detail
}  // namespace v0
}  // namespace s4db
