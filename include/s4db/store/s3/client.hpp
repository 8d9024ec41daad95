// One S3 endpoint and bucket as s3_store talks to it: requests signed (sigv4.hpp) and sent
// (http.hpp), retried as the AWS SDKs' standard mode does (retry.hpp), a bucket in another
// region followed, an expired token renewed, a skewed clock corrected; answers checked and
// turned into errors naming the request; conditional writes spelled as the server reads
// them (fencing.hpp). Thread-safe; s3_store and its copies share one.
#pragma once

#include <time.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>

#include "../../concepts.hpp"
#include "../../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "../../error.hpp"
#include "config.hpp"
#include "fencing.hpp"
#include "http.hpp"
#include "retry.hpp"
#include "sigv4.hpp"
#include "xml.hpp"

namespace s4db {
inline namespace v0 {
namespace s3 {

// The server's error code: from the XML body, else from the status (HEAD has no body).
inline std::string error_code(const http_response& r) {
  xml_reply reply(r.body);
  std::string code = child_text(reply.root, "Code");
  if (!code.empty()) return code;
  switch (r.status) {
    case 301:
      return "PermanentRedirect";
    case 403:
      return "AccessDenied";
    case 404:
      return "NotFound";
    case 412:
      return "PreconditionFailed";
    case 501:
      return "NotImplemented";
    default:
      return {};
  }
}

// "Mon, 23 Nov 2026 10:00:00 GMT" (HTTP's Date); nullopt when unreadable.
inline std::optional<std::chrono::system_clock::time_point> parse_http_date(const std::string& text) {
  struct tm t {};
  const char* end = ::strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S", &t);
  if (end == nullptr) return std::nullopt;
  return std::chrono::system_clock::from_time_t(::timegm(&t));
}

// Decodes a ListObjectsV2 value sent with encoding-type=url ('+' is a space).
inline std::string url_decoded(std::string text) {
  std::replace(text.begin(), text.end(), '+', ' ');
  return sigv4::uri_decode(text);
}

class client {
 public:
  explicit client(s3::settings s)
      : settings(std::move(s)),
        http({static_cast<long>(settings.limits.connect_timeout.count()),
              static_cast<long>(settings.limits.stall_timeout.count()), settings.limits.min_speed, settings.ca_file,
              std::max<long>(settings.limits.max_connections, 1)}) {
    where_ = {settings.region, settings.endpoint};
  }

  const s3::settings settings;
  const std::shared_ptr<server_traits> traits = traits_of(settings.endpoint + "/" + settings.bucket);
  http_client http;
  retry_quota quota;
  std::atomic<bool> multi_delete_unsupported{false};
  std::atomic<bool> bucket_seen{false};
  std::atomic<long long> clock_offset_seconds{0};  // the server's clock minus ours

  struct place {
    std::string region, endpoint;
  };
  place location() const {
    std::lock_guard lock(where_mutex_);
    return where_;
  }

  std::string where(const std::string& key) const { return "s3://" + settings.bucket + "/" + key; }

  // A size the server sent (Content-Length, a listing's Size): digits that fit 64 bits,
  // else a store_error naming what came.
  std::uint64_t size_from(const std::string& request, const std::string& key, std::string_view text) const {
    if (text.empty()) return 0;
    std::uint64_t size = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), size);
    if (ec != std::errc() || end != text.data() + text.size())
      detail::throw_store("S3 " + request + " " + where(key) + ": the server gave the size '" +
                              std::string(text.substr(0, 40)) + "', not a 64-bit number",
                          0, false);
    return size;
  }

  // One logical request: signed afresh and sent, retried as the header comment says, and
  // stopped by s3_config::interrupted unless `interruptible` is false.
  template <class Prepare>
  http_response call(const std::string& method, const std::string& key, const std::string& query, Prepare&& prepare,
                     bool interruptible = true) {
    const auto* interrupted = interruptible && settings.limits.interrupted ? &settings.limits.interrupted : nullptr;
    thread_local std::mt19937_64 rng(std::random_device{}());
    // GET and HEAD change nothing; any other request that failed after it was sent may
    // have applied, and the caller must treat the outcome as unknown.
    const bool changes = method != "GET" && method != "HEAD";
    const bool quota_applies = settings.retry_mode == "standard";
    bool may_have_applied = false, redirected = false, refreshed = false, reclocked = false;
    int retries = 0, last_cost = 0;
    for (;;) {
      if (interrupted && (*interrupted)())
        detail::throw_store("S3 " + method + " " + where(key) + ": interrupted" +
                                (may_have_applied ? "; it may have been applied" : ""),
                            0, false, may_have_applied);
      http_request q;
      q.method = method;
      prepare(q);
      if (std::none_of(q.headers.begin(), q.headers.end(), [](auto& h) { return h.first == "x-amz-content-sha256"; }))
        q.headers.emplace_back("x-amz-content-sha256", sigv4::sha256_hex(""));
      sign(q, key, query);
      bool after_timeout = false;
      try {
        auto r = http.perform(q, interrupted);
        r.may_have_applied = may_have_applied;
        const bool ok = r.status >= 200 && r.status < 300;
        const bool error_in_200 = ok && method == "POST" && r.body.find("<Error>") != std::string::npos &&
                                  local_name(xml_reply(r.body).root) == "Error";
        const std::string code = ok && !error_in_200 ? std::string() : error_code(r);
        switch (classify(r.status, code, error_in_200, !region_hint(r).empty())) {
          case answer_kind::success:
            if (quota_applies) quota.release(last_cost);
            return r;
          case answer_kind::final:
            return r;
          case answer_kind::redirect:
            if (redirected) return r;
            redirected = true;
            move_to(region_hint(r));
            continue;
          case answer_kind::expired_token:
            if (refreshed) return r;
            refreshed = true;
            settings.credentials->expire();
            continue;
          case answer_kind::clock_skew:
            if (reclocked || !correct_clock(r, code)) return r;
            reclocked = true;
            continue;
          case answer_kind::throttling:
          case answer_kind::transient:
            if (retries + 1 >= settings.max_attempts || (quota_applies && !quota.acquire(false))) return r;
            break;
        }
      } catch (const transport_failure& f) {
        may_have_applied = may_have_applied || (changes && f.after_send());
        if (f.code == CURLE_ABORTED_BY_CALLBACK) {  // interrupted: said at the top of the loop
          may_have_applied = may_have_applied || changes;
          continue;
        }
        after_timeout = f.code == CURLE_OPERATION_TIMEDOUT;
        const bool exhausted = retries + 1 >= settings.max_attempts;
        if (!f.retryable() || exhausted || (quota_applies && !quota.acquire(after_timeout)))
          detail::throw_store("S3 " + method + " " + where(key) + " failed: " + f.message + " (after " +
                                  std::to_string(retries + 1) + " attempts" +
                                  (f.retryable() && !exhausted ? "; the retry quota is spent" : "") + ")" +
                                  (may_have_applied ? "; it may have been applied" : ""),
                              0, f.retryable(), may_have_applied);
      }
      last_cost = after_timeout ? retry_quota::timeout_cost : retry_quota::retry_cost;
      std::this_thread::sleep_for(
          backoff(retries, settings.limits.retry_base_delay, settings.limits.retry_max_delay, rng));
      ++retries;
    }
  }

  // The region a redirect names: x-amz-bucket-region, else the body's <Region>.
  static std::string region_hint(const http_response& r) {
    if (auto h = r.headers.find("x-amz-bucket-region"); h != r.headers.end() && !h->second.empty()) return h->second;
    if (r.status < 300 || r.status >= 500) return {};
    return child_text(xml_reply(r.body).root, "Region");
  }

  // Follows the bucket to its region: signed for it from now on, and on AWS's own
  // endpoints sent to that region's host.
  void move_to(const std::string& region) {
    std::lock_guard lock(where_mutex_);
    where_.region = region;
    if (!settings.custom_endpoint) where_.endpoint = aws_endpoint("s3", region, settings.fips, settings.dualstack);
  }

  // The server says our clock is off: take its Date as the truth. True when that changed
  // the clock (an error that only looks like skew, a bad signature, is not retried).
  bool correct_clock(const http_response& r, const std::string& code) {
    const auto date = r.headers.find("date");
    if (date == r.headers.end()) return false;
    const auto server = parse_http_date(date->second);
    if (!server) return false;
    const auto ours = std::chrono::system_clock::now() + std::chrono::seconds(clock_offset_seconds.load());
    const auto skew = std::chrono::duration_cast<std::chrono::seconds>(*server - ours).count();
    const bool skew_code = code == "RequestTimeTooSkewed" || code == "RequestExpired" || code == "RequestInTheFuture";
    if (std::abs(skew) < (skew_code ? 1 : 240)) return false;
    clock_offset_seconds += skew;
    return true;
  }

  // After a HEAD answered 404: a missing bucket is an error, not a missing key. Asked once
  // per store, the first time.
  void require_bucket() {
    if (bucket_seen) return;
    auto r = call("HEAD", "", {}, [](auto&) {});
    if (r.status == 404)
      detail::throw_store(
          "S3 HEAD " + where("") + " failed: HTTP 404 NoSuchBucket: the bucket does not exist" + request_id(r), 404,
          false);
    bucket_seen = true;  // 200, or 403 (a bucket we may not HEAD exists)
  }

  void sign(http_request& q, const std::string& key, const std::string& query) const {
    const place at = location();
    const auto scheme_end = at.endpoint.find("://");
    const std::string scheme = at.endpoint.substr(0, scheme_end);
    std::string request_host = at.endpoint.substr(scheme_end + 3), path;
    if (settings.path_style) {
      path = "/" + settings.bucket + (key.empty() ? "" : "/" + key);
    } else {
      request_host = settings.bucket + "." + request_host;
      path = "/" + key;
    }
    q.url = scheme + "://" + request_host + sigv4::uri_encode(path, true) + (query.empty() ? "" : "?" + query);
    sigv4::request r{q.method, path, query, q.headers, ""};
    for (const auto& [name, value] : q.headers)
      if (name == "x-amz-content-sha256") r.payload_hash = value;
    r.headers.emplace_back("host", request_host);
    const auto now = std::chrono::system_clock::now() + std::chrono::seconds(clock_offset_seconds.load());
    sigv4::sign(r, settings.credentials->current(), at.region, "s3", sigv4::amz_date(now));
    // Send what was signed, less host (curl sends the same one from the URL).
    q.headers.assign(r.headers.begin(), r.headers.end());
    std::erase_if(q.headers, [](const auto& h) { return h.first == "host"; });
  }

  static std::string request_id(const http_response& r) {
    std::string id;
    if (auto h = r.headers.find("x-amz-request-id"); h != r.headers.end()) id = h->second;
    if (id.empty()) id = child_text(xml_reply(r.body).root, "RequestId");
    return id.empty() ? "" : " (request id " + id + ")";
  }

  [[noreturn]] void fail(const std::string& op, const std::string& key, const http_response& r) const {
    xml_reply reply(r.body);
    std::string detail = error_code(r);
    const std::string message = child_text(reply.root, "Message");
    if (!message.empty()) detail += ": " + message;
    const bool retryable = r.status >= 500 || r.status == 429;
    detail::throw_store("S3 " + op + " " + where(key) + " failed: HTTP " + std::to_string(r.status) +
                            (detail.empty() ? "" : " " + detail) + request_id(r) +
                            (retryable && r.status != 501 ? " (retries exhausted)" : "") +
                            (r.may_have_applied ? "; an earlier attempt may have been applied" : ""),
                        static_cast<int>(r.status), retryable && r.status != 501, r.may_have_applied);
  }

  void expect_success(const std::string& op, const std::string& key, const http_response& r) const {
    if (r.status < 200 || r.status >= 300) fail(op, key, r);
  }

  static bool refused(const http_response& r) { return r.status == 412 || r.status == 409; }

  // A write under `condition`, sent by send(if_match) with the ETag spelled as this server
  // matches it (s3/fencing.hpp). A 412 on If-Match while the object does carry that ETag
  // means the server reads the other spelling: learned for this endpoint and bucket, and
  // sent again. If-Match on a missing object is a lost condition (AWS answers 404, RGW 412).
  template <class Send>
  http_response conditional_write(const std::string& op, const std::string& key, const put_condition& c, Send&& send) {
    bool unquoted = traits->unquoted_etag;
    auto r = send(c.if_match ? etag_spelled(*c.if_match, unquoted) : std::string());
    if (r.status == 412 && c.if_match && !traits->etag_form_settled) {
      auto now = call("HEAD", key, {}, [](auto&) {});
      if (now.status == 200 && same_etag(now.headers["etag"], *c.if_match)) {
        traits->unquoted_etag.compare_exchange_strong(unquoted, !unquoted);
        r = send(etag_spelled(*c.if_match, traits->unquoted_etag));
      }
    }
    if (r.status == 404 && c.if_match && error_code(r) == "NoSuchKey")
      detail::throw_conflict("S3 " + op + " " + where(key) + ": the condition failed: the object is gone (HTTP 404)" +
                             request_id(r));
    if (refused(r))
      detail::throw_conflict("S3 " + op + " " + where(key) + ": the condition failed (HTTP " +
                             std::to_string(r.status) + " " + error_code(r) + ")" + request_id(r));
    expect_success(op, key, r);
    if (c.if_match) traits->etag_form_settled = true;
    return r;
  }

 private:
  mutable std::mutex where_mutex_;
  place where_;
};

}  // namespace s3
}  // namespace v0
}  // namespace s4db
