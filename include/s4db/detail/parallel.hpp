// Runs independent tasks on a few threads: the engine's transfers (download, upload,
// fetching missing files, get_many) go to the store concurrently this way.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace s4db {
inline namespace v0 {
namespace detail {

// Calls task(i) for every i in [0, n) on up to `workers` threads (the caller's among
// them). After the first failure no new task starts; once all have stopped, that
// failure is rethrown.
template <class Task>
void parallel_for(std::size_t n, std::size_t workers, Task&& task) {
  workers = std::clamp<std::size_t>(workers, 1, std::max<std::size_t>(n, 1));
  if (workers == 1) {
    for (std::size_t i = 0; i < n; ++i) task(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first;
  std::mutex first_mutex;
  auto work = [&] {
    for (std::size_t i; !failed && (i = next.fetch_add(1)) < n;) {
      try {
        task(i);
      } catch (...) {
        std::lock_guard lock(first_mutex);
        if (!first) first = std::current_exception();
        failed = true;
      }
    }
  };
  {
    std::vector<std::jthread> threads;
    for (std::size_t t = 1; t < workers; ++t) threads.emplace_back(work);
    work();
  }
  if (first) std::rethrow_exception(first);
}

}  // namespace detail
}  // namespace v0
}  // namespace s4db
