// The exceptions s4db throws. Every failure is one of these four, all derived from
// s4db::error (a std::runtime_error), so callers can catch as finely as they need.
// A missing key is never an error: lookups return std::nullopt.
#pragma once

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include "detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line

namespace s4db {
inline namespace v0 {

class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The bytes are not what the format allows: bad magic or version, CRC mismatch, a
// truncated entry or index, a value the codec cannot decode, or a codec mismatch.
class corruption_error : public error {
 public:
  using error::error;
};

// The object store (or the local disk standing in for it) failed. `status` is the HTTP
// status for S3 and the errno for local files; `retryable` says whether trying the same
// call again could succeed (a 5xx, a throttle, a dropped connection, EINTR...).
// `may_have_applied` says the request could have taken effect although it failed (a
// timeout or a reset after the body went out, a lost response): callers must treat the
// outcome as unknown, never as "not applied".
class store_error : public error {
 public:
  store_error(const std::string& what, int status, bool retryable, bool may_have_applied = false)
      : error(what), status_(status), retryable_(retryable), may_have_applied_(may_have_applied) {}
  int status() const noexcept { return status_; }
  bool retryable() const noexcept { return retryable_; }
  bool may_have_applied() const noexcept { return may_have_applied_; }
  // The object asked for is not there (HTTP 404, ENOENT).
  bool not_found() const noexcept { return status_ == 404 || status_ == ENOENT; }

 private:
  int status_;
  bool retryable_;
  bool may_have_applied_;
};

// A conditional write lost to another writer, or local and published state diverged.
class conflict_error : public error {
 public:
  using error::error;
};

// The caller asked for something the library cannot do: a key over 65,535 bytes, an
// object key that leaves the fs_store root, compacting without the files it needs...
class usage_error : public error {
 public:
  using error::error;
};

namespace detail {

[[noreturn]] inline void throw_corruption(const std::string& what) { throw corruption_error("s4db: " + what); }
[[noreturn]] inline void throw_usage(const std::string& what) { throw usage_error("s4db: " + what); }
[[noreturn]] inline void throw_conflict(const std::string& what) { throw conflict_error("s4db: " + what); }
[[noreturn]] inline void throw_store(const std::string& what, int status, bool retryable,
                                     bool may_have_applied = false) {
  throw store_error("s4db: " + what, status, retryable, may_have_applied);
}

// A failed system call on a local path: the message names the call, the path and errno.
[[noreturn]] inline void throw_errno(const std::string& call, const std::string& path, int err = errno) {
  const bool retryable = err == EINTR || err == EAGAIN || err == EBUSY;
  throw store_error("s4db: " + call + " '" + path + "': " + std::strerror(err), err, retryable);
}

}  // namespace detail
}  // namespace v0
}  // namespace s4db
