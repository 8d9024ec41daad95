// What this process knows of one endpoint and bucket's conditional writes, shared by every
// s3_store that talks to it: the spelling of an ETag in If-Match that the server matches,
// and what the fencing probe found (s3_store::fencing). The probe's answer may also be
// kept in a small text file (a working copy's `fencing`), trusted for a day.
//
// Why a spelling: RFC 9110 makes If-Match a list of quoted entity-tags, and AWS S3, MinIO,
// Cloudflare R2 and moto accept the quoted ETag S3 returns; Ceph RGW 16 compares the
// header with its stored ETag, which has no quotes, so only the bare one matches there.
// s3_store sends the quoted form until a 412 arrives for an object whose ETag does equal
// the expected one; then it knows the server wants the other form and sends that from now
// on (docs/s3.md, "Services").
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "../../concepts.hpp"
#include "../../detail/file.hpp"
#include "../../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "../../error.hpp"

namespace s4db {
inline namespace v0 {
namespace s3 {

// A probe's answer and when it was made.
struct probed_fencing {
  fencing_report report;
  std::chrono::system_clock::time_point probed;
};

struct server_traits {
  std::atomic<bool> unquoted_etag{false};      // send If-Match's ETag without quotes
  std::atomic<bool> etag_form_settled{false};  // the server accepted an If-Match in that form
  std::atomic<bool> multipart_fenced{false};   // a probe saw a multipart completion honour its condition
  std::mutex probe_mutex;                      // one probe at a time; guards `found`
  std::optional<probed_fencing> found;

  void adopt(const probed_fencing& p) {
    const fencing_report& r = p.report;
    found = p;
    unquoted_etag = r.unquoted_etag;
    etag_form_settled = r.if_match;
    multipart_fenced = r.multipart && r.fences();
  }
};

// The traits of the server at `where` (its endpoint and bucket), one per process.
inline std::shared_ptr<server_traits> traits_of(const std::string& where) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<server_traits>> known;
  std::lock_guard lock(mutex);
  auto& traits = known[where];
  if (!traits) traits = std::make_shared<server_traits>();
  return traits;
}

inline std::string_view bare_etag(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return etag;
}

// The ETag as If-Match carries it: quoted (RFC 9110) or bare.
inline std::string etag_spelled(std::string_view etag, bool unquoted) {
  const std::string bare(bare_etag(etag));
  return unquoted ? bare : "\"" + bare + "\"";
}

inline bool same_etag(std::string_view a, std::string_view b) { return bare_etag(a) == bare_etag(b); }

// How long a probe's answer kept in a file is trusted: a server upgraded or replaced behind
// the same endpoint is probed again the next day.
inline constexpr std::chrono::hours fencing_cache_lifetime{24};

inline std::string encode_fencing_cache(const probed_fencing& p) {
  const fencing_report& r = p.report;
  std::ostringstream out;
  out << "s4db fencing probe 1\n"
      << "server " << r.server << "\n"
      << "probed " << std::chrono::duration_cast<std::chrono::seconds>(p.probed.time_since_epoch()).count() << "\n"
      << "if_absent " << r.if_absent << "\nif_match " << r.if_match << "\nmultipart " << r.multipart
      << "\nunquoted_etag " << r.unquoted_etag << "\n";
  return out.str();
}

// The report kept in `text` for `server`, if it is that server's, well formed and younger
// than fencing_cache_lifetime; else nullopt (and the caller probes again).
inline std::optional<probed_fencing> decode_fencing_cache(const std::string& text, const std::string& server,
                                                          std::chrono::system_clock::time_point now) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != "s4db fencing probe 1") return std::nullopt;
  if (!std::getline(in, line) || line != "server " + server) return std::nullopt;
  long long probed = 0;
  if (!std::getline(in, line) || std::sscanf(line.c_str(), "probed %lld", &probed) != 1) return std::nullopt;
  const std::chrono::system_clock::time_point at{std::chrono::seconds(probed)};
  if (now < at || now - at > fencing_cache_lifetime) return std::nullopt;
  fencing_report r;
  r.server = server;
  for (auto [name, field] : {std::pair{"if_absent", &r.if_absent}, std::pair{"if_match", &r.if_match},
                             std::pair{"multipart", &r.multipart}, std::pair{"unquoted_etag", &r.unquoted_etag}}) {
    if (!std::getline(in, line) || (line != std::string(name) + " 0" && line != std::string(name) + " 1"))
      return std::nullopt;
    *field = line.back() == '1';
  }
  return probed_fencing{r, at};
}

inline std::optional<probed_fencing> read_fencing_cache(const std::filesystem::path& path, const std::string& server) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return decode_fencing_cache(text, server, std::chrono::system_clock::now());
}

// Best effort: a cache that cannot be written only means probing again next time.
inline void write_fencing_cache(const std::filesystem::path& path, const probed_fencing& p) {
  try {
    detail::write_file_atomic(path, encode_fencing_cache(p), false);
  } catch (const error&) {
  }
}

}  // namespace s3
}  // namespace v0
}  // namespace s4db
