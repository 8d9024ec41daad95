// s3_config: what s3_store needs, every field but the bucket defaulting the way the AWS
// SDKs do: the field, else the environment, else the profile in the shared config files
// (docs/s3.md has the table). resolve() turns it into the settings in force and throws
// usage_error, naming what is missing or wrong, when there are no credentials or a
// setting cannot work. Secrets never appear in messages: describe() prints the key id only.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "../../error.hpp"
#include "credentials.hpp"
#include "shared_files.hpp"

namespace s4db {
inline namespace v0 {

struct s3_config {
  std::string bucket{};
  // AWS_REGION, AWS_DEFAULT_REGION, the profile's region, then us-east-1. A bucket found
  // in another region (301 with x-amz-bucket-region) is followed there, once.
  std::optional<std::string> region{};
  // For S3-compatible servers: "http://127.0.0.1:9000". AWS_ENDPOINT_URL_S3,
  // AWS_ENDPOINT_URL, the profile's endpoint_url; without any, AWS's own endpoint for the
  // region (https://s3.REGION.amazonaws.com, .com.cn in China, FIPS and dual-stack below).
  std::optional<std::string> endpoint{};
  // Path-style (endpoint/bucket/key) or virtual-hosted (bucket.endpoint/key) addressing.
  // Default: the profile's "s3 = addressing_style", else path-style with a custom endpoint
  // or a bucket name that cannot be a host name (dots, capitals), virtual-hosted on AWS.
  std::optional<bool> path_style{};
  // AWS_USE_FIPS_ENDPOINT / use_fips_endpoint, AWS_USE_DUALSTACK_ENDPOINT / use_dualstack_endpoint.
  std::optional<bool> use_fips_endpoint{}, use_dualstack_endpoint{};

  // Credentials, first match wins: credentials_provider; these keys; AWS_ACCESS_KEY_ID /
  // AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN; web identity (AWS_WEB_IDENTITY_TOKEN_FILE +
  // AWS_ROLE_ARN); the profile (keys, role_arn + source_profile, credential_process); the
  // container endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI); EC2 instance
  // metadata. Temporary keys are fetched again before they expire and after ExpiredToken.
  aws_credentials_provider credentials_provider{};
  std::optional<std::string> access_key_id{};
  std::optional<std::string> secret_access_key{};
  std::optional<std::string> session_token{};
  std::optional<std::string> profile{};                     // AWS_PROFILE, then "default"
  std::optional<std::filesystem::path> credentials_file{};  // AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials
  std::optional<std::filesystem::path> config_file{};       // AWS_CONFIG_FILE, ~/.aws/config

  // Sent (and signed) with every PUT and multipart upload start: "AES256" or "aws:kms"
  // (then sse_kms_key_id, if set, names the key), and any headers a bucket policy requires.
  std::optional<std::string> server_side_encryption{};
  std::optional<std::string> sse_kms_key_id{};
  std::vector<std::pair<std::string, std::string>> extra_headers{};
  // Certificate authorities for HTTPS, a PEM file: AWS_CA_BUNDLE, the profile's ca_bundle,
  // else the system's.
  std::optional<std::filesystem::path> ca_file{};

  std::chrono::milliseconds connect_timeout{10'000};
  // A transfer that moves less than min_speed bytes/s for this long is abandoned (and
  // retried); and no exchange may take longer than connect_timeout + stall_timeout + its
  // bytes / min_speed, so a server that drips bytes, or promises a body it never ends, fails.
  std::chrono::milliseconds stall_timeout{30'000};
  long min_speed = 1024;
  // get() keeps a body in memory up to this size (the published index of formats 1 and 2
  // is the largest the db reads so); longer is a store_error, never an exhausted memory.
  std::uint64_t max_object_in_memory = 4ull << 30;
  // Attempts per request, the first included: AWS_MAX_ATTEMPTS, the profile's
  // max_attempts, else 3 ("standard" mode) or 5 ("legacy"). retry_mode: AWS_RETRY_MODE,
  // the profile's retry_mode, else "standard" (the SDKs' table and retry quota); "legacy"
  // has no quota; "adaptive" is taken as "standard".
  std::optional<int> max_attempts{};
  std::optional<std::string> retry_mode{};
  // Backoff before retry n (from 0): random in [0, min(retry_max_delay, base * 2^n)), as the SDKs.
  std::chrono::milliseconds retry_base_delay{1'000};
  std::chrono::milliseconds retry_max_delay{20'000};
  // Connections kept open for reuse; at least the parallel transfers in flight (the db's
  // options::concurrency, 16 by default, and part_concurrency).
  long max_connections = 64;
  // put_file() above this size uses multipart upload, in parts of part_size (5 MiB to 5 GiB,
  // at most 10,000 parts), part_concurrency of them at a time.
  std::uint64_t multipart_threshold = 64 * 1024 * 1024;
  std::uint64_t part_size = 16 * 1024 * 1024;
  std::size_t part_concurrency = 8;
  int list_page_size = 1000;  // max-keys per ListObjectsV2 page
  // When set and it returns true (a Ctrl-C, a shutdown), the transfers in progress stop
  // within about a second and no new request is sent: the call fails with store_error
  // "interrupted", never retried. A multipart upload it stops is still aborted (that one
  // request is sent regardless). Called from the transferring threads.
  std::function<bool()> interrupted{};
};

namespace s3 {

inline constexpr std::uint64_t min_part_size = 5ull << 20, max_part_size = 5ull << 30, max_parts = 10'000;

struct settings {
  std::string bucket, region, endpoint;  // endpoint: scheme://host[:port], no trailing slash
  bool path_style = true;
  bool custom_endpoint = false;  // else AWS's, which moves with the region
  bool fips = false, dualstack = false;
  std::shared_ptr<credentials_cache> credentials;
  std::string ca_file;
  std::string retry_mode = "standard";
  int max_attempts = 3;
  std::vector<std::pair<std::string, std::string>> put_headers;  // SSE and extra_headers
  s3_config limits;                                              // the timeouts and sizes, as given

  // "s3://bucket at endpoint (region), key id AKIA... from environment"; never a secret.
  std::string describe() const {
    const auto id = credentials->key_id();
    return "s3://" + bucket + " at " + endpoint + " (" + region + "), " +
           (id.empty() ? std::string("credentials") : "key id " + id) + " from " + credentials->source();
  }
};

// AWS's S3 endpoint for a region: the partition's domain, FIPS and dual-stack variants.
inline std::string aws_endpoint(const std::string& service, const std::string& region, bool fips, bool dualstack) {
  const std::string domain = region.starts_with("cn-") ? "amazonaws.com.cn" : "amazonaws.com";
  return "https://" + service + (fips ? "-fips" : "") + (dualstack ? ".dualstack" : "") + "." + region + "." + domain;
}

// scheme://host[:port] with a default port (:80 for http, :443 for https) dropped: curl
// drops it from the Host header, so signing it would never match.
inline std::string without_default_port(std::string endpoint) {
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  if ((endpoint.starts_with("http://") && endpoint.ends_with(":80")) ||
      (endpoint.starts_with("https://") && endpoint.ends_with(":443")))
    endpoint.erase(endpoint.rfind(':'));
  return endpoint;
}

// Whether a bucket can be a host name under TLS: 3 to 63 of a-z 0-9 -, no dots (a dotted
// name breaks the wildcard certificate), starting and ending with a letter or digit.
inline bool virtual_host_bucket(const std::string& bucket) {
  if (bucket.size() < 3 || bucket.size() > 63) return false;
  for (char c : bucket)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return bucket.front() != '-' && bucket.back() != '-';
}

inline std::optional<bool> flag(const std::optional<std::string>& text, const std::string& what) {
  if (!text) return std::nullopt;
  const auto t = lower(*text);
  if (t == "true" || t == "1") return true;
  if (t == "false" || t == "0") return false;
  detail::throw_usage(what + " is '" + *text + "': true or false");
}

inline std::optional<std::string> text_of(const std::optional<bool>& b) {
  if (!b) return std::nullopt;
  return std::string(*b ? "true" : "false");
}

inline std::optional<std::string> text_of(const std::optional<std::filesystem::path>& p) {
  if (!p) return std::nullopt;
  return p->string();
}

template <class T>
std::optional<T> first_of(std::optional<T> a) {
  return a;
}
template <class T, class... More>
std::optional<T> first_of(std::optional<T> a, More... more) {
  return a ? a : first_of<T>(more...);
}

// The CA bundle's path, or "" for the system's.
inline std::string ca_bundle(const s3_config& config, const shared_files& files) {
  const auto path = first_of(text_of(config.ca_file), env("AWS_CA_BUNDLE"), files.get("ca_bundle"));
  return path ? expand_home(*path).string() : "";
}

// The credentials source that applies, in the SDK order (see s3_config).
inline std::shared_ptr<credentials_cache> credentials_chain(const s3_config& config, const shared_files& files,
                                                            const std::string& region) {
  using cache = credentials_cache;
  auto http = std::make_shared<http_client>(http_client::options{1'000, 5'000, 1024, ca_bundle(config, files), 4});
  const auto fixed = [](aws_credentials c) { return [c] { return c; }; };
  if (config.credentials_provider) {
    if (config.access_key_id || config.secret_access_key)
      detail::throw_usage("s3_config sets both credentials_provider and access keys: one or the other");
    return std::make_shared<cache>("credentials_provider", config.credentials_provider);
  }
  if (config.access_key_id || config.secret_access_key) {
    if (!config.access_key_id || !config.secret_access_key)
      detail::throw_usage("s3_config sets only one of access_key_id and secret_access_key");
    return std::make_shared<cache>("explicit configuration", fixed({*config.access_key_id, *config.secret_access_key,
                                                                    config.session_token.value_or(""), std::nullopt}));
  }
  // AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or nullptr.
  const auto environment_keys = [&]() -> std::shared_ptr<cache> {
    auto id = env("AWS_ACCESS_KEY_ID"), secret = env("AWS_SECRET_ACCESS_KEY");
    if (!id || !secret) return nullptr;
    return std::make_shared<cache>("environment",
                                   fixed({*id, *secret, env("AWS_SESSION_TOKEN").value_or(""), std::nullopt}));
  };
  if (auto keys = environment_keys()) return keys;

  const auto sts_url = first_of(env("AWS_ENDPOINT_URL_STS"), env("AWS_ENDPOINT_URL"), files.get("sts.endpoint_url"),
                                files.get("endpoint_url"));
  const std::string sts = sts_url ? without_default_port(*sts_url) : aws_endpoint("sts", region, false, false);
  const auto session_name = [&](const std::string& name) {
    return first_of(env("AWS_ROLE_SESSION_NAME"), files.get(name, "role_session_name"))
        .value_or("s4db-" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count()));
  };
  const auto web_identity = [&](const std::string& token_file, const std::string& role, const std::string& name) {
    return std::make_shared<cache>("web identity (" + role + ")", [=] {
      return fetch::web_identity(*http, sts, role, name, expand_home(token_file).string());
    });
  };
  if (auto token_file = env("AWS_WEB_IDENTITY_TOKEN_FILE"), role = env("AWS_ROLE_ARN"); token_file && role)
    return web_identity(*token_file, *role, session_name(files.profile_name));

  const auto relative_uri = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  const std::string container_url =
      relative_uri ? "http://169.254.170.2" + *relative_uri : env("AWS_CONTAINER_CREDENTIALS_FULL_URI").value_or("");
  const auto container = [&] {
    return std::make_shared<cache>("container endpoint " + container_url, [=] {
      return fetch::container(*http, container_url, env("AWS_CONTAINER_AUTHORIZATION_TOKEN").value_or(""),
                              env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").value_or(""));
    });
  };
  const std::string imds =
      without_default_port(env("AWS_EC2_METADATA_SERVICE_ENDPOINT").value_or("http://169.254.169.254"));
  const auto instance = [&] {
    return std::make_shared<cache>("instance metadata " + imds, [=] { return fetch::instance(*http, imds); });
  };

  // A profile's aws_access_key_id and aws_secret_access_key, or nullptr.
  const auto static_keys = [&](const std::string& name) -> std::shared_ptr<cache> {
    auto id = files.get(name, "aws_access_key_id");
    if (!id) return nullptr;
    auto secret = files.get(name, "aws_secret_access_key");
    if (!secret) detail::throw_usage("profile [" + name + "] has aws_access_key_id but no aws_secret_access_key");
    const auto where = files.credentials.count(name) ? files.credentials_file : files.config_file;
    return std::make_shared<cache>(
        "file " + where.string() + " [" + name + "]",
        fixed({*id, *secret, files.get(name, "aws_session_token").value_or(""), std::nullopt}));
  };

  // A profile: its keys, its role (assumed with another profile's keys or a named source),
  // its credential_process. Follows source_profile chains up to 8 deep.
  std::function<std::shared_ptr<cache>(const std::string&, int)> from_profile =
      [&](const std::string& name, int depth) -> std::shared_ptr<cache> {
    if (depth > 8) detail::throw_usage("profile [" + name + "]: source_profile chain longer than 8 (a loop?)");
    const auto get = [&](const char* key) { return files.get(name, key); };
    if (auto role = get("role_arn")) {
      if (auto token_file = get("web_identity_token_file")) return web_identity(*token_file, *role, session_name(name));
      std::shared_ptr<cache> base;
      if (auto source = get("source_profile")) {
        if (!files.has_profile(*source))
          detail::throw_usage("profile [" + name + "] names source_profile [" + *source + "], which does not exist");
        base = *source == name ? static_keys(name) : from_profile(*source, depth + 1);
      } else if (auto named = get("credential_source")) {
        if (*named == "Environment") {
          base = environment_keys();
          if (!base) detail::throw_usage("profile [" + name + "]: credential_source Environment, but no keys there");
        } else if (*named == "EcsContainer") {
          base = container();
        } else if (*named == "Ec2InstanceMetadata") {
          base = instance();
        } else {
          detail::throw_usage("profile [" + name + "]: credential_source '" + *named +
                              "' (Environment, EcsContainer or Ec2InstanceMetadata)");
        }
      } else {
        detail::throw_usage("profile [" + name + "] has role_arn but no source_profile or credential_source");
      }
      if (!base) detail::throw_usage("profile [" + name + "]: source_profile has no credentials");
      const std::string external_id = get("external_id").value_or("");
      const std::string session = session_name(name);
      const std::string sts_region = region;
      return std::make_shared<cache>("assume role " + *role + " (profile [" + name + "])", [=] {
        return fetch::assume_role(*http, sts, sts_region, base->current(), *role, session, external_id);
      });
    }
    if (auto keys = static_keys(name)) return keys;
    if (auto command = get("credential_process"))
      return std::make_shared<cache>("credential_process of profile [" + name + "]",
                                     [c = *command] { return fetch::process(c); });
    return nullptr;
  };
  const bool profile_named = config.profile || env("AWS_PROFILE") || env("AWS_DEFAULT_PROFILE");
  if (profile_named && !files.has_profile(files.profile_name))
    detail::throw_usage("profile [" + files.profile_name + "] is in neither " + files.credentials_file.string() +
                        " nor " + files.config_file.string());
  if (auto c = from_profile(files.profile_name, 0)) return c;

  if (!container_url.empty()) return container();
  std::string imds_failure = "disabled by AWS_EC2_METADATA_DISABLED";
  if (lower(env("AWS_EC2_METADATA_DISABLED").value_or("")) != "true") {
    auto c = instance();
    try {
      c->current();  // probed now: on a machine without instance metadata, no credentials
      return c;
    } catch (const error& e) {
      imds_failure = e.what();
    }
  }
  detail::throw_usage(
      "no S3 credentials: set s3_config.access_key_id and secret_access_key, or AWS_ACCESS_KEY_ID and "
      "AWS_SECRET_ACCESS_KEY, or AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, or profile [" +
      files.profile_name + "] in " + files.credentials_file.string() + " or " + files.config_file.string() +
      ", or AWS_CONTAINER_CREDENTIALS_RELATIVE_URI; instance metadata: " + imds_failure);
}

inline settings resolve(const s3_config& config) {
  if (config.bucket.empty()) detail::throw_usage("s3_config.bucket is empty");
  const auto files = load_shared_files(config.credentials_file, config.config_file, config.profile);
  settings s;
  s.bucket = config.bucket;
  s.limits = config;
  s.region =
      first_of(config.region, env("AWS_REGION"), env("AWS_DEFAULT_REGION"), files.get("region")).value_or("us-east-1");
  s.fips =
      flag(first_of(text_of(config.use_fips_endpoint), env("AWS_USE_FIPS_ENDPOINT"), files.get("use_fips_endpoint")),
           "use_fips_endpoint")
          .value_or(false);
  s.dualstack = flag(first_of(text_of(config.use_dualstack_endpoint), env("AWS_USE_DUALSTACK_ENDPOINT"),
                              files.get("use_dualstack_endpoint")),
                     "use_dualstack_endpoint")
                    .value_or(false);
  const auto custom = first_of(config.endpoint, env("AWS_ENDPOINT_URL_S3"), env("AWS_ENDPOINT_URL"),
                               files.get("s3.endpoint_url"), files.get("endpoint_url"));
  s.custom_endpoint = custom.has_value();
  s.endpoint = without_default_port(custom.value_or(aws_endpoint("s3", s.region, s.fips, s.dualstack)));
  if (s.endpoint.find("://") == std::string::npos)
    detail::throw_usage("S3 endpoint '" + s.endpoint + "' needs a scheme (http:// or https://)");

  const auto style = lower(files.get("s3.addressing_style").value_or("auto"));
  if (style != "auto" && style != "path" && style != "virtual")
    detail::throw_usage("s3 addressing_style is '" + style + "' in " + files.config_file.string() +
                        ": auto, path or virtual");
  s.path_style = config.path_style.value_or(style == "path"      ? true
                                            : style == "virtual" ? false
                                                                 : s.custom_endpoint || !virtual_host_bucket(s.bucket));

  s.retry_mode =
      lower(first_of(config.retry_mode, env("AWS_RETRY_MODE"), files.get("retry_mode")).value_or("standard"));
  if (s.retry_mode != "standard" && s.retry_mode != "legacy" && s.retry_mode != "adaptive")
    detail::throw_usage("retry mode '" + s.retry_mode + "': standard, legacy or adaptive");
  if (s.retry_mode == "adaptive") s.retry_mode = "standard";
  if (config.max_attempts) {
    s.max_attempts = *config.max_attempts;
  } else if (auto text = first_of(env("AWS_MAX_ATTEMPTS"), files.get("max_attempts"))) {
    try {
      s.max_attempts = std::stoi(*text);
    } catch (const std::exception&) {
      detail::throw_usage("max_attempts '" + *text + "' is not a number");
    }
  } else {
    s.max_attempts = s.retry_mode == "legacy" ? 5 : 3;
  }
  if (s.max_attempts < 1) detail::throw_usage("max_attempts is " + std::to_string(s.max_attempts) + ": at least 1");

  s.ca_file = ca_bundle(config, files);
  if (!s.ca_file.empty() && !std::filesystem::is_regular_file(s.ca_file))
    detail::throw_usage("the CA bundle " + s.ca_file + " is not a file");

  if (config.part_size < min_part_size || config.part_size > max_part_size)
    detail::throw_usage("s3_config.part_size is " + std::to_string(config.part_size) +
                        " bytes: S3 takes parts of 5 MiB to 5 GiB");
  if (config.multipart_threshold < config.part_size)
    detail::throw_usage("s3_config.multipart_threshold is below part_size");
  if (config.part_concurrency < 1) detail::throw_usage("s3_config.part_concurrency is 0");

  if (config.server_side_encryption) {
    const auto& sse = *config.server_side_encryption;
    if (sse != "AES256" && sse != "aws:kms" && sse != "aws:kms:dsse")
      detail::throw_usage("s3_config.server_side_encryption is '" + sse + "': AES256, aws:kms or aws:kms:dsse");
    s.put_headers.emplace_back("x-amz-server-side-encryption", sse);
  }
  if (config.sse_kms_key_id) {
    if (!config.server_side_encryption || !config.server_side_encryption->starts_with("aws:kms"))
      detail::throw_usage("s3_config.sse_kms_key_id needs server_side_encryption = \"aws:kms\"");
    s.put_headers.emplace_back("x-amz-server-side-encryption-aws-kms-key-id", *config.sse_kms_key_id);
  }
  for (const auto& [name, value] : config.extra_headers) {
    const auto n = lower(name);
    if (n.empty() || n.find_first_of(" :\r\n\t") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos)
      detail::throw_usage("s3_config.extra_headers: '" + name + "' is not a header name and value");
    if (n == "host" || n == "authorization" || n == "x-amz-date" || n == "x-amz-content-sha256" ||
        n == "x-amz-security-token" || n == "content-length")
      detail::throw_usage("s3_config.extra_headers: " + name + " is set by s4db itself");
    s.put_headers.emplace_back(n, value);
  }

  s.credentials = credentials_chain(config, files, s.region);
  return s;
}

}  // namespace s3
}  // namespace v0
}  // namespace s4db
