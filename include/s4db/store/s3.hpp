// s3_store: the Store policy over S3 and S3-compatible servers, with libcurl and an AWS
// Signature V4 computed here (store/s3/sigv4.hpp). Needs libcurl, OpenSSL and pugixml;
// including this header is how a program opts into them (CMake target s4db::s3).
//
// Requests: get = one GET (a 404 NoSuchKey is nullopt); get_range = one ranged GET, no
// HEAD first; put = one PUT, put_file = one streamed PUT or, above the multipart
// threshold, a multipart upload that is aborted on failure; head = one HEAD; remove = one
// multi-object DELETE per 1,000 keys; list = one ListObjectsV2 per page.
// Failures: 5xx, 429/SlowDown, timeouts and dropped connections are retried with
// exponential backoff and full jitter; other 4xx are not. What still fails is a
// store_error naming the operation, bucket, key, HTTP status and the server's error code
// and message; 412/409 on a conditional put is a conflict_error. No message carries a secret.
// Thread-safe; copies share one connection pool.
#pragma once

#include <openssl/evp.h>
#include <openssl/md5.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../concepts.hpp"
#include "../detail/file.hpp"
#include "../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "../error.hpp"
#include "../fwd.hpp"
#include "s3/config.hpp"
#include "s3/http.hpp"
#include "s3/sigv4.hpp"
#include "s3/xml.hpp"

