// s3_config: what s3_store needs, every field but the bucket defaulting from the
// environment the way the AWS SDKs do. resolve() turns it into the settings in force and
// throws usage_error, naming what is missing, when there are no credentials.
// Secrets never appear in messages: describe() prints the key id only.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>

#include "../../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "../../error.hpp"
#include "sigv4.hpp"

namespace s4db {
inline namespace v0 {

struct s3_config {
  std::string bucket{};
  // AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1.
  std::optional<std::string> region{};
  // For S3-compatible servers: "http://127.0.0.1:9000". AWS_ENDPOINT_URL_S3, then
  // AWS_ENDPOINT_URL; without any, https://s3.<region>.amazonaws.com.
  std::optional<std::string> endpoint{};
  // Path-style (endpoint/bucket/key) or virtual-hosted (bucket.endpoint/key) addressing.
  // Default: path-style with a custom endpoint, virtual-hosted on AWS.
  std::optional<bool> path_style{};
  // Credentials: these, else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
  // else the shared credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials),
  // profile AWS_PROFILE or "default".
  std::optional<std::string> access_key_id{};
  std::optional<std::string> secret_access_key{};
  std::optional<std::string> session_token{};
  std::optional<std::string> profile{};
  std::optional<std::filesystem::path> credentials_file{};

  std::chrono::milliseconds connect_timeout{10'000};
  // A transfer that moves less than 1 byte/s for this long is abandoned (and retried).
  std::chrono::milliseconds stall_timeout{30'000};
  int max_retries = 5;  // attempts after the first, for 5xx, 429, timeouts, dropped connections
  std::chrono::milliseconds retry_base_delay{100};
  std::chrono::milliseconds retry_max_delay{5'000};
  // put_file() above this size uses multipart upload, in parts of part_size (S3: >= 5 MiB).
  std::uint64_t multipart_threshold = 64 * 1024 * 1024;
  std::uint64_t part_size = 16 * 1024 * 1024;
  int list_page_size = 1000;  // max-keys per ListObjectsV2 page
  // When set and it returns true (a Ctrl-C, a shutdown), the transfers in progress stop
  // within about a second and no new request is sent: the call fails with store_error
  // "interrupted", never retried. A multipart upload it stops is still aborted (that one
  // request is sent regardless). Called from the transferring threads.
  std::function<bool()> interrupted{};
};

namespace s3 {

struct settings {
  std::string bucket, region, endpoint;  // endpoint: scheme://host[:port], no trailing slash
  bool path_style = true;
  sigv4::credentials credentials;
  std::string credentials_source;  // for messages: "explicit", "environment", "file PATH [profile]"
  s3_config limits;                // the timeouts, retries and sizes, as given

  // "s3://bucket at endpoint (region), key id AKIA... from environment"; never a secret.
  std::string describe() const {
    return "s3://" + bucket + " at " + endpoint + " (" + region + "), key id " + credentials.access_key_id + " from " +
           credentials_source;
  }
};

inline std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

inline std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  const auto e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Reads [profile] from an AWS shared credentials file; nullopt when file or profile is absent.
inline std::optional<sigv4::credentials> read_credentials_file(const std::filesystem::path& path,
                                                               const std::string& profile) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string line, section;
  sigv4::credentials c;
  bool found = false;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = trim(line.substr(1, line.size() - 2));
      continue;
    }
    if (section != profile) continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const auto key = trim(line.substr(0, eq));
    const auto value = trim(line.substr(eq + 1));
    found = true;
    if (key == "aws_access_key_id") c.access_key_id = value;
    if (key == "aws_secret_access_key") c.secret_access_key = value;
    if (key == "aws_session_token") c.session_token = value;
  }
  if (!found || c.access_key_id.empty() || c.secret_access_key.empty()) return std::nullopt;
  return c;
}

inline settings resolve(const s3_config& config) {
  if (config.bucket.empty()) detail::throw_usage("s3_config.bucket is empty");
  settings s;
  s.bucket = config.bucket;
  s.limits = config;
  s.region =
      config.region ? *config.region : env("AWS_REGION").value_or(env("AWS_DEFAULT_REGION").value_or("us-east-1"));
  const auto custom = config.endpoint              ? config.endpoint
                      : env("AWS_ENDPOINT_URL_S3") ? env("AWS_ENDPOINT_URL_S3")
                                                   : env("AWS_ENDPOINT_URL");
  s.endpoint = custom.value_or("https://s3." + s.region + ".amazonaws.com");
  while (!s.endpoint.empty() && s.endpoint.back() == '/') s.endpoint.pop_back();
  if (s.endpoint.find("://") == std::string::npos)
    detail::throw_usage("S3 endpoint '" + s.endpoint + "' needs a scheme (http:// or https://)");
  s.path_style = config.path_style.value_or(custom.has_value());

  if (config.access_key_id || config.secret_access_key) {
    if (!config.access_key_id || !config.secret_access_key)
      detail::throw_usage("s3_config sets only one of access_key_id and secret_access_key");
    s.credentials = {*config.access_key_id, *config.secret_access_key, config.session_token.value_or("")};
    s.credentials_source = "explicit configuration";
  } else if (auto id = env("AWS_ACCESS_KEY_ID"), secret = env("AWS_SECRET_ACCESS_KEY"); id && secret) {
    s.credentials = {*id, *secret, env("AWS_SESSION_TOKEN").value_or("")};
    s.credentials_source = "environment";
  } else {
    const std::string profile = config.profile ? *config.profile : env("AWS_PROFILE").value_or("default");
    std::filesystem::path file;
    if (config.credentials_file)
      file = *config.credentials_file;
    else if (auto f = env("AWS_SHARED_CREDENTIALS_FILE"))
      file = *f;
    else if (auto home = env("HOME"))
      file = std::filesystem::path(*home) / ".aws" / "credentials";
    auto c = file.empty() ? std::nullopt : read_credentials_file(file, profile);
    if (!c)
      detail::throw_usage(
          "no S3 credentials: set s3_config.access_key_id and secret_access_key, or "
          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or profile [" +
          profile + "] in " + (file.empty() ? std::string("~/.aws/credentials") : file.string()));
    s.credentials = *c;
    s.credentials_source = "file " + file.string() + " [" + profile + "]";
  }
  return s;
}

}  // namespace s3
}  // namespace v0
}  // namespace s4db
