// AWS Signature Version 4, computed here with OpenSSL (SHA-256, HMAC) rather than by
// libcurl, whose 7.88 CURLOPT_AWS_SIGV4 omits x-amz-content-sha256, leaves query strings
// unsorted and unencoded, mis-sorts headers and signs empty headers it does not send.
// Pure functions over strings; tests/sigv4_test.cpp runs AWS's test suite through them.
#pragma once

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <time.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line

namespace s4db {
inline namespace v0 {
namespace sigv4 {

inline std::string hex(const unsigned char* data, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(digits[data[i] >> 4]);
    out.push_back(digits[data[i] & 15]);
  }
  return out;
}

inline std::string sha256_hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return hex(digest, sizeof digest);
}

inline std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), digest, &n);
  return std::string(reinterpret_cast<const char*>(digest), n);
}

// RFC 3986 encoding as SigV4 wants it: unreserved characters A-Z a-z 0-9 - . _ ~ stay,
// everything else becomes %XY (upper-case hex); '/' stays only when keep_slash.
inline std::string uri_encode(std::string_view in, bool keep_slash) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (char signed_c : in) {
    const auto c = static_cast<unsigned char>(signed_c);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 15]);
    }
  }
  return out;
}

// Decodes %XY escapes (used to read query strings given already encoded).
inline std::string uri_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && std::isxdigit(static_cast<unsigned char>(in[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

// Removes "." and ".." segments and repeated slashes, keeping a trailing slash. S3 never
// normalises (object keys may hold "./" or "../"); other services do.
inline std::string normalize_path(std::string_view path) {
  std::vector<std::string_view> segments;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const auto segment = path.substr(start, end - start);
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!segment.empty() && segment != ".") {
      segments.push_back(segment);
    }
    start = end + 1;
  }
  std::string out;
  for (auto s : segments) out.append("/").append(s);
  if (out.empty() || (path.size() > 1 && path.back() == '/')) out.push_back('/');
  return out;
}

struct request {
  std::string method;
  std::string path;                                          // decoded: "/bucket/my key" (encoded once while signing)
  std::string query;                                         // as sent, already encoded: "list-type=2&prefix=a%2Fb"
  std::vector<std::pair<std::string, std::string>> headers;  // as sent, any case and order
  std::string payload_hash;                                  // hex SHA-256, or UNSIGNED-PAYLOAD
};

struct credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: none
};

struct scope {
  std::string date;  // YYYYMMDD
  std::string region;
  std::string service;
  std::string string() const { return date + "/" + region + "/" + service + "/aws4_request"; }
};

inline std::string canonical_uri(std::string_view path, bool normalize) {
  return uri_encode(normalize ? normalize_path(path) : std::string(path), true);
}

// Sorted by encoded name then value; each name and value decoded then encoded once, so a
// query given either raw or encoded canonicalises the same way.
inline std::string canonical_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  std::size_t start = 0;
  while (start < query.size()) {
    const std::size_t end = std::min(query.find('&', start), query.size());
    const auto param = query.substr(start, end - start);
    if (!param.empty()) {
      const auto eq = param.find('=');
      const auto name = param.substr(0, eq);
      const auto value = eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
      params.emplace_back(uri_encode(uri_decode(name), false), uri_encode(uri_decode(value), false));
    }
    start = end + 1;
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) out += (out.empty() ? "" : "&") + name + "=" + value;
  return out;
}

inline std::string trim_value(std::string_view value) {
  std::string out;
  bool space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
    } else {
      if (space) out.push_back(' ');
      space = false;
      out.push_back(c);
    }
  }
  return out;
}

struct canonical_headers {
  std::string lines;         // "name:value\n" per header
  std::string signed_names;  // "host;x-amz-date"
};

