// How s3_store answers each kind of S3 reply, against a scripted S3 endpoint on 127.0.0.1
// (tests/s3/loopback_servers.hpp): the SDKs' standard retry table and quota, the region
// redirect, clock skew, an expired token, a 200 holding an error, multi-object delete
// answering 501, a server that ignores Range, URL-encoded listings, request ids, the
// User-Agent, and the encryption and extra headers on every object write.
#include <set>
#include <thread>

#include "s3/loopback_servers.hpp"
#include "support.hpp"

using namespace s4db_test;

namespace {

using answer = scripted_s3::answer;
using request = scripted_s3::request;

s4db::s3_config scripted_config(const scripted_s3& server) {
  s4db::s3_config c;
  c.bucket = "bucket";
  c.endpoint = server.endpoint();
  c.region = "us-east-1";
  c.access_key_id = "AKIDSCRIPTED";
  c.secret_access_key = "scripted-secret";
  c.retry_base_delay = std::chrono::milliseconds(1);
  c.retry_max_delay = std::chrono::milliseconds(5);
  return c;
}

std::string what_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const s4db::error& e) {
    return e.what();
  }
  return "";
}

bool has_header(const request& q, const std::string& name) { return q.headers.find(name) != q.headers.end(); }

// Objects kept in memory with conditional writes read the way Ceph RGW 16 reads them:
// If-Match matches the stored ETag without its quotes, If-None-Match: * is honoured on a
// PUT, and a multipart completion ignores both and overwrites. ETags go out quoted.
class rgw_like_objects {
 public:
  answer serve(const request& q) {
    const auto path_end = q.target.find('?');
    const std::string key = q.target.substr(8, path_end == std::string::npos ? std::string::npos : path_end - 8);
    const std::string query = path_end == std::string::npos ? "" : q.target.substr(path_end + 1);
    std::lock_guard lock(mutex_);
    const auto found = objects_.find(key);
    if (q.method == "HEAD" || q.method == "GET") {
      if (found == objects_.end()) return scripted_s3::error(404, "NoSuchKey");
      return {200, q.method == "GET" ? found->second : "", {{"ETag", quoted(found->second)}}};
    }
    if (q.method == "DELETE") {
      if (query.empty()) objects_.erase(key);
      return {204, "", {}};
    }
    if (q.method == "POST" && query == "delete") {
      for (auto at = q.body.find("<Key>"); at != std::string::npos; at = q.body.find("<Key>", at + 5))
        objects_.erase(q.body.substr(at + 5, q.body.find("</Key>", at) - at - 5));
      return {200, "<DeleteResult/>", {}};
    }
    if (q.method == "POST" && query == "uploads")
      return {200, "<InitiateMultipartUploadResult><UploadId>U</UploadId></InitiateMultipartUploadResult>", {}};
    if (q.method == "PUT" && query.starts_with("partNumber=")) {
      parts_[key] += q.body;
      return {200, "", {{"ETag", "\"part\""}}};
    }
    if (q.method == "POST") {  // completion: no condition is looked at
      objects_[key] = parts_[key];
      parts_.erase(key);
      return {
          200,
          "<CompleteMultipartUploadResult><ETag>" + quoted(objects_[key]) + "</ETag></CompleteMultipartUploadResult>",
          {}};
    }
    if (q.header("If-None-Match") == "*" && found != objects_.end())
      return scripted_s3::error(412, "PreconditionFailed");
    if (has_header(q, "If-Match") && (found == objects_.end() || q.header("If-Match") != etag(found->second)))
      return scripted_s3::error(412, "PreconditionFailed");
    objects_[key] = q.body;
    return {200, "", {{"ETag", quoted(q.body)}}};
  }

  std::string body(const std::string& key) {
    std::lock_guard lock(mutex_);
    return objects_[key];
  }

