// Small HTTP servers on 127.0.0.1 for what no package here emulates, each following AWS's
// documented protocol (cpp-httplib serves them, on a free port, until destroyed):
//   instance_metadata   EC2 IMDSv2: PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds,
//                       then GETs with X-aws-ec2-metadata-token: the role name under
//                       /latest/meta-data/iam/security-credentials/, then its keys as JSON.
//                       https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html
//   container_credentials  ECS / EKS Pod Identity: GET of the path, Authorization must
//                       equal the token when one is set; the keys as JSON.
//                       https://docs.aws.amazon.com/sdkref/latest/guide/feature-container-credentials.html
//   scripted_s3         an S3 endpoint whose answers a test writes, recording every request.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace s4db_test {

// Runs an httplib::Server on 127.0.0.1 in a thread of its own.
class loopback_server {
 public:
  loopback_server() = default;
  loopback_server(const loopback_server&) = delete;
  loopback_server& operator=(const loopback_server&) = delete;
  virtual ~loopback_server() { stop(); }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

 protected:
  httplib::Server server_;

  void start() {
    server_.set_tcp_nodelay(true);  // else headers and body wait on each other (Nagle + delayed ACK)
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("loopback_server: cannot listen on 127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  void stop() {
    if (!thread_.joinable()) return;
    server_.stop();
    thread_.join();
  }

 private:
  int port_ = 0;
  std::thread thread_;
};

// The JSON both credential endpoints answer with; Expiration as ISO 8601 UTC.
inline std::string credentials_json(const std::string& id, const std::string& secret, const std::string& token,
                                    std::chrono::system_clock::time_point expiration) {
  const std::time_t t = std::chrono::system_clock::to_time_t(expiration);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string("{\"Code\": \"Success\", \"Type\": \"AWS-HMAC\", \"AccessKeyId\": \"") + id +
         "\", \"SecretAccessKey\": \"" + secret + "\", \"Token\": \"" + token + "\", \"Expiration\": \"" + when + "\"}";
}

// The keys a credential endpoint hands out: the same each time, or a new key id per fetch.
struct issued_keys {
  std::string id, secret, token;
  std::chrono::seconds lifetime{3600};
  bool rotate = false;  // id + "-N" on the Nth fetch
  std::atomic<int> fetches{0};

  std::string next_json() {
    const int n = ++fetches;
    return credentials_json(rotate ? id + "-" + std::to_string(n) : id, secret, token,
                            std::chrono::system_clock::now() + lifetime);
  }
};

class instance_metadata : public loopback_server {
 public:
  issued_keys keys;
  std::string role = "s4db-test-role";
  std::atomic<int> token_requests{0}, unauthorized{0};

  instance_metadata(std::string id, std::string secret, std::string token) {
    keys.id = std::move(id);
    keys.secret = std::move(secret);
    keys.token = std::move(token);
    server_.Put("/latest/api/token", [this](const httplib::Request& q, httplib::Response& r) {
      ++token_requests;
      if (!q.has_header("X-aws-ec2-metadata-token-ttl-seconds")) {
        r.status = 400;
        return;
      }
      r.set_content(session_token, "text/plain");
    });
    const std::string base = "/latest/meta-data/iam/security-credentials/";
    server_.Get(base + "(.*)", [this](const httplib::Request& q, httplib::Response& r) {
      if (q.get_header_value("X-aws-ec2-metadata-token") != session_token) {  // IMDSv1 is off
        ++unauthorized;
        r.status = 401;
        return;
      }
      const std::string asked = q.matches[1];
      if (asked.empty()) return r.set_content(role + "\n", "text/plain");
      if (asked != role) {
        r.status = 404;
        return;
      }
      r.set_content(keys.next_json(), "application/json");
    });
    start();
  }

 private:
  const std::string session_token = "imds-session-token-AQAEA";
};

class container_credentials : public loopback_server {
 public:
  issued_keys keys;
  std::string required_authorization;  // "" takes any
  std::atomic<int> refused{0};