// Lower-cased names, sorted; values trimmed with inner runs of spaces folded; repeated
// headers joined with ',' in the order given.
inline canonical_headers canonicalize_headers(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::vector<std::pair<std::string, std::string>> lowered;
  for (const auto& [name, value] : headers) {
    std::string n(name);
    std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    lowered.emplace_back(std::move(n), trim_value(value));
  }
  std::stable_sort(lowered.begin(), lowered.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  canonical_headers out;
  for (std::size_t i = 0; i < lowered.size(); ++i) {
    if (i > 0 && lowered[i].first == lowered[i - 1].first) {
      out.lines.insert(out.lines.size() - 1, "," + lowered[i].second);
      continue;
    }
    out.lines += lowered[i].first + ":" + lowered[i].second + "\n";
    out.signed_names += (out.signed_names.empty() ? "" : ";") + lowered[i].first;
  }
  return out;
}

inline std::string canonical_request(const request& r, bool normalize) {
  const auto h = canonicalize_headers(r.headers);
  return r.method + "\n" + canonical_uri(r.path, normalize) + "\n" + canonical_query(r.query) + "\n" + h.lines + "\n" +
         h.signed_names + "\n" + r.payload_hash;
}

inline std::string string_to_sign(std::string_view amz_date, const scope& s, std::string_view canonical) {
  return "AWS4-HMAC-SHA256\n" + std::string(amz_date) + "\n" + s.string() + "\n" + sha256_hex(canonical);
}

inline std::string signature(std::string_view secret, const scope& s, std::string_view to_sign) {
  std::string key = hmac_sha256("AWS4" + std::string(secret), s.date);
  key = hmac_sha256(key, s.region);
  key = hmac_sha256(key, s.service);
  key = hmac_sha256(key, "aws4_request");
  const std::string mac = hmac_sha256(key, to_sign);
  return hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
}

// YYYYMMDD'T'HHMMSS'Z' for a moment (what x-amz-date carries).
inline std::string amz_date(std::chrono::system_clock::time_point when) {
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buf[17];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &utc);
  return buf;
}

// Signs r in place for header authentication: adds x-amz-date, x-amz-security-token when
// there is a session token, and Authorization. `amz_date` is YYYYMMDD'T'HHMMSS'Z'.
inline void sign(request& r, const credentials& c, const std::string& region, const std::string& service,
                 const std::string& amz_date, bool normalize = false) {
  r.headers.emplace_back("x-amz-date", amz_date);
  if (!c.session_token.empty()) r.headers.emplace_back("x-amz-security-token", c.session_token);
  const scope s{amz_date.substr(0, 8), region, service};
  const std::string canonical = canonical_request(r, normalize);
  const std::string sig = signature(c.secret_access_key, s, string_to_sign(amz_date, s, canonical));
  r.headers.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=" + c.access_key_id + "/" + s.string() +
                                              ", SignedHeaders=" + canonicalize_headers(r.headers).signed_names +
                                              ", Signature=" + sig);
}

// A presigned URL's query for r (query authentication): r's own parameters, then the
// X-Amz-* ones, the signature last. r.headers are the signed headers (S3: host only);
// r.payload_hash is what the canonical request carries (S3: UNSIGNED-PAYLOAD).
inline std::string presign_query(const request& r, const credentials& c, const std::string& region,
                                 const std::string& service, const std::string& amz_date, long expires_seconds,
                                 bool normalize = false) {
  const scope s{amz_date.substr(0, 8), region, service};
  const auto h = canonicalize_headers(r.headers);
  std::string query = r.query;
  auto add = [&](const std::string& name, const std::string& value) {
    query += (query.empty() ? "" : "&") + name + "=" + uri_encode(value, false);
  };
  add("X-Amz-Algorithm", "AWS4-HMAC-SHA256");
  add("X-Amz-Credential", c.access_key_id + "/" + s.string());
  add("X-Amz-Date", amz_date);
  add("X-Amz-Expires", std::to_string(expires_seconds));
  if (!c.session_token.empty()) add("X-Amz-Security-Token", c.session_token);
  add("X-Amz-SignedHeaders", h.signed_names);
  request unsigned_request = r;
  unsigned_request.query = query;
  const std::string canonical = canonical_request(unsigned_request, normalize);
  add("X-Amz-Signature", signature(c.secret_access_key, s, string_to_sign(amz_date, s, canonical)));
  return query;
}

}  // namespace sigv4
}  // namespace v0
}  // namespace s4db
