// s3_store: the Store policy over S3 and S3-compatible servers, with libcurl and an AWS
// Signature V4 computed here (store/s3/sigv4.hpp). Needs libcurl, OpenSSL, pugixml and
// nlohmann/json (credential endpoints); including this header is how a program opts into
// them (CMake target s4db::s3, pkg-config s4db-s3).
//
// Requests: get = one GET (a 404 NoSuchKey is nullopt); get_range = one ranged GET, no
// HEAD first; put = one PUT, put_file = one streamed PUT or, above the multipart
// threshold, a multipart upload with parts sent in parallel, aborted on failure; head =
// one HEAD (and, the first time one answers 404, a HEAD of the bucket, so a missing
// bucket is an error, not a missing key); remove = one multi-object DELETE per 1,000 keys
// (one DELETE per key where the server answers 501 to that); list = one ListObjectsV2 per page.
// Failures are retried as the AWS SDKs' standard mode does (store/s3/retry.hpp); a bucket
// in another region is followed there; an ExpiredToken answer fetches new credentials; a
// clock the server says is off is corrected from its Date. What still fails is a
// store_error naming the operation, bucket, key, HTTP status, the server's error code,
// message and request id; 412/409 on a conditional put is a conflict_error, and so is 404
// on If-Match. If-Match carries the ETag in the spelling the server matches, learned on
// the first 412 that only a spelling explains (s3/fencing.hpp); fencing() probes what the
// server honours. No message carries a secret. Thread-safe; copies share one connection pool.
#pragma once

#include <openssl/evp.h>
#include <openssl/md5.h>
#include <time.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../concepts.hpp"
#include "../detail/file.hpp"
#include "../detail/parallel.hpp"
#include "../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "../error.hpp"
#include "../fwd.hpp"
#include "s3/config.hpp"
#include "s3/fencing.hpp"
#include "s3/http.hpp"
#include "s3/retry.hpp"
#include "s3/sigv4.hpp"
#include "s3/xml.hpp"

// Defined by the s4db::s3 CMake target, the s4db-s3 Meson dependency and pkg-config module,
// which also link what this header needs: without them a program would stop at the link
// with dozens of undefined curl_* references.
#ifndef S4DB_WITH_S3
#error \
    "s4db/store/s3.hpp needs libcurl, libcrypto and pugixml at link time: link the s4db::s3 CMake target, the s4db-s3 Meson dependency or `pkg-config --cflags --libs s4db-s3` (linking them yourself, define S4DB_WITH_S3)"
#endif

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

}  // namespace s3

class s3_store {
 public:
  explicit s3_store(s3_config config = {}) : impl_(std::make_shared<impl>(s3::resolve(config))) {}

  std::optional<object> get(const std::string& key) {
    auto r = impl_->call("GET", key, {},
                         [&](s3::http_request& q) { q.max_body = impl_->settings.limits.max_object_in_memory; });
    if (r.status == 404 && s3::error_code(r) != "NoSuchBucket") return std::nullopt;
    impl_->expect_success("GET", key, r);
    return object{std::move(r.body), r.headers["etag"]};
  }

