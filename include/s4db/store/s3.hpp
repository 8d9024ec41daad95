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
#include "s3/client.hpp"

// Defined by the s4db::s3 CMake target, the s4db-s3 Meson dependency and pkg-config module,
// which also link what this header needs: without them a program would stop at the link
// with dozens of undefined curl_* references.
#ifndef S4DB_WITH_S3
#error \
    "s4db/store/s3.hpp needs libcurl, libcrypto and pugixml at link time: link the s4db::s3 CMake target, the s4db-s3 Meson dependency or `pkg-config --cflags --libs s4db-s3` (linking them yourself, define S4DB_WITH_S3)"
#endif

namespace s4db {
inline namespace v0 {

class s3_store {
 public:
  explicit s3_store(s3_config config = {}) : client_(std::make_shared<s3::client>(s3::resolve(config))) {}

  std::optional<object> get(const std::string& key) {
    auto r = client_->call("GET", key, {},
                           [&](s3::http_request& q) { q.max_body = client_->settings.limits.max_object_in_memory; });
    if (r.status == 404 && s3::error_code(r) != "NoSuchBucket") return std::nullopt;
    client_->expect_success("GET", key, r);
    return object{std::move(r.body), r.headers["etag"]};
  }

  std::string get_range(const std::string& key, std::uint64_t offset, std::uint64_t length) {
    if (length == 0) return {};
    const std::uint64_t last = offset + length - 1;
    // At most `length` bytes are kept: a longer 206 fails; a 200 (the server ignored Range
    // and sends the whole object) is read up to the end of the range and no further.
    auto r = client_->call("GET", key, {}, [&](s3::http_request& q) {
      q.headers.emplace_back("Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(last));
      q.range = true;
      q.max_body = length;
      q.skip_on_200 = offset;
    });
    if (r.status == 416) return {};  // the range starts past the end
    client_->expect_success("GET (range)", key, r);
    if (r.status == 200) return std::move(r.body);
    const std::string& range = r.headers["content-range"];  // "bytes FIRST-LAST/SIZE"
    unsigned long long first = 0;
    if (std::sscanf(range.c_str(), "bytes %llu-", &first) != 1 || first != offset || r.body.size() > length)
      detail::throw_store("S3 GET (range) " + client_->where(key) + ": asked for bytes " + std::to_string(offset) +
                              "-" + std::to_string(last) + ", the server answered '" + range + "' with " +
                              std::to_string(r.body.size()) + " bytes",
                          static_cast<int>(r.status), true);
    return std::move(r.body);
  }

  bool get_file(const std::string& key, const std::filesystem::path& path) {
    detail::file out(path, O_WRONLY | O_CREAT | O_TRUNC);
    auto r = client_->call("GET", key, {}, [&](s3::http_request& q) {
      out.truncate(0);  // a retried attempt starts over
      q.response_file = &out;
    });
    if (r.status == 404 && s3::error_code(r) != "NoSuchBucket") return false;
    client_->expect_success("GET", key, r);
    return true;
  }

  std::string put(const std::string& key, std::string_view data, const put_condition& condition = {}) {
    const std::string hash = sigv4::sha256_hex(data);
    auto r = client_->conditional_write("PUT", key, condition, [&](const std::string& if_match) {
      return client_->call("PUT", key, {}, [&](s3::http_request& q) {
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
    auto r = client_->conditional_write("PUT", key, condition, [&](const std::string& if_match) {
      return client_->call("PUT", key, {}, [&](s3::http_request& q) {
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
    auto& traits = *client_->traits;
    std::lock_guard lock(traits.probe_mutex);
    const std::string server = client_->settings.endpoint + " bucket " + client_->settings.bucket;
    const auto kept = cache_file ? s3::read_fencing_cache(*cache_file, server) : std::nullopt;
    if (!traits.found) {
      if (kept) {
        traits.adopt(*kept);
      } else {
        auto report = probe_fencing(prefix);
        report.server = server;
        traits.adopt({report, std::chrono::system_clock::now()});
      }
    }
    if (cache_file && !kept) s3::write_fencing_cache(*cache_file, *traits.found);
    return traits.found->report;
  }

  std::optional<object_info> head(const std::string& key) {
    auto r = client_->call("HEAD", key, {}, [](auto&) {});
    if (r.status == 404) {
      client_->require_bucket();
      return std::nullopt;
    }
    client_->expect_success("HEAD", key, r);
    return object_info{key, client_->size_from("HEAD", key, r.headers["content-length"]), r.headers["etag"]};
  }

  void remove(std::span<const std::string> keys) {
    for (std::size_t start = 0; start < keys.size(); start += 1000) {
      const auto batch = keys.subspan(start, std::min<std::size_t>(1000, keys.size() - start));
      if (!client_->multi_delete_unsupported) {
        std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>true</Quiet>";
        for (const auto& k : batch) body += "<Object><Key>" + s3::xml_escape(k) + "</Key></Object>";
        body += "</Delete>";
        const std::string hash = sigv4::sha256_hex(body);
        const std::string md5 = md5_base64(body);
        auto r = client_->call("POST", "", "delete", [&](s3::http_request& q) {
          q.body = body;
          q.headers.emplace_back("x-amz-content-sha256", hash);
          q.headers.emplace_back("Content-MD5", md5);
        });
        if (r.status != 501) {
          client_->expect_success("DELETE (multi-object)", batch.front(), r);
          s3::xml_reply reply(r.body);
          s3::for_each_child(reply.root, "Error", [&](const pugi::xml_node& e) {
            if (s3::child_text(e, "Code") != "NoSuchKey")
              detail::throw_store("S3 DELETE " + client_->where(s3::child_text(e, "Key")) +
                                      " failed: " + s3::child_text(e, "Code") + ": " + s3::child_text(e, "Message"),
                                  static_cast<int>(r.status), false);
          });
          continue;
        }
        client_->multi_delete_unsupported = true;  // Google Cloud Storage: one DELETE per key
      }
      detail::parallel_for(batch.size(), client_->settings.limits.part_concurrency, [&](std::size_t i) {
        auto r = client_->call("DELETE", batch[i], {}, [](auto&) {});
        if (r.status != 404) client_->expect_success("DELETE", batch[i], r);
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
          "encoding-type=url&list-type=2&max-keys=" + std::to_string(client_->settings.limits.list_page_size) +
          "&prefix=" + sigv4::uri_encode(prefix, false);
      if (!token.empty()) query += "&continuation-token=" + sigv4::uri_encode(token, false);
      auto r = client_->call("GET", "", query, [](auto&) {});
      client_->expect_success("LIST", prefix + "*", r);
      s3::xml_reply reply(r.body);
      if (s3::local_name(reply.root) != "ListBucketResult")
        detail::throw_store("S3 LIST " + client_->where(prefix + "*") + ": the reply is not a ListBucketResult",
                            static_cast<int>(r.status), true);
      const bool encoded = s3::child_text(reply.root, "EncodingType") == "url";
      const std::size_t listed = out.size();
      s3::for_each_child(reply.root, "Contents", [&](const pugi::xml_node& c) {
        std::string key = s3::child_text(c, "Key");
        if (encoded) key = s3::url_decoded(std::move(key));
        if (!key.starts_with(prefix))
          detail::throw_store(
              "S3 LIST " + client_->where(prefix + "*") + ": the server listed '" + key + "', outside the prefix",
              static_cast<int>(r.status), false);
        const auto size = client_->size_from("LIST", key, s3::child_text(c, "Size"));
        out.push_back(
            {std::move(key), size, s3::child_text(c, "ETag"), s3::parse_timestamp(s3::child_text(c, "LastModified"))});
      });
      token = s3::child_text(reply.root, "NextContinuationToken");
      if (s3::child_text(reply.root, "IsTruncated") != "true" || token.empty()) break;
      if (!tokens.insert(token).second || out.size() == listed)
        detail::throw_store("S3 LIST " + client_->where(prefix + "*") + ": the server sent " +
                                (out.size() == listed ? "a truncated page with no keys"
                                                      : "the continuation token '" + token + "' a second time") +
                                "; the listing makes no progress",
                            static_cast<int>(r.status), false);
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    return out;
  }

  // The settings in force (never printing a secret: see describe()).
  const s3::settings& settings() const noexcept { return client_->settings; }
  // The region requests are signed for now (the configured one until a redirect moved it).
  std::string region() const { return client_->location().region; }
  // How many TCP connections this store (and its copies) opened so far.
  std::uint64_t connections_opened() const noexcept { return client_->http.connections_opened(); }

 private:
  // The condition's headers, If-Match carrying `if_match` (its ETag as the server reads it).
  static void add_condition(s3::http_request& q, const put_condition& c, const std::string& if_match) {
    if (c.if_absent) q.headers.emplace_back("If-None-Match", "*");
    if (c.if_match) q.headers.emplace_back("If-Match", if_match);
  }

  // The headers every object write carries: the condition, then SSE and extra_headers.
  void add_put_headers(s3::http_request& q, const put_condition& c, const std::string& if_match) const {
    add_condition(q, c, if_match);
    for (const auto& h : client_->settings.put_headers) q.headers.push_back(h);
  }

  // Whether put_file sends these bytes in parts: above multipart_threshold, and under a
  // condition only where the probe saw the server fence a multipart completion (Ceph RGW 16
  // ignores the condition there and overwrites); else one PUT, which S3 takes up to 5 GiB.
  bool in_parts(const std::string& key, std::uint64_t size, const put_condition& condition) const {
    if (size <= client_->settings.limits.multipart_threshold) return false;
    if ((!condition.if_absent && !condition.if_match) || client_->traits->multipart_fenced) return true;
    if (size > s3::max_part_size)
      detail::throw_usage("S3 PUT " + client_->where(key) + ": " + std::to_string(size) +
                          " bytes under a condition is more than one PUT takes (5 GiB), and " +
                          client_->settings.endpoint +
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
    auto start = client_->call("POST", key, "uploads", [&](s3::http_request& q) {
      for (const auto& h : client_->settings.put_headers) q.headers.push_back(h);
    });
    client_->expect_success("POST (start multipart upload)", key, start);
    const std::string upload_id = s3::child_text(s3::xml_reply(start.body).root, "UploadId");
    if (upload_id.empty())
      detail::throw_store("S3 multipart upload of " + client_->where(key) + ": no UploadId in the reply", 0, true);
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
    return client_->call("POST", key, id_query, [&](s3::http_request& q) {
      q.body = body;
      q.headers.emplace_back("x-amz-content-sha256", hash);
      add_condition(q, condition, if_match);
    });
  }

  void abort_multipart(const std::string& key, const std::string& id_query) {
    try {
      client_->call(
          "DELETE", key, id_query, [](auto&) {}, false);  // even when interrupted
    } catch (const error&) {                              // the original failure matters more than a failed abort
    }
  }

  std::string put_multipart(const std::string& key, const detail::file& in, std::uint64_t size,
                            const put_condition& condition) {
    const std::uint64_t part_size = client_->settings.limits.part_size;
    const std::uint64_t count = (size + part_size - 1) / part_size;
    if (count > s3::max_parts)
      detail::throw_usage("S3 multipart upload of " + client_->where(key) + ": " + std::to_string(size) +
                          " bytes in parts of " + std::to_string(part_size) + " is " + std::to_string(count) +
                          " parts; S3 takes at most 10,000 (raise s3_config.part_size)");
    const std::string id_query = start_multipart(key);
    try {
      std::vector<std::string> etags(static_cast<std::size_t>(count));
      detail::parallel_for(etags.size(), client_->settings.limits.part_concurrency, [&](std::size_t i) {
        const std::uint64_t offset = i * part_size, length = std::min(part_size, size - offset);
        const std::string number = std::to_string(i + 1);
        const std::string hash = sha256_of(in, offset, length);
        auto r = client_->call("PUT", key, "partNumber=" + number + "&" + id_query, [&](s3::http_request& q) {
          q.body_file = &in;
          q.body_offset = offset;
          q.body_length = length;
          q.headers.emplace_back("x-amz-content-sha256", hash);
        });
        client_->expect_success("PUT (part " + number + ")", key, r);
        etags[i] = r.headers["etag"];
      });
      auto done = client_->conditional_write(
          "POST (complete multipart upload)", key, condition,
          [&](const std::string& if_match) { return complete_multipart(key, id_query, etags, condition, if_match); });
      s3::xml_reply reply(done.body);
      if (s3::local_name(reply.root) == "Error")  // S3 may fail a completion inside a 200 (retried first)
        detail::throw_store(
            "S3 multipart upload of " + client_->where(key) + " failed: " + s3::child_text(reply.root, "Code") + ": " +
                s3::child_text(reply.root, "Message") + client_->request_id(done) + " (retries exhausted)",
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
      auto r = client_->call("PUT", key, {}, [&](s3::http_request& q) {
        q.body = body;
        q.headers.emplace_back("x-amz-content-sha256", sigv4::sha256_hex(body));
        q.headers.emplace_back(header, value);
      });
      if (!s3::client::refused(r)) client_->expect_success("PUT (fencing probe)", key, r);
      return r;
    };
    fencing_report report;
    try {
      auto first = raw_put("1", "If-None-Match", "*");
      const bool created = !s3::client::refused(first);  // else it refuses If-None-Match: * on a new object too
      std::string etag = created ? first.headers["etag"] : put(key, "1");
      auto again = raw_put("2", "If-None-Match", "*");
      report.if_absent = created && s3::client::refused(again);
      if (!s3::client::refused(again)) etag = again.headers["etag"];
      auto wrong = raw_put("3", "If-Match", "\"00000000000000000000000000000000\"");
      const bool wrong_refused = s3::client::refused(wrong);
      if (!wrong_refused) etag = wrong.headers["etag"];
      bool right_accepted = true;
      try {
        put(key, "4", put_condition::when_matching(etag));
      } catch (const conflict_error&) {
        right_accepted = false;
      }
      report.if_match = wrong_refused && right_accepted;
      report.unquoted_etag = client_->traits->unquoted_etag;
      const std::string id_query = start_multipart(key);
      try {
        auto part = client_->call("PUT", key, "partNumber=1&" + id_query, [&](s3::http_request& q) {
          q.body = "5";
          q.headers.emplace_back("x-amz-content-sha256", sigv4::sha256_hex("5"));
        });
        client_->expect_success("PUT (fencing probe, part 1)", key, part);
        auto done = complete_multipart(key, id_query, {part.headers["etag"]}, put_condition::when_absent(), "");
        report.multipart = s3::client::refused(done);
        if (!report.multipart) client_->expect_success("POST (fencing probe, complete multipart upload)", key, done);
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
      client_->call(
          "DELETE", key, {}, [](auto&) {}, false);  // even when interrupted
    } catch (const error&) {
    }
  }

  std::shared_ptr<s3::client> client_;
};

static_assert(store<s3_store>);

// The default database: S3, Snappy, compact index.
using db = basic_db<s3_store>;

}  // namespace v0
}  // namespace s4db
