// A growable array of trivially copyable elements for the index: its own memory (from
// big_allocator), or a view of memory it is lent, such as a private mapping of a checkpoint
// file (written in place: the kernel copies a page on its first write). A view becomes its
// own memory, copied, the first time it must grow.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

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
    own_ = std::move(other.own_);
    view_ = std::exchange(other.view_, nullptr);
    view_size_ = std::exchange(other.view_size_, 0);
    keep_ = std::move(other.keep_);
    return *this;
  }

  T* data() noexcept { return view_ ? view_ : own_.data(); }
  const T* data() const noexcept { return view_ ? view_ : own_.data(); }
  std::size_t size() const noexcept { return view_ ? view_size_ : own_.size(); }
  std::size_t capacity() const noexcept { return view_ ? view_size_ : own_.capacity(); }
  T& operator[](std::size_t i) noexcept { return data()[i]; }
  const T& operator[](std::size_t i) const noexcept { return data()[i]; }
  T* begin() noexcept { return data(); }
  T* end() noexcept { return data() + size(); }
  const T* begin() const noexcept { return data(); }
  const T* end() const noexcept { return data() + size(); }

  void reserve(std::size_t n) {
    if (n <= capacity()) return;
    own(n);
    own_.reserve(n);
  }

  // New elements are default-initialised (no zeros written for them).
  void resize(std::size_t n) {
    if (view_ && n <= view_size_) {
      view_size_ = n;
      return;
    }
    own(n);
    own_.resize(n);
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
    drop_view();
    own_ = {};
    if (n * sizeof(T) >= big_allocator<T>::huge_page) {
      own_.reserve(n);
      own_.resize(n);  // default-initialised: the mapping's zeros are left as they are
    } else {
      own_.assign(n, T{});
    }
  }

  void assign(std::size_t n, const T& value) {
    drop_view();
    own_.assign(n, value);
  }

 private:
  // Copies a view into memory of its own, with room for `room` elements.
  void own(std::size_t room) {
    if (!view_) return;
    std::vector<T, big_allocator<T>> copy;
    copy.reserve(std::max(room, view_size_));
    copy.resize(view_size_);
    if (view_size_ > 0) std::memcpy(copy.data(), view_, view_size_ * sizeof(T));
    drop_view();
    own_ = std::move(copy);
  }

  void drop_view() {
    view_ = nullptr;
    view_size_ = 0;
    keep_.reset();
  }

  std::vector<T, big_allocator<T>> own_;
  T* view_ = nullptr;
  std::size_t view_size_ = 0;
  std::shared_ptr<const void> keep_;
};

}  // namespace detail
}  // namespace v0
}  // namespace s4db