  std::string get_range(const std::string& key, std::uint64_t offset, std::uint64_t length) {
    if (length == 0) return {};
    const std::uint64_t last = offset + length - 1;
    // At most `length` bytes are kept: a longer 206 fails; a 200 (the server ignored Range
    // and sends the whole object) is read up to the end of the range and no further.
    auto r = impl_->call("GET", key, {}, [&](s3::http_request& q) {
      q.headers.emplace_back("Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(last));
      q.range = true;
      q.max_body = length;
      q.skip_on_200 = offset;
    });
    if (r.status == 416) return {};  // the range starts past the end
    impl_->expect_success("GET (range)", key, r);
    if (r.status == 200) return std::move(r.body);
    const std::string& range = r.headers["content-range"];  // "bytes FIRST-LAST/SIZE"
    unsigned long long first = 0;
    if (std::sscanf(range.c_str(), "bytes %llu-", &first) != 1 || first != offset || r.body.size() > length)
      detail::throw_store("S3 GET (range) " + impl_->where(key) + ": asked for bytes " + std::to_string(offset) + "-" +
                              std::to_string(last) + ", the server answered '" + range + "' with " +
                              std::to_string(r.body.size()) + " bytes",
                          static_cast<int>(r.status), true);
    return std::move(r.body);
  }

  bool get_file(const std::string& key, const std::filesystem::path& path) {
    detail::file out(path, O_WRONLY | O_CREAT | O_TRUNC);
    auto r = impl_->call("GET", key, {}, [&](s3::http_request& q) {
      out.truncate(0);  // a retried attempt starts over
      q.response_file = &out;
    });
    if (r.status == 404 && s3::error_code(r) != "NoSuchBucket") return false;
    impl_->expect_success("GET", key, r);
    return true;
  }

  std::string put(const std::string& key, std::string_view data, const put_condition& condition = {}) {
    const std::string hash = sigv4::sha256_hex(data);
    auto r = impl_->conditional_write("PUT", key, condition, [&](const std::string& if_match) {
      return impl_->call("PUT", key, {}, [&](s3::http_request& q) {
        q.body = data;
        q.headers.emplace_back("x-amz-content-sha256", hash);
        add_put_headers(q, condition, if_match);
      });
    });
    return r.headers["etag"];
  }

  std::string put_file(const std::string& key, const std::filesystem::path& path, const put_condition& condition = {}) {
    detail::file in(path, O_RDONLY);
    const std::uint64_t size = in.size();
    if (in_parts(key, size, condition)) return put_multipart(key, in, size, condition);
    const std::string hash = sha256_of(in, 0, size);
    auto r = impl_->conditional_write("PUT", key, condition, [&](const std::string& if_match) {
      return impl_->call("PUT", key, {}, [&](s3::http_request& q) {
        q.body_file = &in;
        q.body_length = size;
        q.headers.emplace_back("x-amz-content-sha256", hash);
        add_put_headers(q, condition, if_match);
      });
    });
    return r.headers["etag"];
  }

  // Whether this server honours conditional writes, probed once per process, endpoint and
  // bucket (and kept in cache_file, when given, for a day) with a scratch object
  // PREFIX.s4db-fencing-probe-N that it deletes after: a PUT with If-None-Match: * over it
  // and one with a wrong If-Match must be refused, one with its ETag accepted (in the
  // spelling the server matches, learned here), and a multipart upload completed over it
  // with If-None-Match: * refused. About eight requests.
  fencing_report fencing(const std::string& prefix, const std::optional<std::filesystem::path>& cache_file = {}) {
    auto& traits = *impl_->traits;
    std::lock_guard lock(traits.probe_mutex);
    const std::string server = impl_->settings.endpoint + " bucket " + impl_->settings.bucket;
    const auto kept = cache_file ? s3::read_fencing_cache(*cache_file, server) : std::nullopt;
    if (!traits.report) {
      if (kept) {
        traits.adopt(*kept);
      } else {
        auto found = probe_fencing(prefix);
        found.server = server;
        traits.adopt({found, std::chrono::system_clock::now()});
      }
    }
    if (cache_file && !kept) s3::write_fencing_cache(*cache_file, {*traits.report, traits.probed});
    return *traits.report;
  }

  std::optional<object_info> head(const std::string& key) {
    auto r = impl_->call("HEAD", key, {}, [](auto&) {});
    if (r.status == 404) {
      impl_->require_bucket();
      return std::nullopt;
    }
    impl_->expect_success("HEAD", key, r);
    return object_info{key, impl_->size_from("HEAD", key, r.headers["content-length"]), r.headers["etag"]};
  }

  void remove(std::span<const std::string> keys) {
    for (std::size_t start = 0; start < keys.size(); start += 1000) {
      const auto batch = keys.subspan(start, std::min<std::size_t>(1000, keys.size() - start));
      if (!impl_->multi_delete_unsupported) {
        std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>true</Quiet>";
        for (const auto& k : batch) body += "<Object><Key>" + s3::xml_escape(k) + "</Key></Object>";
        body += "</Delete>";
        const std::string hash = sigv4::sha256_hex(body);
        const std::string md5 = md5_base64(body);
        auto r = impl_->call("POST", "", "delete", [&](s3::http_request& q) {
          q.body = body;
          q.headers.emplace_back("x-amz-content-sha256", hash);
          q.headers.emplace_back("Content-MD5", md5);
        });
        if (r.status != 501) {
          impl_->expect_success("DELETE (multi-object)", batch.front(), r);
          s3::xml_reply reply(r.body);
          s3::for_each_child(reply.root, "Error", [&](const pugi::xml_node& e) {
            if (s3::child_text(e, "Code") != "NoSuchKey")
              detail::throw_store("S3 DELETE " + impl_->where(s3::child_text(e, "Key")) +
                                      " failed: " + s3::child_text(e, "Code") + ": " + s3::child_text(e, "Message"),
                                  static_cast<int>(r.status), false);
          });
          continue;
        }
        impl_->multi_delete_unsupported = true;  // Google Cloud Storage: one DELETE per key
      }
      detail::parallel_for(batch.size(), impl_->settings.limits.part_concurrency, [&](std::size_t i) {
        auto r = impl_->call("DELETE", batch[i], {}, [](auto&) {});
        if (r.status != 404) impl_->expect_success("DELETE", batch[i], r);
      });
    }
  }

  // Every object under prefix, by key. A listing that does not hold together (a token
  // given twice, a truncated page with no keys, a key outside the prefix, a Size that is
  // no number) is a store_error: a lying server ends the listing, never loops it.
  std::vector<object_info> list(const std::string& prefix) {
    std::vector<object_info> out;
    std::string token;
    std::set<std::string> tokens;
    for (;;) {
      // encoding-type=url: keys come back percent-encoded, so any byte a key holds (even one
      // XML 1.0 cannot carry) reads back exactly; a server that ignores it says no EncodingType.
      std::string query =
          "encoding-type=url&list-type=2&max-keys=" + std::to_string(impl_->settings.limits.list_page_size) +
          "&prefix=" + sigv4::uri_encode(prefix, false);
      if (!token.empty()) query += "&continuation-token=" + sigv4::uri_encode(token, false);
      auto r = impl_->call("GET", "", query, [](auto&) {});
      impl_->expect_success("LIST", prefix + "*", r);
      s3::xml_reply reply(r.body);
      if (s3::local_name(reply.root) != "ListBucketResult")
        detail::throw_store("S3 LIST " + impl_->where(prefix + "*") + ": the reply is not a ListBucketResult",
                            static_cast<int>(r.status), true);
      const bool encoded = s3::child_text(reply.root, "EncodingType") == "url";
      const std::size_t listed = out.size();
      s3::for_each_child(reply.root, "Contents", [&](const pugi::xml_node& c) {
        std::string key = s3::child_text(c, "Key");
        if (encoded) key = s3::url_decoded(std::move(key));
        if (!key.starts_with(prefix))
          detail::throw_store(
              "S3 LIST " + impl_->where(prefix + "*") + ": the server listed '" + key + "', outside the prefix",
              static_cast<int>(r.status), false);
        const auto size = impl_->size_from("LIST", key, s3::child_text(c, "Size"));
        out.push_back(
            {std::move(key), size, s3::child_text(c, "ETag"), s3::parse_timestamp(s3::child_text(c, "LastModified"))});
      });
      token = s3::child_text(reply.root, "NextContinuationToken");
      if (s3::child_text(reply.root, "IsTruncated") != "true" || token.empty()) break;
      if (!tokens.insert(token).second || out.size() == listed)
        detail::throw_store("S3 LIST " + impl_->where(prefix + "*") + ": the server sent " +
                                (out.size() == listed ? "a truncated page with no keys"
                                                      : "the continuation token '" + token + "' a second time") +
                                "; the listing makes no progress",
                            static_cast<int>(r.status), false);
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    return out;
  }

  // The settings in force (never printing a secret: see describe()).
  const s3::settings& settings() const noexcept { return impl_->settings; }
  // The region requests are signed for now (the configured one until a redirect moved it).
  std::string region() const { return impl_->location().region; }
  // How many TCP connections this store (and its copies) opened so far.
  std::uint64_t connections_opened() const noexcept { return impl_->http.connections_opened(); }

 private:
  struct impl {
    explicit impl(s3::settings s)
        : settings(std::move(s)),
          http({static_cast<long>(settings.limits.connect_timeout.count()),
                static_cast<long>(settings.limits.stall_timeout.count()), settings.limits.min_speed, settings.ca_file,
                std::max<long>(settings.limits.max_connections, 1)}) {
      where_ = {settings.region, settings.endpoint};
    }

    const s3::settings settings;
    const std::shared_ptr<s3::server_traits> traits = s3::traits_of(settings.endpoint + "/" + settings.bucket);
    s3::http_client http;
    s3::retry_quota quota;
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
    s3::http_response call(const std::string& method, const std::string& key, const std::string& query,
                           Prepare&& prepare, bool interruptible = true) {
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
        s3::http_request q;
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
                                    s3::local_name(s3::xml_reply(r.body).root) == "Error";
          const std::string code = ok && !error_in_200 ? std::string() : s3::error_code(r);
          switch (s3::classify(r.status, code, error_in_200, !region_hint(r).empty())) {
            case s3::answer_kind::success:
              if (quota_applies) quota.release(last_cost);
              return r;
            case s3::answer_kind::final:
              return r;
            case s3::answer_kind::redirect:
              if (redirected) return r;
              redirected = true;
              move_to(region_hint(r));
              continue;
            case s3::answer_kind::expired_token:
              if (refreshed) return r;
              refreshed = true;
              settings.credentials->expire();
              continue;
            case s3::answer_kind::clock_skew:
              if (reclocked || !correct_clock(r, code)) return r;
              reclocked = true;
              continue;
            case s3::answer_kind::throttling:
            case s3::answer_kind::transient:
              if (retries + 1 >= settings.max_attempts || (quota_applies && !quota.acquire(false))) return r;
              break;
          }
        } catch (const s3::transport_failure& f) {
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
        last_cost = after_timeout ? s3::retry_quota::timeout_cost : s3::retry_quota::retry_cost;
        std::this_thread::sleep_for(
            s3::backoff(retries, settings.limits.retry_base_delay, settings.limits.retry_max_delay, rng));
        ++retries;
      }
    }

    // The region a redirect names: x-amz-bucket-region, else the body's <Region>.
    static std::string region_hint(const s3::http_response& r) {
      if (auto h = r.headers.find("x-amz-bucket-region"); h != r.headers.end() && !h->second.empty()) return h->second;
      if (r.status < 300 || r.status >= 500) return {};
      return s3::child_text(s3::xml_reply(r.body).root, "Region");
    }

    // Follows the bucket to its region: signed for it from now on, and on AWS's own
    // endpoints sent to that region's host.
    void move_to(const std::string& region) {
      std::lock_guard lock(where_mutex_);
      where_.region = region;
      if (!settings.custom_endpoint)
        where_.endpoint = s3::aws_endpoint("s3", region, settings.fips, settings.dualstack);
    }

    // The server says our clock is off: take its Date as the truth. True when that changed
    // the clock (an error that only looks like skew, a bad signature, is not retried).
    bool correct_clock(const s3::http_response& r, const std::string& code) {
      const auto date = r.headers.find("date");
      if (date == r.headers.end()) return false;
      const auto server = s3::parse_http_date(date->second);
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

    void sign(s3::http_request& q, const std::string& key, const std::string& query) const {
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

    static std::string request_id(const s3::http_response& r) {
      std::string id;
      if (auto h = r.headers.find("x-amz-request-id"); h != r.headers.end()) id = h->second;
      if (id.empty()) id = s3::child_text(s3::xml_reply(r.body).root, "RequestId");
      return id.empty() ? "" : " (request id " + id + ")";
    }

    [[noreturn]] void fail(const std::string& op, const std::string& key, const s3::http_response& r) const {
      s3::xml_reply reply(r.body);
      std::string detail = s3::error_code(r);
      const std::string message = s3::child_text(reply.root, "Message");
      if (!message.empty()) detail += ": " + message;
      const bool retryable = r.status >= 500 || r.status == 429;
      detail::throw_store("S3 " + op + " " + where(key) + " failed: HTTP " + std::to_string(r.status) +
                              (detail.empty() ? "" : " " + detail) + request_id(r) +
                              (retryable && r.status != 501 ? " (retries exhausted)" : "") +
                              (r.may_have_applied ? "; an earlier attempt may have been applied" : ""),
                          static_cast<int>(r.status), retryable && r.status != 501, r.may_have_applied);
    }

    void expect_success(const std::string& op, const std::string& key, const s3::http_response& r) const {
      if (r.status < 200 || r.status >= 300) fail(op, key, r);
    }

    static bool refused(const s3::http_response& r) { return r.status == 412 || r.status == 409; }

    // A write under `condition`, sent by send(if_match) with the ETag spelled as this server
    // matches it (s3/fencing.hpp). A 412 on If-Match while the object does carry that ETag
    // means the server reads the other spelling: learned for this endpoint and bucket, and
    // sent again. If-Match on a missing object is a lost condition (AWS answers 404, RGW 412).
    template <class Send>
    s3::http_response conditional_write(const std::string& op, const std::string& key, const put_condition& c,
                                        Send&& send) {
      bool unquoted = traits->unquoted_etag;
      auto r = send(c.if_match ? s3::etag_spelled(*c.if_match, unquoted) : std::string());
      if (r.status == 412 && c.if_match && !traits->etag_form_settled) {
        auto now = call("HEAD", key, {}, [](auto&) {});
        if (now.status == 200 && s3::same_etag(now.headers["etag"], *c.if_match)) {
          traits->unquoted_etag.compare_exchange_strong(unquoted, !unquoted);
          r = send(s3::etag_spelled(*c.if_match, traits->unquoted_etag));
        }
      }
      if (r.status == 404 && c.if_match && s3::error_code(r) == "NoSuchKey")
        detail::throw_conflict("S3 " + op + " " + where(key) + ": the condition failed: the object is gone (HTTP 404)" +
                               request_id(r));
      if (refused(r))
        detail::throw_conflict("S3 " + op + " " + where(key) + ": the condition failed (HTTP " +
                               std::to_string(r.status) + " " + s3::error_code(r) + ")" + request_id(r));
      expect_success(op, key, r);
      if (c.if_match) traits->etag_form_settled = true;
      return r;
    }

   private:
    mutable std::mutex where_mutex_;
    place where_;
  };

  // The condition's headers, If-Match carrying `if_match` (its ETag as the server reads it).
  static void add_condition(s3::http_request& q, const put_condition& c, const std::string& if_match) {
    if (c.if_absent) q.headers.emplace_back("If-None-Match", "*");
    if (c.if_match) q.headers.emplace_back("If-Match", if_match);
  }

  // The headers every object write carries: the condition, then SSE and extra_headers.
  void add_put_headers(s3::http_request& q, const put_condition& c, const std::string& if_match) const {
    add_condition(q, c, if_match);
    for (const auto& h : impl_->settings.put_headers) q.headers.push_back(h);
  }

  // Whether put_file sends these bytes in parts: above multipart_threshold, and under a
  // condition only where the probe saw the server fence a multipart completion (Ceph RGW 16
  // ignores the condition there and overwrites); else one PUT, which S3 takes up to 5 GiB.
  bool in_parts(const std::string& key, std::uint64_t size, const put_condition& condition) const {
    if (size <= impl_->settings.limits.multipart_threshold) return false;
    if ((!condition.if_absent && !condition.if_match) || impl_->traits->multipart_fenced) return true;
    if (size > s3::max_part_size)
      detail::throw_usage("S3 PUT " + impl_->where(key) + ": " + std::to_string(size) +
                          " bytes under a condition is more than one PUT takes (5 GiB), and " +
                          impl_->settings.endpoint +
                          " is not known to honour conditions on a multipart upload's completion (s3_store::fencing "
                          "probes it; docs/s3.md, \"Services\")");
    return false;
  }

  static std::string sha256_of(const detail::file& f, std::uint64_t offset, std::uint64_t length) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    constexpr std::size_t chunk = 1 << 20;
    for (std::uint64_t done = 0; done < length;) {
      const std::string bytes =
          f.read_at(offset + done, static_cast<std::size_t>(std::min<std::uint64_t>(chunk, length - done)));
      if (bytes.empty()) break;
      EVP_DigestUpdate(ctx, bytes.data(), bytes.size());
      done += bytes.size();
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx, digest, &n);
    EVP_MD_CTX_free(ctx);
    return sigv4::hex(digest, n);
  }

  static std::string md5_base64(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data.data(), data.size(), digest, &n, EVP_md5(), nullptr);
    unsigned char out[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
    const int len = EVP_EncodeBlock(out, digest, static_cast<int>(n));
    return std::string(reinterpret_cast<const char*>(out), static_cast<std::size_t>(len));
  }

  // Starts a multipart upload of key; returns the query naming it ("uploadId=...").
  std::string start_multipart(const std::string& key) {
    auto start = impl_->call("POST", key, "uploads", [&](s3::http_request& q) {
      for (const auto& h : impl_->settings.put_headers) q.headers.push_back(h);
    });
    impl_->expect_success("POST (start multipart upload)", key, start);
    const std::string upload_id = s3::child_text(s3::xml_reply(start.body).root, "UploadId");
    if (upload_id.empty())
      detail::throw_store("S3 multipart upload of " + impl_->where(key) + ": no UploadId in the reply", 0, true);
    return "uploadId=" + sigv4::uri_encode(upload_id, false);
  }

  // Completes it from the parts' ETags, under `condition` (If-Match carrying `if_match`).
  s3::http_response complete_multipart(const std::string& key, const std::string& id_query,
                                       const std::vector<std::string>& etags, const put_condition& condition,
                                       const std::string& if_match) {
    std::string body = "<CompleteMultipartUpload>";
    for (std::size_t i = 0; i < etags.size(); ++i)
      body += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + s3::xml_escape(etags[i]) +
              "</ETag></Part>";
    body += "</CompleteMultipartUpload>";
    const std::string hash = sigv4::sha256_hex(body);
    return impl_->call("POST", key, id_query, [&](s3::http_request& q) {
      q.body = body;
      q.headers.emplace_back("x-amz-content-sha256", hash);
      add_condition(q, condition, if_match);
    });
  }

  void abort_multipart(const std::string& key, const std::string& id_query) {
    try {
      impl_->call(
          "DELETE", key, id_query, [](auto&) {}, false);  // even when interrupted
    } catch (const error&) {                              // the original failure matters more than a failed abort
    }
  }

  std::string put_multipart(const std::string& key, const detail::file& in, std::uint64_t size,
                            const put_condition& condition) {
    const std::uint64_t part_size = impl_->settings.limits.part_size;
    const std::uint64_t count = (size + part_size - 1) / part_size;
    if (count > s3::max_parts)
      detail::throw_usage("S3 multipart upload of " + impl_->where(key) + ": " + std::to_string(size) +
                          " bytes in parts of " + std::to_string(part_size) + " is " + std::to_string(count) +
                          " parts; S3 takes at most 10,000 (raise s3_config.part_size)");
    const std::string id_query = start_multipart(key);
    try {
      std::vector<std::string> etags(static_cast<std::size_t>(count));
      detail::parallel_for(etags.size(), impl_->settings.limits.part_concurrency, [&](std::size_t i) {
        const std::uint64_t offset = i * part_size, length = std::min(part_size, size - offset);
        const std::string number = std::to_string(i + 1);
        const std::string hash = sha256_of(in, offset, length);
        auto r = impl_->call("PUT", key, "partNumber=" + number + "&" + id_query, [&](s3::http_request& q) {
          q.body_file = &in;
          q.body_offset = offset;
          q.body_length = length;
          q.headers.emplace_back("x-amz-content-sha256", hash);
        });
        impl_->expect_success("PUT (part " + number + ")", key, r);
        etags[i] = r.headers["etag"];
      });
      auto done = impl_->conditional_write(
          "POST (complete multipart upload)", key, condition,
          [&](const std::string& if_match) { return complete_multipart(key, id_query, etags, condition, if_match); });
      s3::xml_reply reply(done.body);
      if (s3::local_name(reply.root) == "Error")  // S3 may fail a completion inside a 200 (retried first)
        detail::throw_store(
            "S3 multipart upload of " + impl_->where(key) + " failed: " + s3::child_text(reply.root, "Code") + ": " +
                s3::child_text(reply.root, "Message") + impl_->request_id(done) + " (retries exhausted)",
            static_cast<int>(done.status), true, done.may_have_applied);
      std::string etag = done.headers["etag"];
      if (etag.empty()) etag = s3::child_text(reply.root, "ETag");
      return etag;
    } catch (...) {
      abort_multipart(key, id_query);
      throw;
    }
  }

  // fencing()'s probe, on a scratch object deleted after (a failure to delete leaves it; it
  // is no data file, so nothing reads it and gc leaves it alone).
  fencing_report probe_fencing(const std::string& prefix) {
    const std::string key = prefix + ".s4db-fencing-probe-" + std::to_string(std::random_device{}()) +
                            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
    auto raw_put = [&](std::string_view body, const char* header, const std::string& value) {
      auto r = impl_->call("PUT", key, {}, [&](s3::http_request& q) {
        q.body = body;
        q.headers.emplace_back("x-amz-content-sha256", sigv4::sha256_hex(body));
        q.headers.emplace_back(header, value);
      });
      if (!impl::refused(r)) impl_->expect_success("PUT (fencing probe)", key, r);
      return r;
    };
    fencing_report report;
    try {
      auto first = raw_put("1", "If-None-Match", "*");
      const bool created = !impl::refused(first);  // else it refuses If-None-Match: * on a new object too
      std::string etag = created ? first.headers["etag"] : put(key, "1");
      auto again = raw_put("2", "If-None-Match", "*");
      report.if_absent = created && impl::refused(again);
      if (!report.if_absent) etag = again.headers["etag"];
      auto wrong = raw_put("3", "If-Match", "\"00000000000000000000000000000000\"");
      const bool wrong_refused = impl::refused(wrong);
      if (!wrong_refused) etag = wrong.headers["etag"];
      bool right_accepted = true;
      try {
        put(key, "4", put_condition::when_matching(etag));
      } catch (const conflict_error&) {
        right_accepted = false;
      }
      report.if_match = wrong_refused && right_accepted;
      report.unquoted_etag = impl_->traits->unquoted_etag;
      const std::string id_query = start_multipart(key);
      try {
        auto part = impl_->call("PUT", key, "partNumber=1&" + id_query, [&](s3::http_request& q) {
          q.body = "5";
          q.headers.emplace_back("x-amz-content-sha256", sigv4::sha256_hex("5"));
        });
        impl_->expect_success("PUT (fencing probe, part 1)", key, part);
        auto done = complete_multipart(key, id_query, {part.headers["etag"]}, put_condition::when_absent(), "");
        report.multipart = impl::refused(done);
        if (!report.multipart) impl_->expect_success("POST (fencing probe, complete multipart upload)", key, done);
      } catch (...) {
        abort_multipart(key, id_query);
        throw;
      }
      if (report.multipart) abort_multipart(key, id_query);
    } catch (...) {
      remove_quietly(key);
      throw;
    }
    remove_quietly(key);
    return report;
  }

  void remove_quietly(const std::string& key) {
    try {
      impl_->call(
          "DELETE", key, {}, [](auto&) {}, false);  // even when interrupted
    } catch (const error&) {
    }
  }

  std::shared_ptr<impl> impl_;
};

static_assert(store<s3_store>);

// The default database: S3, Snappy, compact index.
using db = basic_db<s3_store>;

}  // namespace v0
}  // namespace s4db