  container_credentials(std::string id, std::string secret, std::string token, std::string path = "/v2/credentials") {
    keys.id = std::move(id);
    keys.secret = std::move(secret);
    keys.token = std::move(token);
    path_ = std::move(path);
    server_.Get(path_, [this](const httplib::Request& q, httplib::Response& r) {
      if (!required_authorization.empty() && q.get_header_value("Authorization") != required_authorization) {
        ++refused;
        r.status = 401;
        return;
      }
      r.set_content(keys.next_json(), "application/json");
    });
    start();
  }
  std::string url() const { return endpoint() + path_; }

 private:
  std::string path_;
};

// An S3 endpoint whose every answer the test scripts. Requests are recorded as seen.
class scripted_s3 : public loopback_server {
 public:
  struct request {
    std::string method, target;  // target: the path and query as sent
    httplib::Headers headers;
    std::string body;
    std::string header(const std::string& name) const {
      auto it = headers.find(name);
      return it == headers.end() ? "" : it->second;
    }
    // The region the request was signed for (from Authorization's credential scope).
    std::string signed_region() const {
      const std::string auth = header("Authorization");
      const auto cred = auth.find("Credential=");
      if (cred == std::string::npos) return "";
      // Credential=KEY/DATE/REGION/s3/aws4_request
      std::size_t at = cred;
      for (int i = 0; i < 2; ++i) at = auth.find('/', at) + 1;
      return auth.substr(at, auth.find('/', at) - at);
    }
    std::string key_id() const {
      const std::string auth = header("Authorization");
      const auto cred = auth.find("Credential=");
      return cred == std::string::npos ? "" : auth.substr(cred + 11, auth.find('/', cred) - cred - 11);
    }
  };
  struct answer {
    int status = 200;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    // Instead of body: bytes made as the client reads them, from `offset` (return false to
    // end the connection), `length` of them announced, or chunked when length is 0.
    std::function<bool(std::size_t offset, httplib::DataSink& sink)> stream{};
    std::size_t length = 0;
  };
  using script = std::function<answer(const request&, int n)>;  // n: this request's number, from 0

  explicit scripted_s3(script s) : script_(std::move(s)) {
    auto handle = [this](const httplib::Request& q, httplib::Response& r) {
      // The script answers Range itself (or ignores it, as some servers do); httplib would
      // otherwise cut a 200's body to the range. Its Request is its own, non-const object.
      const_cast<httplib::Request&>(q).ranges.clear();
      request seen{q.method, q.target, q.headers, q.body};
      int n;
      {
        std::lock_guard lock(mutex_);
        n = static_cast<int>(requests_.size());
        requests_.push_back(seen);
      }
      const int now = ++in_flight_;
      for (int was = max_in_flight_; now > was && !max_in_flight_.compare_exchange_weak(was, now);) {
      }
      const answer a = script_(seen, n);
      --in_flight_;
      r.status = a.status;
      for (const auto& [name, value] : a.headers) r.set_header(name, value);
      if (a.stream && a.length > 0)
        r.set_content_provider(a.length, "application/octet-stream",
                               [stream = a.stream](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                                 return stream(offset, sink);
                               });
      else if (a.stream)
        r.set_chunked_content_provider(
            "application/octet-stream",
            [stream = a.stream](std::size_t offset, httplib::DataSink& sink) { return stream(offset, sink); });
      else if (!a.body.empty())
        r.set_content(a.body, "application/xml");
    };
    server_.Get(".*", handle);
    server_.Put(".*", handle);
    server_.Post(".*", handle);
    server_.Delete(".*", handle);
    server_.set_payload_max_length(64u << 20);
    start();
  }

  std::vector<request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  int max_in_flight() const { return max_in_flight_; }

  static answer error(int status, const std::string& code, const std::string& message = "scripted") {
    return {status,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code + "</Code><Message>" + message +
                "</Message><RequestId>REQ" + code + "</RequestId></Error>",
            {{"x-amz-request-id", "REQ" + code}}};
  }
  static answer ok(std::string body = "") { return {200, std::move(body), {{"ETag", "\"etag\""}}}; }

 private:
  script script_;
  mutable std::mutex mutex_;
  std::vector<request> requests_;
  std::atomic<int> in_flight_{0}, max_in_flight_{0};
};

}  // namespace s4db_test
