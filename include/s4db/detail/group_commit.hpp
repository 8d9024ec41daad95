// Group commit for sync_mode::every_write: writers that appended while an fsync was under
// way share the next one, so N concurrent writers cost about two fsyncs, not N.
// Thread-safe. A failed sync is reported to every writer that waited on it.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>

namespace s4db {
inline namespace v0 {
namespace detail {

class group_commit {
 public:
  // Called after an append's bytes were written; returns the ticket to wait for.
  std::uint64_t wrote() {
    std::lock_guard lock(mutex_);
    return ++written_;
  }

  // Returns once every append up to `ticket` is durable. One waiter runs sync() for all
  // appends made before it started; the others wait for its result.
  template <class Sync>
  void wait_durable(std::uint64_t ticket, Sync&& sync) {
    std::unique_lock lock(mutex_);
    while (durable_ < ticket) {
      if (syncing_) {
        const std::uint64_t round = rounds_;
        done_.wait(lock, [&] { return rounds_ != round; });
        if (failed_upto_ >= ticket && durable_ < ticket) std::rethrow_exception(failure_);
        continue;
      }
      syncing_ = true;
      const std::uint64_t target = written_;
      lock.unlock();
      std::exception_ptr failure;
      try {
        sync();
      } catch (...) {
        failure = std::current_exception();
      }
      lock.lock();
      syncing_ = false;
      ++rounds_;
      if (failure) {
        failure_ = failure;
        failed_upto_ = std::max(failed_upto_, target);
      } else {
        durable_ = std::max(durable_, target);
      }
      done_.notify_all();
      if (failure) std::rethrow_exception(failure);
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::uint64_t written_ = 0, durable_ = 0, failed_upto_ = 0, rounds_ = 0;
  bool syncing_ = false;
  std::exception_ptr failure_;
};

}  // namespace detail
}  // namespace v0
}  // namespace s4db
