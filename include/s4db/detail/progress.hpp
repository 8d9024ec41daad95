// Reports the bytes a long operation has done to the user's progress sink: thread-safe
// (transfers finish on worker threads), one call at a time.
#pragma once

#include <cstdint>
#include <mutex>
#include <string_view>

#include "../options.hpp"

namespace s4db {
inline namespace v0 {
namespace detail {

class progress_meter {
 public:
  progress_meter(const progress_sink& sink, std::string_view operation, std::uint64_t total)
      : sink_(sink), operation_(operation), total_(total) {
    report(0);
  }
  void report(std::uint64_t bytes) {
    if (!sink_) return;
    std::lock_guard lock(mutex_);
    done_ += bytes;
    try {
      sink_(progress_event{operation_, done_, total_});
    } catch (...) {  // a failing progress display must not fail the operation
    }
  }

 private:
  const progress_sink& sink_;
  std::string_view operation_;
  std::uint64_t total_, done_ = 0;
  std::mutex mutex_;
};

}  // namespace detail
}  // namespace v0
}  // namespace s4db