namespace s4db {
inline namespace v0 {

class s3_store {
 public:
  explicit s3_store(s3_config config = {}) : impl_(std::make_shared<impl>(s3::resolve(config))) {}

  std::optional<object> get(const std::string& key) {
    auto r = impl_->call("GET", key, {}, [](auto&) {});
    if (r.status == 404 && error_code(r) != "NoSuchBucket") return std::nullopt;
    impl_->expect_success("GET", key, r);
    return object{std::move(r.body), r.headers["etag"]};
  }

  std::string get_range(const std::string& key, std::uint64_t offset, std::uint64_t length) {
    if (length == 0) return {};
    auto r = impl_->call("GET", key, {}, [&](s3::http_request& q) {
      q.headers.emplace_back("Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1));
    });
    if (r.status == 416) return {};  // the range starts past the end
    impl_->expect_success("GET (range)", key, r);
    if (r.status == 200 && r.body.size() > length) {  // a server that ignores Range
      r.body = offset < r.body.size()
                   ? r.body.substr(static_cast<std::size_t>(offset), static_cast<std::size_t>(length))
                   : std::string();
    }
    return std::move(r.body);
  }

  bool get_file(const std::string& key, const std::filesystem::path& path) {
    detail::file out(path, O_WRONLY | O_CREAT | O_TRUNC);
    auto r = impl_->call("GET", key, {}, [&](s3::http_request& q) {
      out.truncate(0);  // a retried attempt starts over
      q.response_file = &out;
    });
    if (r.status == 404 && error_code(r) != "NoSuchBucket") return false;
    impl_->expect_success("GET", key, r);
    return true;
  }

  std::string put(const std::string& key, std::string_view data, const put_condition& condition = {}) {
    const std::string hash = sigv4::sha256_hex(data);
    auto r = impl_->call("PUT", key, {}, [&](s3::http_request& q) {
      q.body = data;
      q.headers.emplace_back("x-amz-content-sha256", hash);
      add_condition(q, condition);
    });
    impl_->expect_put_success("PUT", key, r);
    return r.headers["etag"];
  }

  std::string put_file(const std::string& key, const std::filesystem::path& path, const put_condition& condition = {}) {
    detail::file in(path, O_RDONLY);
    const std::uint64_t size = in.size();
    if (size > impl_->settings.limits.multipart_threshold) return put_multipart(key, in, size, condition);
    const std::string hash = sha256_of(in, 0, size);
    auto r = impl_->call("PUT", key, {}, [&](s3::http_request& q) {
      q.body_file = &in;
      q.body_length = size;
      q.headers.emplace_back("x-amz-content-sha256", hash);
      add_condition(q, condition);
    });
    impl_->expect_put_success("PUT", key, r);
    return r.headers["etag"];
  }

  std::optional<object_info> head(const std::string& key) {
    auto r = impl_->call("HEAD", key, {}, [](auto&) {});
    if (r.status == 404) return std::nullopt;
    impl_->expect_success("HEAD", key, r);
    return object_info{key, std::stoull(r.headers["content-length"].empty() ? "0" : r.headers["content-length"]),
                       r.headers["etag"]};
  }

  void remove(std::span<const std::string> keys) {
    for (std::size_t start = 0; start < keys.size(); start += 1000) {
      std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>true</Quiet>";
      const auto batch = keys.subspan(start, std::min<std::size_t>(1000, keys.size() - start));
      for (const auto& k : batch) body += "<Object><Key>" + s3::xml_escape(k) + "</Key></Object>";
      body += "</Delete>";
      const std::string hash = sigv4::sha256_hex(body);
      const std::string md5 = md5_base64(body);
      auto r = impl_->call("POST", "", "delete", [&](s3::http_request& q) {
        q.body = body;
        q.headers.emplace_back("x-amz-content-sha256", hash);
        q.headers.emplace_back("Content-MD5", md5);
      });
      impl_->expect_success("DELETE (multi-object)", batch.front(), r);
      s3::xml_reply reply(r.body);
      s3::for_each_child(reply.root, "Error", [&](const pugi::xml_node& e) {
        if (s3::child_text(e, "Code") != "NoSuchKey")
          detail::throw_store("S3 DELETE " + impl_->where(s3::child_text(e, "Key")) +
                                  " failed: " + s3::child_text(e, "Code") + ": " + s3::child_text(e, "Message"),
                              static_cast<int>(r.status), false);
      });
    }
  }

  std::vector<object_info> list(const std::string& prefix) {
    std::vector<object_info> out;
    std::string token;
    for (;;) {
      std::string query = "list-type=2&max-keys=" + std::to_string(impl_->settings.limits.list_page_size) +
                          "&prefix=" + sigv4::uri_encode(prefix, false);
      if (!token.empty()) query += "&continuation-token=" + sigv4::uri_encode(token, false);
      auto r = impl_->call("GET", "", query, [](auto&) {});
      impl_->expect_success("LIST", prefix + "*", r);
      s3::xml_reply reply(r.body);
      if (s3::local_name(reply.root) != "ListBucketResult")
        detail::throw_store("S3 LIST " + impl_->where(prefix + "*") + ": the reply is not a ListBucketResult",
                            static_cast<int>(r.status), true);
      s3::for_each_child(reply.root, "Contents", [&](const pugi::xml_node& c) {
        out.push_back({s3::child_text(c, "Key"), std::stoull("0" + s3::child_text(c, "Size")),
                       s3::child_text(c, "ETag"), s3::parse_timestamp(s3::child_text(c, "LastModified"))});
      });
      token = s3::child_text(reply.root, "NextContinuationToken");
      if (s3::child_text(reply.root, "IsTruncated") != "true" || token.empty()) break;
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    return out;
  }

  // The settings in force (never printing a secret: see describe()).
  const s3::settings& settings() const noexcept { return impl_->settings; }
  // How many TCP connections this store (and its copies) opened so far.
  std::uint64_t connections_opened() const noexcept { return impl_->http.connections_opened(); }

 private:
  struct impl {
    explicit impl(s3::settings s)
        : settings(std::move(s)),
          http({static_cast<long>(settings.limits.connect_timeout.count()),
                static_cast<long>(settings.limits.stall_timeout.count())}) {
      const auto scheme_end = settings.endpoint.find("://");
      scheme = settings.endpoint.substr(0, scheme_end);
      host = settings.endpoint.substr(scheme_end + 3);
    }

    s3::settings settings;
    s3::http_client http;
    std::string scheme, host;

    std::string where(const std::string& key) const { return "s3://" + settings.bucket + "/" + key; }

    // One logical request: signed afresh and sent, retried as the header comment says, and
    // stopped by s3_config::interrupted unless `interruptible` is false.
    template <class Prepare>
    s3::http_response call(const std::string& method, const std::string& key, const std::string& query,
                           Prepare&& prepare, bool interruptible = true) {
      const auto* interrupted = interruptible && settings.limits.interrupted ? &settings.limits.interrupted : nullptr;
      std::mt19937_64 rng(std::random_device{}());
      // GET and HEAD change nothing; any other request that failed after it was sent may
      // have applied, and the caller must treat the outcome as unknown.
      const bool changes = method != "GET" && method != "HEAD";
      bool may_have_applied = false;
      for (int attempt = 0;; ++attempt) {
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
        try {
          auto r = http.perform(q, interrupted);
          r.may_have_applied = may_have_applied;
          const bool retryable = r.status >= 500 || r.status == 429;
          if (!retryable || attempt >= settings.limits.max_retries) return r;
        } catch (const s3::transport_failure& f) {
          may_have_applied = may_have_applied || (changes && f.after_send());
          if (f.code == CURLE_ABORTED_BY_CALLBACK) {  // interrupted: said at the top of the loop
            may_have_applied = may_have_applied || changes;
            continue;
          }
          if (!f.retryable() || attempt >= settings.limits.max_retries)
            detail::throw_store("S3 " + method + " " + where(key) + " failed: " + f.message + " (after " +
                                    std::to_string(attempt + 1) + " attempts)" +
                                    (may_have_applied ? "; it may have been applied" : ""),
                                0, f.retryable(), may_have_applied);
        }
        // Full jitter: a random pause up to min(max_delay, base * 2^attempt).
        const auto cap = std::min<long long>(settings.limits.retry_max_delay.count(),
                                             settings.limits.retry_base_delay.count() << std::min(attempt, 20));
        std::this_thread::sleep_for(
            std::chrono::milliseconds(std::uniform_int_distribution<long long>(0, std::max<long long>(cap, 1))(rng)));
      }
    }

    void sign(s3::http_request& q, const std::string& key, const std::string& query) const {
      std::string request_host = host, path;
      if (settings.path_style) {
        path = "/" + settings.bucket + (key.empty() ? "" : "/" + key);
      } else {
        request_host = settings.bucket + "." + host;
        path = "/" + key;
      }
      q.url = scheme + "://" + request_host + sigv4::uri_encode(path, true) + (query.empty() ? "" : "?" + query);
      sigv4::request r{q.method, path, query, q.headers, ""};
      for (const auto& [name, value] : q.headers)
        if (name == "x-amz-content-sha256") r.payload_hash = value;
      r.headers.emplace_back("host", request_host);
      sigv4::sign(r, settings.credentials, settings.region, "s3", amz_now());
      // Send what was signed, less host (curl sends the same one from the URL).
      q.headers.assign(r.headers.begin(), r.headers.end());
      std::erase_if(q.headers, [](const auto& h) { return h.first == "host"; });
    }

    static std::string amz_now() {
      const std::time_t now = std::time(nullptr);
      std::tm utc{};
      gmtime_r(&now, &utc);
      char buf[17];
      std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &utc);
      return buf;
    }

    [[noreturn]] void fail(const std::string& op, const std::string& key, const s3::http_response& r) const {
      s3::xml_reply reply(r.body);
      std::string detail = error_code(r);
      const std::string message = s3::child_text(reply.root, "Message");
      if (!message.empty()) detail += ": " + message;
      const bool retryable = r.status >= 500 || r.status == 429;
      detail::throw_store("S3 " + op + " " + where(key) + " failed: HTTP " + std::to_string(r.status) +
                              (detail.empty() ? "" : " " + detail) + (retryable ? " (retries exhausted)" : "") +
                              (r.may_have_applied ? "; an earlier attempt may have been applied" : ""),
                          static_cast<int>(r.status), retryable, r.may_have_applied);
    }

    void expect_success(const std::string& op, const std::string& key, const s3::http_response& r) const {
      if (r.status < 200 || r.status >= 300) fail(op, key, r);
    }

    void expect_put_success(const std::string& op, const std::string& key, const s3::http_response& r) const {
      if (r.status == 412 || r.status == 409)
        detail::throw_conflict("S3 " + op + " " + where(key) + ": the condition failed (HTTP " +
                               std::to_string(r.status) + " " + error_code(r) + ")");
      expect_success(op, key, r);
    }
  };

  // The server's error code: from the XML body, else from the status (HEAD has no body).
  static std::string error_code(const s3::http_response& r) {
    s3::xml_reply reply(r.body);
    std::string code = s3::child_text(reply.root, "Code");
    if (!code.empty()) return code;
    switch (r.status) {
      case 403:
        return "AccessDenied";
      case 404:
        return "NotFound";
      case 412:
        return "PreconditionFailed";
      default:
        return {};
    }
  }

  static void add_condition(s3::http_request& q, const put_condition& c) {
    if (c.if_absent) q.headers.emplace_back("If-None-Match", "*");
    if (c.if_match) q.headers.emplace_back("If-Match", *c.if_match);
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

  std::string put_multipart(const std::string& key, const detail::file& in, std::uint64_t size,
                            const put_condition& condition) {
    auto start = impl_->call("POST", key, "uploads", [](auto&) {});
    impl_->expect_success("POST (start multipart upload)", key, start);
    const std::string upload_id = s3::child_text(s3::xml_reply(start.body).root, "UploadId");
    if (upload_id.empty())
      detail::throw_store("S3 multipart upload of " + impl_->where(key) + ": no UploadId in the reply", 0, true);
    const std::string id_query = "uploadId=" + sigv4::uri_encode(upload_id, false);
    try {
      std::string parts;
      const std::uint64_t part_size = std::max<std::uint64_t>(impl_->settings.limits.part_size, 1);
      int number = 1;
      for (std::uint64_t offset = 0; offset < size; offset += part_size, ++number) {
        const std::uint64_t length = std::min(part_size, size - offset);
        const std::string hash = sha256_of(in, offset, length);
        auto r =
            impl_->call("PUT", key, "partNumber=" + std::to_string(number) + "&" + id_query, [&](s3::http_request& q) {
              q.body_file = &in;
              q.body_offset = offset;
              q.body_length = length;
              q.headers.emplace_back("x-amz-content-sha256", hash);
            });
        impl_->expect_success("PUT (part " + std::to_string(number) + ")", key, r);
        parts += "<Part><PartNumber>" + std::to_string(number) + "</PartNumber><ETag>" +
                 s3::xml_escape(r.headers["etag"]) + "</ETag></Part>";
      }
      const std::string body = "<CompleteMultipartUpload>" + parts + "</CompleteMultipartUpload>";
      const std::string hash = sigv4::sha256_hex(body);
      auto done = impl_->call("POST", key, id_query, [&](s3::http_request& q) {
        q.body = body;
        q.headers.emplace_back("x-amz-content-sha256", hash);
        add_condition(q, condition);
      });
      impl_->expect_put_success("POST (complete multipart upload)", key, done);
      s3::xml_reply reply(done.body);
      if (s3::local_name(reply.root) == "Error")  // S3 may fail a completion inside a 200
        detail::throw_store("S3 multipart upload of " + impl_->where(key) + " failed: " +
                                s3::child_text(reply.root, "Code") + ": " + s3::child_text(reply.root, "Message"),
                            static_cast<int>(done.status), true);
      std::string etag = done.headers["etag"];
      if (etag.empty()) etag = s3::child_text(reply.root, "ETag");
      return etag;
    } catch (...) {
      try {
        impl_->call(
            "DELETE", key, id_query, [](auto&) {}, false);  // even when interrupted
      } catch (const error&) {                              // the original failure matters more than a failed abort
      }
      throw;
    }
  }

  std::shared_ptr<impl> impl_;
};

static_assert(store<s3_store>);

// The default database: S3, Snappy, hash index.
using db = basic_db<s3_store>;

}  // namespace v0
}  // namespace s4db
