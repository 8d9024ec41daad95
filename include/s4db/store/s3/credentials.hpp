// Where S3 credentials come from, the way the AWS SDKs find them, and their refresh.
// The sources (config.hpp's resolve() picks the first that applies, in the SDK order):
//   web identity   AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN: STS AssumeRoleWithWebIdentity
//   assume role    a profile's role_arn + source_profile (or credential_source): STS AssumeRole
//   process        a profile's credential_process: its JSON output
//   container      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI (ECS, EKS Pod Identity)
//   instance       EC2 instance metadata, IMDSv2 (a session token, then the role's keys)
// and static keys. A credentials_cache holds what one source gave and fetches again five
// minutes before it expires, or at once after the server answered ExpiredToken.
// Secrets never appear in messages.
#pragma once

#include <stdio.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "../../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "../../error.hpp"
#include "http.hpp"
#include "shared_files.hpp"
#include "sigv4.hpp"
#include "xml.hpp"

namespace s4db {
inline namespace v0 {

// What a credentials provider gives: keys, and when they stop working (none: never).
struct aws_credentials {
  std::string access_key_id, secret_access_key, session_token;
  std::optional<std::chrono::system_clock::time_point> expiration{};
};

// A source of credentials, called when s4db needs keys and has none that are fresh:
// at the first request, five minutes before the last ones expire, and after the server
// answered ExpiredToken. May throw; the error reaches the request that needed keys.
using aws_credentials_provider = std::function<aws_credentials()>;

namespace s3 {

// The keys of one source, fetched when needed. Thread-safe.
class credentials_cache {
 public:
  static constexpr std::chrono::minutes refresh_ahead{5};

  credentials_cache(std::string source, aws_credentials_provider fetch)
      : source_(std::move(source)), fetch_(std::move(fetch)) {}

  // Keys good for at least the next five minutes (or, when fetching fails while the old
  // ones are still valid, those).
  sigv4::credentials current() {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::system_clock::now();
    const bool stale = !held_ || (held_->expiration && *held_->expiration - refresh_ahead <= now);
    if (stale) {
      try {
        auto fresh = fetch_();
        if (fresh.access_key_id.empty() || fresh.secret_access_key.empty())
          detail::throw_store("S3 credentials from " + source_ + ": the source gave no access key or secret", 0, true);
        held_ = std::move(fresh);
      } catch (const error&) {
        if (!held_ || (held_->expiration && *held_->expiration <= now)) throw;
      }
    }
    return {held_->access_key_id, held_->secret_access_key, held_->session_token};
  }

  // The server said the keys expired: the next current() fetches.
  void expire() {
    std::lock_guard lock(mutex_);
    held_.reset();
  }

  const std::string& source() const noexcept { return source_; }
  // The key id in use, or "" before the first fetch (for messages: never a secret).
  std::string key_id() const {
    std::lock_guard lock(mutex_);
    return held_ ? held_->access_key_id : "";
  }

 private:
  std::string source_;
  aws_credentials_provider fetch_;
  mutable std::mutex mutex_;
  std::optional<aws_credentials> held_;
};

namespace fetch {

[[noreturn]] inline void fail(const std::string& source, const std::string& what) {
  detail::throw_store("S3 credentials from " + source + ": " + what, 0, true);
}

// Credentials JSON is a few hundred bytes; an answer longer than this is refused.
inline constexpr std::size_t max_answer = 64 << 10;

// One GET or PUT to a credentials endpoint; the body of a 2xx, else a store_error.
inline std::string http_text(http_client& http, const std::string& source, const std::string& method,
                             const std::string& url, std::vector<std::pair<std::string, std::string>> headers = {}) {
  http_request q;
  q.method = method;
  q.url = url;
  q.headers = std::move(headers);
  q.max_body = max_answer;
  for (int attempt = 0;; ++attempt) {
    try {
      auto r = http.perform(q);
      if (r.status >= 200 && r.status < 300) return std::move(r.body);
      if (r.status < 500 || attempt >= 1)
        fail(source, method + " " + url + " answered HTTP " + std::to_string(r.status));
    } catch (const transport_failure& f) {
      if (attempt >= 1) fail(source, method + " " + url + " failed: " + f.message);
    }
  }
}

// The JSON the container endpoint, instance metadata and credential_process give:
// AccessKeyId, SecretAccessKey, Token or SessionToken, Expiration (ISO 8601).
inline aws_credentials from_json(const std::string& source, const std::string& text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("AccessKeyId") || !j.contains("SecretAccessKey"))
    fail(source, "the answer is not credentials JSON (AccessKeyId, SecretAccessKey)");
  const auto text_of = [&](const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
  };
  aws_credentials c{text_of("AccessKeyId"), text_of("SecretAccessKey"), text_of("Token"), std::nullopt};
  if (c.session_token.empty()) c.session_token = text_of("SessionToken");
  if (auto e = text_of("Expiration"); !e.empty()) c.expiration = parse_timestamp(e);
  return c;
}

// STS's XML answer to AssumeRole and AssumeRoleWithWebIdentity.
inline aws_credentials from_sts(const std::string& source, const http_response& r) {
  xml_reply reply(r.body);
  if (r.status < 200 || r.status >= 300) {
    const auto error = child(reply.root, "Error");
    fail(source, "STS answered HTTP " + std::to_string(r.status) + " " + child_text(error, "Code") + ": " +
                     child_text(error, "Message"));
  }
  pugi::xml_node creds;
  for (auto result = reply.root.first_child(); result && !creds; result = result.next_sibling())
    creds = child(result, "Credentials");
  if (!creds) fail(source, "STS's answer holds no Credentials");
  return {child_text(creds, "AccessKeyId"), child_text(creds, "SecretAccessKey"), child_text(creds, "SessionToken"),
          parse_timestamp(child_text(creds, "Expiration"))};
}

// EC2 instance metadata, IMDSv2: PUT /latest/api/token, then the role name, then its keys.
inline aws_credentials instance(http_client& http, const std::string& endpoint) {
  const std::string source = "instance metadata at " + endpoint;
  const std::string token = http_text(http, source, "PUT", endpoint + "/latest/api/token",
                                      {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}});
  const std::vector<std::pair<std::string, std::string>> auth{{"X-aws-ec2-metadata-token", token}};
  const std::string base = endpoint + "/latest/meta-data/iam/security-credentials/";
  std::string role = http_text(http, source, "GET", base, auth);
  role = role.substr(0, role.find('\n'));
  if (role.empty()) fail(source, "the instance has no IAM role");
  return from_json(source, http_text(http, source, "GET", base + sigv4::uri_encode(role, false), auth));
}

// ECS and EKS Pod Identity: a GET with the authorization token, if any (the token file is
// read each time: the agent rotates it).
inline aws_credentials container(http_client& http, const std::string& url, const std::string& token,
                                 const std::string& token_file) {
  const std::string source = "the container endpoint " + url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string value = token;
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    if (!in) fail(source, "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " + token_file);
    std::getline(in, value);
  }
  if (!value.empty()) headers.emplace_back("Authorization", value);
  return from_json(source, http_text(http, source, "GET", url, std::move(headers)));
}

// credential_process: runs the command with the shell, reads its JSON (Version 1).
inline aws_credentials process(const std::string& command) {
  const std::string source = "credential_process";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) fail(source, "cannot start the command");
  std::string out;
  char buffer[4096];
  for (std::size_t n; out.size() <= max_answer && (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
    out.append(buffer, n);
  const int status = ::pclose(pipe);  // a command still writing gets SIGPIPE
  if (out.size() > max_answer)
    fail(source,
         "the command wrote more than " + std::to_string(max_answer) + " bytes; credentials JSON is far shorter");
  if (status != 0) fail(source, "the command exited with status " + std::to_string(status));
  const auto j = nlohmann::json::parse(out, nullptr, false);
  // A wrong Version is the command's configuration, not the store: a usage error.
  if (j.is_object() && !(j.contains("Version") && j["Version"].is_number_integer() && j["Version"] == 1))
    throw usage_error(
        "S3 credentials from credential_process: the command's JSON has no \"Version\": 1 (a number; "
        "the AWS CLI requires it), it has " +
        (j.contains("Version") ? "\"Version\": " + j["Version"].dump() : std::string("none")));
  return from_json(source, out);
}

// The STS Query API request both assume-role flavours send, as the SDKs do: a POST of
// the form-encoded parameters, signed when `with` holds keys (AssumeRole), unsigned for
// AssumeRoleWithWebIdentity (the token is the proof).
inline aws_credentials sts_call(http_client& http, const std::string& source, const std::string& sts_endpoint,
                                const std::vector<std::pair<std::string, std::string>>& params,
                                const std::string& region = {}, const sigv4::credentials* with = nullptr) {
  std::string form;
  for (const auto& [name, value] : params)
    form += (form.empty() ? "" : "&") + name + "=" + sigv4::uri_encode(value, false);
  http_request q;
  q.method = "POST";
  q.url = sts_endpoint + "/";
  q.body = form;
  q.headers = {{"content-type", "application/x-www-form-urlencoded"}};
  if (with) {
    const auto scheme_end = sts_endpoint.find("://");
    sigv4::request r{"POST", "/", "", q.headers, sigv4::sha256_hex(form)};
    r.headers.emplace_back("host", sts_endpoint.substr(scheme_end + 3));
    r.headers.emplace_back("x-amz-content-sha256", r.payload_hash);
    sigv4::sign(r, *with, region, "sts", sigv4::amz_date(std::chrono::system_clock::now()));
    q.headers.clear();
    for (const auto& h : r.headers)
      if (h.first != "host") q.headers.push_back(h);
  }
  try {
    return from_sts(source, http.perform(q));
  } catch (const transport_failure& f) {
    fail(source, f.message);
  }
}

inline aws_credentials web_identity(http_client& http, const std::string& sts_endpoint, const std::string& role_arn,
                                    const std::string& session_name, const std::string& token_file) {
  const std::string source = "web identity (STS at " + sts_endpoint + ")";
  std::ifstream in(token_file);
  if (!in) fail(source, "cannot read the token file " + token_file);
  std::stringstream token;
  token << in.rdbuf();
  return sts_call(http, source, sts_endpoint,
                  {{"Action", "AssumeRoleWithWebIdentity"},
                   {"RoleArn", role_arn},
                   {"RoleSessionName", session_name},
                   {"Version", "2011-06-15"},
                   {"WebIdentityToken", trim(token.str())}});
}

inline aws_credentials assume_role(http_client& http, const std::string& sts_endpoint, const std::string& region,
                                   const sigv4::credentials& with, const std::string& role_arn,
                                   const std::string& session_name, const std::string& external_id) {
  std::vector<std::pair<std::string, std::string>> params{
      {"Action", "AssumeRole"}, {"RoleArn", role_arn}, {"RoleSessionName", session_name}, {"Version", "2011-06-15"}};
  if (!external_id.empty()) params.emplace_back("ExternalId", external_id);
  return sts_call(http, "assume role (STS at " + sts_endpoint + ")", sts_endpoint, params, region, &with);
}

}  // namespace fetch
}  // namespace s3
}  // namespace v0
}  // namespace s4db