  std::vector<std::string> keys() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [key, body] : objects_) out.push_back(key);
    return out;
  }

 private:
  static std::string etag(const std::string& body) { return std::to_string(std::hash<std::string>{}(body)); }
  static std::string quoted(const std::string& body) { return "\"" + etag(body) + "\""; }

  std::mutex mutex_;
  std::map<std::string, std::string> objects_, parts_;
};

// Whether SignedHeaders in the Authorization header names this (lower-case) header.
bool signed_header(const request& q, const std::string& name) {
  const std::string auth = q.header("Authorization");
  const auto at = auth.find("SignedHeaders=");
  const std::string names = auth.substr(at + 14, auth.find(',', at) - at - 14);
  return (";" + names + ";").find(";" + name + ";") != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(scripted_s3_answers)

BOOST_AUTO_TEST_CASE(the_standard_retry_table) {
  env_guard e(clean_aws_environment);
  struct row {
    int status;
    std::string code;
    bool retried;
  };
  const std::vector<row> table{{500, "InternalError", true},
                               {502, "", true},
                               {503, "SlowDown", true},
                               {503, "", true},
                               {504, "", true},
                               {429, "TooManyRequests", true},
                               {400, "RequestTimeout", true},
                               {400, "BadDigest", true},
                               {400, "Throttling", true},
                               {501, "NotImplemented", false},
                               {400, "InvalidArgument", false},
                               {403, "AccessDenied", false},
                               {404, "NoSuchBucket", false},
                               {405, "MethodNotAllowed", false}};
  for (const auto& [status, code, retried] : table) {
    scripted_s3 server([&, status = status, code = code](const request&, int n) {
      if (n == 0) return code.empty() ? answer{status, "", {}} : scripted_s3::error(status, code);
      return answer{200, "value", {}};
    });
    s4db::s3_store store{scripted_config(server)};
    const std::string label = std::to_string(status) + " " + code;
    if (retried) {
      BOOST_TEST(store.get("k").value().data == "value", label);
      BOOST_TEST(server.requests().size() == 2u, label);
    } else {
      BOOST_CHECK_THROW(store.get("k"), s4db::store_error);
      BOOST_TEST(server.requests().size() == 1u, label);
    }
  }
}

BOOST_AUTO_TEST_CASE(attempts_come_from_the_mode_the_environment_and_the_config) {
  env_guard e(clean_aws_environment);
  scripted_s3 server([](const request&, int) { return scripted_s3::error(500, "InternalError"); });
  auto attempts = [&](s4db::s3_config c) {
    const auto before = server.requests().size();
    s4db::s3_store store{c};
    const std::string what = what_of([&] { store.get("k"); });
    BOOST_TEST(what.find("HTTP 500 InternalError") != std::string::npos, what);
    return server.requests().size() - before;
  };
  auto c = scripted_config(server);
  BOOST_TEST(attempts(c) == 3u);  // standard mode
  {
    env_guard legacy{{"AWS_RETRY_MODE", "legacy"}};
    BOOST_TEST(attempts(c) == 5u);
    env_guard many{{"AWS_MAX_ATTEMPTS", "4"}};
    BOOST_TEST(attempts(c) == 4u);
  }
  c.max_attempts = 1;
  BOOST_TEST(attempts(c) == 1u);
}

BOOST_AUTO_TEST_CASE(the_retry_quota_stops_retrying_into_an_outage) {
  env_guard e(clean_aws_environment);
  scripted_s3 server([](const request&, int) { return scripted_s3::error(503, "ServiceUnavailable"); });
  s4db::s3_store store{scripted_config(server)};
  // 500 tokens, 5 per retry, 2 retries per call: 50 calls spend it; then no retries.
  std::vector<std::size_t> per_call;
  for (int i = 0; i < 55; ++i) {
    const auto before = server.requests().size();
    BOOST_CHECK_THROW(store.get("k"), s4db::store_error);
    per_call.push_back(server.requests().size() - before);
  }
  BOOST_TEST(per_call.front() == 3u);
  BOOST_TEST(per_call[49] == 3u);
  BOOST_TEST(per_call[50] == 1u);
  BOOST_TEST(per_call.back() == 1u);
  // Legacy mode has no quota.
  env_guard legacy{{"AWS_RETRY_MODE", "legacy"}};
  auto c = scripted_config(server);
  c.max_attempts = 2;
  s4db::s3_store unbounded{c};
  for (int i = 0; i < 110; ++i) BOOST_CHECK_THROW(unbounded.get("k"), s4db::store_error);  // 110 retries > 100
  const auto before = server.requests().size();
  BOOST_CHECK_THROW(unbounded.get("k"), s4db::store_error);
  BOOST_TEST(server.requests().size() - before == 2u);
}

BOOST_AUTO_TEST_CASE(a_bucket_in_another_region_is_followed_once_and_remembered) {
  env_guard e(clean_aws_environment);
  scripted_s3 server([](const request& q, int) {
    if (q.signed_region() != "eu-west-1") {
      auto a = q.method == "HEAD" ? answer{301, "", {}} : scripted_s3::error(301, "PermanentRedirect");
      a.headers.emplace_back("x-amz-bucket-region", "eu-west-1");
      return a;
    }
    return answer{200, "value", {{"ETag", "\"e\""}}};
  });
  s4db::s3_store store{scripted_config(server)};
  BOOST_TEST(store.head("k").has_value());  // HEAD: no body, the header says where
  BOOST_TEST(server.requests().size() == 2u);
  BOOST_TEST(store.region() == "eu-west-1");
  BOOST_TEST(store.get("k").value().data == "value");
  BOOST_TEST(server.requests().size() == 3u);  // remembered: straight there

  // A server that always points elsewhere is followed once, not forever.
  scripted_s3 restless([](const request& q, int n) {
    auto a = scripted_s3::error(301, "PermanentRedirect");
    a.headers.emplace_back("x-amz-bucket-region", q.signed_region() + "-moved" + std::to_string(n));
    return a;
  });
  s4db::s3_store lost{scripted_config(restless)};
  const std::string what = what_of([&] { lost.get("k"); });
  BOOST_TEST(what.find("301 PermanentRedirect") != std::string::npos, what);
  BOOST_TEST(restless.requests().size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_skewed_clock_is_corrected_from_the_servers_date) {
  env_guard e(clean_aws_environment);
  const auto server_now = [] { return std::chrono::system_clock::now() + std::chrono::hours(2); };
  scripted_s3 server([&](const request& q, int) {
    std::tm t{};
    const std::string date = q.header("x-amz-date");
    ::strptime(date.c_str(), "%Y%m%dT%H%M%SZ", &t);
    const auto signed_at = std::chrono::system_clock::from_time_t(::timegm(&t));
    if (std::chrono::abs(signed_at - server_now()) > std::chrono::minutes(15)) {
      auto a = scripted_s3::error(403, "RequestTimeTooSkewed");
      const std::time_t now = std::chrono::system_clock::to_time_t(server_now());
      std::tm utc{};
      gmtime_r(&now, &utc);
      char http_date[64];
      std::strftime(http_date, sizeof http_date, "%a, %d %b %Y %H:%M:%S GMT", &utc);
      a.headers.emplace_back("Date", http_date);
      return a;
    }
    return answer{200, "value", {}};
  });
  s4db::s3_store store{scripted_config(server)};
  BOOST_TEST(store.get("k").value().data == "value");
  BOOST_TEST(server.requests().size() == 2u);
  BOOST_TEST(store.get("k").value().data == "value");  // the offset is kept
  BOOST_TEST(server.requests().size() == 3u);
}

BOOST_AUTO_TEST_CASE(a_signature_error_without_skew_is_not_retried) {
  env_guard e(clean_aws_environment);
  scripted_s3 server([](const request&, int) { return scripted_s3::error(403, "SignatureDoesNotMatch"); });
  s4db::s3_store store{scripted_config(server)};
  const std::string what = what_of([&] { store.get("k"); });
  BOOST_TEST(what.find("SignatureDoesNotMatch") != std::string::npos);
  BOOST_TEST(server.requests().size() == 1u);
}

BOOST_AUTO_TEST_CASE(an_expired_token_fetches_new_keys_and_the_request_goes_through) {
  env_guard e(clean_aws_environment);
  scripted_s3 server([](const request& q, int) {
    return q.key_id() == "AKID1" ? scripted_s3::error(400, "ExpiredToken", "The provided token has expired.")
                                 : answer{200, "", {{"ETag", "\"e\""}}};
  });
  auto c = scripted_config(server);
  c.access_key_id.reset();
  c.secret_access_key.reset();
  int fetches = 0;
  c.credentials_provider = [&] {
    ++fetches;
    return s4db::aws_credentials{"AKID" + std::to_string(fetches), "secret", "token",
                                 std::chrono::system_clock::now() + std::chrono::hours(1)};
  };
  s4db::s3_store store{c};
  store.put("k", "v");
  BOOST_TEST(fetches == 2);
  BOOST_TEST(server.requests().size() == 2u);
  BOOST_TEST(server.requests().back().key_id() == "AKID2");
  store.put("k", "v");
  BOOST_TEST(fetches == 2);  // the new keys are kept

  // Keys that stay expired: one refresh, then the error.
  scripted_s3 always([](const request&, int) { return scripted_s3::error(400, "ExpiredToken"); });
  auto stuck = scripted_config(always);
  s4db::s3_store still{stuck};
  const std::string what = what_of([&] { still.put("k", "v"); });
  BOOST_TEST(what.find("ExpiredToken") != std::string::npos, what);
  BOOST_TEST(always.requests().size() == 2u);
}

BOOST_AUTO_TEST_CASE(multipart_parts_go_in_parallel_and_a_200_with_an_error_is_retried) {
  env_guard e(clean_aws_environment);
  std::atomic<int> completions{0}, aborts{0};
  scripted_s3 server([&](const request& q, int) {
    if (q.method == "POST" && q.target.find("uploads") != std::string::npos)
      return answer{200, "<InitiateMultipartUploadResult><UploadId>UP1</UploadId></InitiateMultipartUploadResult>", {}};
    if (q.method == "PUT") {
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
      return answer{200, "", {{"ETag", "\"part\""}}};
    }
    if (q.method == "DELETE") {
      ++aborts;
      return answer{204, "", {}};
    }
    if (++completions == 1)  // S3 may fail a completion after it answered 200
      return answer{
          200, "<?xml version=\"1.0\"?>\n<Error><Code>InternalError</Code><Message>retry</Message></Error>", {}};
    return answer{200, "<CompleteMultipartUploadResult><ETag>\"whole\"</ETag></CompleteMultipartUploadResult>", {}};
  });
  auto c = scripted_config(server);
  c.multipart_threshold = c.part_size = 5u << 20;
  temp_dir tmp;
  write_bytes(tmp.path / "file", std::string((5u << 20) * 3 + 10, 'x'));
  s4db::s3_store store{c};
  BOOST_TEST(store.put_file("k", tmp.path / "file") == "\"whole\"");
  BOOST_TEST(completions == 2);
  BOOST_TEST(aborts == 0);
  BOOST_TEST(server.max_in_flight() >= 2);  // four parts, not one at a time
  std::set<std::string> parts;
  for (const auto& q : server.requests())
    if (q.method == "PUT") parts.insert(q.target.substr(q.target.find("partNumber=")));
  BOOST_TEST(parts.size() == 4u);
}

BOOST_AUTO_TEST_CASE(multi_object_delete_answering_501_falls_back_to_single_deletes) {
  env_guard e(clean_aws_environment);
  scripted_s3 server([](const request& q, int) {
    if (q.method == "POST")
      return scripted_s3::error(501, "NotImplemented", "A header you provided implies unsupported functionality");
    return answer{204, "", {}};
  });
  s4db::s3_store store{scripted_config(server)};
  const std::vector<std::string> keys{"a", "b", "c"};
  store.remove(keys);
  auto seen = server.requests();
  BOOST_TEST(seen.size() == 4u);
  BOOST_TEST(seen.front().method == "POST");
  std::set<std::string> deleted;
  for (const auto& q : seen)
    if (q.method == "DELETE") deleted.insert(q.target);
  BOOST_TEST(deleted == (std::set<std::string>{"/bucket/a", "/bucket/b", "/bucket/c"}));
  store.remove(keys);
  BOOST_TEST(server.requests().size() == 7u);  // remembered: no second POST
}

BOOST_AUTO_TEST_CASE(a_server_that_ignores_range_still_gives_the_bytes_asked_for) {
  env_guard e(clean_aws_environment);
  scripted_s3 server([](const request& q, int) {
    if (q.target.ends_with("/shifted"))  // a 206 for other bytes than asked
      return answer{206, "6789", {{"Content-Range", "bytes 6-9/10"}}};
    return answer{200, "0123456789", {}};  // Range ignored: the whole object
  });
  s4db::s3_store store{scripted_config(server)};
  BOOST_TEST(store.get_range("k", 2, 10) == "23456789");
  BOOST_TEST(store.get_range("k", 2, 3) == "234");
  BOOST_TEST(store.get_range("k", 12, 3) == "");
  const std::string what = what_of([&] { store.get_range("shifted", 2, 4); });
  BOOST_TEST(what.find("bytes 6-9/10") != std::string::npos, what);
}

BOOST_AUTO_TEST_CASE(errors_name_the_request_id_and_requests_carry_the_user_agent) {
  env_guard e(clean_aws_environment);
  scripted_s3 server([](const request&, int) { return scripted_s3::error(403, "AccessDenied", "Access Denied"); });
  s4db::s3_store store{scripted_config(server)};
  const std::string what = what_of([&] { store.get("k"); });
  BOOST_TEST(what.find("HTTP 403 AccessDenied: Access Denied (request id REQAccessDenied)") != std::string::npos, what);
  BOOST_TEST(server.requests().front().header("User-Agent") == "s4db/" S4DB_VERSION_STRING);
  BOOST_TEST(what.find("scripted-secret") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(encryption_and_extra_headers_are_sent_and_signed_on_every_object_write) {
  env_guard e(clean_aws_environment);
  scripted_s3 server([](const request& q, int) {
    if (q.method == "POST" && q.target.find("uploads") != std::string::npos)
      return answer{200, "<InitiateMultipartUploadResult><UploadId>U</UploadId></InitiateMultipartUploadResult>", {}};
    if (q.method == "POST")
      return answer{200, "<CompleteMultipartUploadResult><ETag>\"w\"</ETag></CompleteMultipartUploadResult>", {}};
    return answer{200, "v", {{"ETag", "\"e\""}}};
  });
  auto c = scripted_config(server);
  c.server_side_encryption = "aws:kms";
  c.sse_kms_key_id = "arn:aws:kms:us-east-1:111122223333:key/abc";
  c.extra_headers = {{"x-amz-meta-team", "storage"}, {"x-amz-acl", "bucket-owner-full-control"}};
  c.multipart_threshold = c.part_size = 5u << 20;
  temp_dir tmp;
  write_bytes(tmp.path / "small", "small");
  write_bytes(tmp.path / "big", std::string((5u << 20) + 1, 'b'));
  s4db::s3_store store{c};
  store.put("a", "v");
  store.put_file("b", tmp.path / "small");
  store.put_file("c", tmp.path / "big");
  store.get("a");
  int writes = 0;
  for (const auto& q : server.requests()) {
    const bool object_write = (q.method == "PUT" && q.target.find("partNumber") == std::string::npos) ||
                              (q.method == "POST" && q.target.find("uploads") != std::string::npos);
    for (const char* name : {"x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id",
                             "x-amz-meta-team", "x-amz-acl"}) {
      BOOST_TEST(has_header(q, name) == object_write, q.method << " " << q.target << " " << name);
      if (object_write) BOOST_TEST(signed_header(q, name), name);
    }
    writes += object_write;
  }
  BOOST_TEST(writes == 3);
}

BOOST_AUTO_TEST_CASE(listings_ask_for_url_encoded_keys_and_decode_them) {
  env_guard e(clean_aws_environment);
  scripted_s3 server([](const request& q, int) {
    if (q.target.find("encoding-type=url") == std::string::npos) return scripted_s3::error(400, "NotAsked");
    return answer{200,
                  "<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"
                  "<Contents><Key>p/a%01b+c%2B%C3%A9</Key><Size>3</Size><ETag>\"e\"</ETag>"
                  "<LastModified>2026-11-23T10:00:00.000Z</LastModified></Contents></ListBucketResult>",
                  {}};
  });
  s4db::s3_store store{scripted_config(server)};
  const auto listed = store.list("p/");
  BOOST_REQUIRE(listed.size() == 1u);
  BOOST_TEST(listed[0].key ==
             "p/a\x01"
             "b c+\xc3\xa9");
}

// Issue 18, item 7: the endpoint is untrusted. Whatever it answers, s3_store fails with an
// s4db error in bounded memory and time.

// Bytes without end, 64 KiB at a time, for as long as the client reads.
static bool endless(std::size_t, httplib::DataSink& sink) {
  static const std::string block(64 << 10, 'x');
  return sink.write(block.data(), block.size());
}

BOOST_AUTO_TEST_CASE(a_listing_that_repeats_its_token_or_leaves_the_prefix_is_refused) {
  env_guard e(clean_aws_environment);
  auto page = [](const std::string& keys, const std::string& token) {
    return answer{200,
                  "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>" + token +
                      "</NextContinuationToken>" + keys + "</ListBucketResult>",
                  {}};
  };
  auto contents = [](const std::string& key, const std::string& size) {
    return "<Contents><Key>" + key + "</Key><Size>" + size + "</Size><ETag>\"e\"</ETag></Contents>";
  };
  scripted_s3 server([&](const request& q, int n) {
    if (q.target.find("prefix=loop") != std::string::npos)
      return page(contents("loop" + std::to_string(n), "1"), "same");
    if (q.target.find("prefix=empty") != std::string::npos) return page("", "t" + std::to_string(n));
    if (q.target.find("prefix=huge") != std::string::npos)
      return answer{
          200, "<ListBucketResult>" + contents("huge", "99999999999999999999999") + "</ListBucketResult>", {}};
    if (q.target.find("prefix=p") != std::string::npos)
      return answer{200, "<ListBucketResult>" + contents("elsewhere", "1") + "</ListBucketResult>", {}};
    return answer{200, "", {{"Content-Length", "99999999999999999999999"}, {"ETag", "\"e\""}}};
  });
  s4db::s3_store store{scripted_config(server)};
  BOOST_CHECK_EXCEPTION(store.list("loop"), s4db::store_error, [](const auto& error) {
    return std::string(error.what()).find("continuation token") != std::string::npos;
  });
  BOOST_TEST(server.requests().size() == 2u);
  BOOST_CHECK_THROW(store.list("empty"), s4db::store_error);  // truncated pages of nothing: no progress
  BOOST_CHECK_THROW(store.list("huge"), s4db::store_error);   // a Size past 64 bits
  BOOST_CHECK_EXCEPTION(store.list("p/"), s4db::store_error, [](const auto& error) {
    return std::string(error.what()).find("elsewhere") != std::string::npos;
  });
  BOOST_CHECK_THROW(store.head("k"), s4db::store_error);  // a Content-Length past 64 bits
}

BOOST_AUTO_TEST_CASE(an_endless_body_is_cut_off_in_bounded_memory) {
  env_guard e(clean_aws_environment);
  scripted_s3 server([](const request& q, int) {
    if (q.target.ends_with("/error")) return answer{500, "", {}, endless};
    if (q.target.ends_with("/ignores-range")) return answer{200, "", {}, endless};
    if (q.target.ends_with("/long-range")) return answer{206, "", {{"Content-Range", "bytes 0-9/10"}}, endless};
    return answer{200, "", {{"ETag", "\"e\""}}, endless};
  });
  auto c = scripted_config(server);
  c.max_attempts = 1;
  c.max_object_in_memory = 1 << 20;
  s4db::s3_store store{c};
  const std::string what = what_of([&] { store.get("k"); });
  BOOST_TEST(what.find("1048576 bytes") != std::string::npos, what);
  const std::string error = what_of([&] { store.get("error"); });
  BOOST_TEST(error.find("HTTP 500") != std::string::npos, error);
  BOOST_TEST(error.size() < 20000u);
  BOOST_TEST(store.get_range("ignores-range", 100000, 5) == "xxxxx");  // read up to the range, no further
  BOOST_CHECK_THROW(store.get_range("long-range", 0, 10), s4db::store_error);
}

// Issue 23: a server that matches If-Match only against the bare ETag (Ceph RGW 16). The
// first 412 that the object's own ETag contradicts teaches the spelling, once for the
// endpoint: every store on it sends the bare ETag from then on, and a stale ETag is still
// a conflict.
BOOST_AUTO_TEST_CASE(an_if_match_the_server_reads_unquoted_is_learned_once_per_endpoint) {
  env_guard e(clean_aws_environment);
  rgw_like_objects objects;
  scripted_s3 server([&](const request& q, int) { return objects.serve(q); });
  s4db::s3_store store{scripted_config(server)};
  const auto first = store.put("k", "1", s4db::put_condition::when_absent());
  BOOST_TEST(first.front() == '"');
  const auto second = store.put("k", "2", s4db::put_condition::when_matching(first));
  BOOST_TEST(objects.body("k") == "2");
  BOOST_CHECK_THROW(store.put("k", "3", s4db::put_condition::when_matching(first)), s4db::conflict_error);
  BOOST_TEST(objects.body("k") == "2");
  s4db::s3_store another{scripted_config(server)};
  another.put("k", "4", s4db::put_condition::when_matching(second));
  BOOST_TEST(objects.body("k") == "4");
  std::vector<std::string> if_matches;
  int heads = 0;
  for (const auto& q : server.requests()) {
    heads += q.method == "HEAD";
    if (has_header(q, "If-Match")) if_matches.push_back(q.header("If-Match"));
  }
  BOOST_TEST(heads == 1);  // the one 412 that only a spelling explains
  BOOST_REQUIRE(if_matches.size() == 4u);
  BOOST_TEST(if_matches[0] == first);                              // quoted first, as RFC 9110 has it
  BOOST_TEST(if_matches[1] == first.substr(1, first.size() - 2));  // then bare, and bare from then on
  BOOST_TEST(if_matches[2].front() != '"');
  BOOST_TEST(if_matches[3].front() != '"');
}

// The probe finds what such a server honours, and a conditional put_file above the
// multipart threshold goes in one PUT there (its multipart completion would overwrite).
BOOST_AUTO_TEST_CASE(the_fencing_probe_finds_an_unfenced_multipart_completion_and_uploads_avoid_it) {
  env_guard e(clean_aws_environment);
  rgw_like_objects objects;
  scripted_s3 server([&](const request& q, int) { return objects.serve(q); });
  auto c = scripted_config(server);
  c.multipart_threshold = c.part_size = 5u << 20;
  s4db::s3_store store{c};
  const auto report = store.fencing("db/");
  BOOST_TEST(report.if_absent);
  BOOST_TEST(report.if_match);
  BOOST_TEST(report.unquoted_etag);
  BOOST_TEST(!report.multipart);
  BOOST_TEST(report.fences());
  BOOST_TEST(report.server == server.endpoint() + " bucket bucket");
  for (const auto& q : server.requests())  // the scratch object only, deleted in the end
    BOOST_TEST((q.target.starts_with("/bucket/db/.s4db-fencing-probe-") || q.target == "/bucket?delete"), q.target);
  BOOST_TEST(objects.keys().empty());  // the scratch object is gone
  const auto asked = server.requests().size();
  BOOST_TEST(store.fencing("db/").multipart == false);
  BOOST_TEST(server.requests().size() == asked);  // asked once per process, endpoint and bucket

  temp_dir tmp;
  write_bytes(tmp.path / "big", std::string((5u << 20) + 1000, 'b'));
  store.put("db/index.idx", "small", {});
  BOOST_CHECK_THROW(store.put_file("db/index.idx", tmp.path / "big", s4db::put_condition::when_absent()),
                    s4db::conflict_error);
  BOOST_TEST(objects.body("db/index.idx") == "small");
  store.put_file("db/other", tmp.path / "big", s4db::put_condition::when_absent());
  BOOST_TEST(objects.body("db/other").size() == (5u << 20) + 1000);
  std::size_t multipart_starts = 0;
  for (const auto& q : server.requests())
    multipart_starts +=
        q.method == "POST" && q.target.ends_with("?uploads") && q.target.find("probe") == std::string::npos;
  BOOST_TEST(multipart_starts == 0u);
  store.put_file("db/unconditional", tmp.path / "big");  // no condition: parts as usual
  BOOST_TEST(server.requests().back().method == "POST");
}

// The probe's answer is kept in a working copy for a day, for that endpoint and bucket only.
BOOST_AUTO_TEST_CASE(a_kept_fencing_report_is_read_back_only_for_its_server_and_for_a_day) {
  s4db::fencing_report r{"http://127.0.0.1:9 bucket b", true, true, false, true};
  const auto now = std::chrono::system_clock::now();
  const auto text = s4db::s3::encode_fencing_cache({r, now});
  const auto back = s4db::s3::decode_fencing_cache(text, r.server, now + std::chrono::hours(1));
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST(back->report.multipart == false);
  BOOST_TEST(back->report.unquoted_etag == true);
  BOOST_TEST(back->report.if_absent == true);
  BOOST_TEST(std::chrono::abs(back->probed - now) < std::chrono::seconds(1));
  BOOST_TEST(!s4db::s3::decode_fencing_cache(text, "http://127.0.0.1:9 bucket c", now).has_value());
  BOOST_TEST(!s4db::s3::decode_fencing_cache(text, r.server, now + std::chrono::hours(25)).has_value());
  auto damaged = text;
  damaged[damaged.size() - 2] = '7';
  BOOST_TEST(!s4db::s3::decode_fencing_cache(damaged, r.server, now).has_value());
}

BOOST_AUTO_TEST_CASE(a_server_that_drips_bytes_reaches_its_deadline) {
  env_guard e(clean_aws_environment);
  scripted_s3 server([](const request&, int) {
    return answer{200,
                  "",
                  {{"ETag", "\"e\""}},
                  [](std::size_t, httplib::DataSink& sink) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(300));
                    return sink.write("x", 1);
                  },
                  100000};  // 8 hours at this pace
  });
  auto c = scripted_config(server);
  c.max_attempts = 1;
  c.stall_timeout = std::chrono::milliseconds(1000);
  s4db::s3_store store{c};
  BOOST_CHECK_THROW(store.get("k"), s4db::store_error);
}

BOOST_AUTO_TEST_SUITE_END()
