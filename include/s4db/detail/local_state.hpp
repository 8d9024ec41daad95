// The working copy's own record, kept beside index.idx as `local.state` (a few lines of
// text): how far into the data files the saved index reaches, which published index the
// copy started from (its ETag), whether it holds writes never uploaded, and the codec.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

#include "../error.hpp"

namespace s4db {
inline namespace v0 {
namespace detail {

inline constexpr std::string_view local_state_name = "local.state";

struct local_state {
  // The saved index reflects every entry before (covered_file, covered_offset): all of
  // the lower-numbered files and this file up to the offset.
  std::uint32_t covered_file = 1;
  std::uint64_t covered_offset = 0;
  std::string published_etag;  // empty: the copy did not start from a published index
  bool unpublished = false;
  std::string codec;

  std::string encode() const {
    std::ostringstream out;
    out << "s4db-local-state 1\n"
        << "covered " << covered_file << ' ' << covered_offset << '\n'
        << "unpublished " << (unpublished ? 1 : 0) << '\n'
        << "codec " << codec << '\n'
        << "published " << published_etag << '\n';
    return out.str();
  }

  static local_state decode(const std::string& text, const std::string& where) {
    std::istringstream in(text);
    std::string magic, word;
    int version = 0, unpublished = 0;
    local_state s;
    in >> magic >> version;
    if (magic != "s4db-local-state" || version != 1) throw_corruption(where + ": not an s4db local state file");
    in >> word >> s.covered_file >> s.covered_offset;
    if (word != "covered") throw_corruption(where + ": expected 'covered'");
    in >> word >> unpublished;
    if (word != "unpublished") throw_corruption(where + ": expected 'unpublished'");
    in >> word >> s.codec;
    if (word != "codec") throw_corruption(where + ": expected 'codec'");
    in >> word;
    if (word != "published" || !in) throw_corruption(where + ": expected 'published'");
    std::getline(in, s.published_etag);
    if (!s.published_etag.empty() && s.published_etag.front() == ' ') s.published_etag.erase(0, 1);
    s.unpublished = unpublished != 0;
    return s;
  }
};

}  // namespace detail
}  // namespace v0
}  // namespace s4db
