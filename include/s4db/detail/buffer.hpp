// A growable array of trivially copyable elements for the index: its own memory (from
// big_allocator), or a view of memory it is lent, such as a private mapping of a checkpoint
// file (written in place: the kernel copies a page on its first write). A view becomes its
// own memory, copied, the first time it must grow.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>

#include "big_allocator.hpp"
#include "require_cxx20.hpp"  // a pre-C++20 build stops here, with one line

namespace s4db {
inline namespace v0 {
namespace detail {

template <class T>
class buffer {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  buffer() = default;
  // A view of n elements at p, which `keep` keeps alive.
  buffer(T* p, std::size_t n, std::shared_ptr<const void> keep) : view_(p), view_size_(n), keep_(std::move(keep)) {}
  buffer(buffer&& other) noexcept { *this = std::move(other); }
  buffer& operator=(buffer&& other) noexcept {
    if (this == &other) return *this;
    release();
    own_ = std::exchange(other.own_, nullptr);
    own_size_ = std::exchange(other.own_size_, 0);
    own_capacity_ = std::exchange(other.own_capacity_, 0);
    view_ = std::exchange(other.view_, nullptr);
    view_size_ = std::exchange(other.view_size_, 0);
    keep_ = std::move(other.keep_);
    return *this;
  }
  ~buffer() { release(); }

  T* data() noexcept { return view_ ? view_ : own_; }
  const T* data() const noexcept { return view_ ? view_ : own_; }
  std::size_t size() const noexcept { return view_ ? view_size_ : own_size_; }
  std::size_t capacity() const noexcept { return view_ ? view_size_ : own_capacity_; }
  T& operator[](std::size_t i) noexcept { return data()[i]; }
  const T& operator[](std::size_t i) const noexcept { return data()[i]; }
  T* begin() noexcept { return data(); }
  T* end() noexcept { return data() + size(); }
  const T* begin() const noexcept { return data(); }
  const T* end() const noexcept { return data() + size(); }

  void reserve(std::size_t n) {
    if (n <= capacity()) return;
    own(n);
    grow(n);
  }

  // New elements are default-initialised (no zeros written for them).
  void resize(std::size_t n) {
    if (view_ && n <= view_size_) {
      view_size_ = n;
      return;
    }
    own(n);
    if (n > own_capacity_) grow(std::max(n, own_capacity_ * 2));
    own_size_ = n;
  }

  void append(const T* p, std::size_t n) {
    const std::size_t at = size();
    if (n == 0) return;
    resize(at + n);
    std::memcpy(data() + at, p, n * sizeof(T));
  }

  // n value-initialised (zero) elements. Memory big_allocator maps from the kernel is zero
  // already, so a large array costs no writes now: its pages fault in as they are used.
  void assign_zeros(std::size_t n) {
    release();
    grow(n);
    own_size_ = n;
    if (n * sizeof(T) < big_allocator<T>::huge_page && n > 0) std::memset(static_cast<void*>(own_), 0, n * sizeof(T));
  }

 private:
  // Room for n elements of its own (by mremap where the memory is mapped: no copy).
  void grow(std::size_t n) {
    if (n <= own_capacity_) return;
    own_ = big_allocator<T>().reallocate(own_, own_size_, own_capacity_, n);
    own_capacity_ = n;
  }

  // Copies a view into memory of its own, with room for `room` elements.
  void own(std::size_t room) {
    if (!view_) return;
    T* const from = view_;
    const std::size_t n = view_size_;
    grow(std::max(room, n));
    if (n > 0) std::memcpy(static_cast<void*>(own_), from, n * sizeof(T));
    own_size_ = n;
    drop_view();
  }

  void drop_view() {
    view_ = nullptr;
    view_size_ = 0;
    keep_.reset();
  }

  void release() noexcept {
    if (own_) big_allocator<T>().deallocate(own_, own_capacity_);
    own_ = nullptr;
    own_size_ = own_capacity_ = 0;
    drop_view();
  }

  T* own_ = nullptr;  // its own memory, from big_allocator
  std::size_t own_size_ = 0;
  std::size_t own_capacity_ = 0;
  T* view_ = nullptr;
  std::size_t view_size_ = 0;
  std::shared_ptr<const void> keep_;
};

}  // namespace detail
}  // namespace v0
}  // namespace s4db
