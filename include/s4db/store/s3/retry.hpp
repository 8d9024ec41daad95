// When to send a request again, as the AWS SDKs' "standard" retry mode does: the table of
// retryable answers, exponential backoff with full jitter, and the retry quota that stops
// a client from retrying into an outage (500 tokens; a retry costs 5, 10 after a timeout;
// a success gives back what its retries took, or 1).
// Not retried: 501 and other 4xx than those below, whatever a caller's retry count.
#pragma once

#include <algorithm>
#include <chrono>
#include <mutex>
#include <random>
#include <string>
#include <string_view>

#include "../../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line

namespace s4db {
inline namespace v0 {
namespace s3 {

enum class answer_kind {
  success,
  throttling,     // 429, 503 SlowDown, the Throttling codes
  transient,      // 500, 502, 503, 504, 400 RequestTimeout, 400 BadDigest, a 200 holding an <Error>
  clock_skew,     // the server says our clock is off (retried once its Date is known)
  expired_token,  // the credentials expired (retried with fresh ones)
  redirect,       // the bucket is in another region (retried there)
  final,          // anything else: not retried
};

inline bool is_throttling_code(std::string_view code) {
  for (std::string_view c :
       {"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
        "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown",
        "PriorRequestNotComplete", "EC2ThrottledException"})
    if (code == c) return true;
  return false;
}

inline bool is_clock_skew_code(std::string_view code) {
  for (std::string_view c : {"RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture",
                             "InvalidSignatureException", "SignatureDoesNotMatch", "AuthFailure"})
    if (code == c) return true;
  return false;
}

// `code` is the server's error code ("" when the body had none); `error_in_200` is true for
// a 2xx whose body is an <Error> (S3 does that on CompleteMultipartUpload and CopyObject).
inline answer_kind classify(long status, std::string_view code, bool error_in_200, bool has_region_hint) {
  if (status >= 200 && status < 300) return error_in_200 ? answer_kind::transient : answer_kind::success;
  if (code == "ExpiredToken" || code == "ExpiredTokenException" || code == "TokenRefreshRequired")
    return answer_kind::expired_token;
  if (has_region_hint && (status == 301 || status == 307 || code == "PermanentRedirect" ||
                          code == "AuthorizationHeaderMalformed" || code == "IllegalLocationConstraintException"))
    return answer_kind::redirect;
  if (status == 429 || is_throttling_code(code)) return answer_kind::throttling;
  if (is_clock_skew_code(code)) return answer_kind::clock_skew;
  if (status == 500 || status == 502 || status == 503 || status == 504) return answer_kind::transient;
  if (code == "RequestTimeout" || code == "RequestTimeoutException" || code == "BadDigest" || code == "InternalError")
    return answer_kind::transient;
  return answer_kind::final;
}

// The retry quota of one client (standard mode only). Thread-safe.
class retry_quota {
 public:
  static constexpr int capacity = 500, retry_cost = 5, timeout_cost = 10, success_refund = 1;

  // Takes the cost of a retry; false when the quota cannot pay it (do not retry).
  bool acquire(bool after_timeout) {
    std::lock_guard lock(mutex_);
    const int cost = after_timeout ? timeout_cost : retry_cost;
    if (tokens_ < cost) return false;
    tokens_ -= cost;
    return true;
  }
  // A request succeeded; `retry_cost_paid` is what its last retry took (0: no retry).
  void release(int retry_cost_paid) {
    std::lock_guard lock(mutex_);
    tokens_ = std::min(capacity, tokens_ + (retry_cost_paid > 0 ? retry_cost_paid : success_refund));
  }

 private:
  std::mutex mutex_;
  int tokens_ = capacity;
};

// Full jitter: a random pause in [0, min(max, base * 2^retry)), retry counting from 0.
template <class Rng>
std::chrono::milliseconds backoff(int retry, std::chrono::milliseconds base, std::chrono::milliseconds max, Rng& rng) {
  const long long cap = std::min<long long>(max.count(), base.count() << std::min(retry, 20));
  return std::chrono::milliseconds(std::uniform_int_distribution<long long>(0, std::max<long long>(cap, 1))(rng));
}

}  // namespace s3
}  // namespace v0
}  // namespace s4db
