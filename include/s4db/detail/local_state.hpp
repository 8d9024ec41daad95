// The working copy's own record, kept beside index.idx as `local.state` (a few lines of
// text ending in their CRC, docs/format.md "Working copy"): which saved index goes with
// which position in the data files, which published index the copy matches (its ETag),
// whether it holds writes never published, an index commit whose outcome is unknown, what
// the store holds of each data file as far as this copy knows, the codec, the copy's
// writer namespace, and where its writes not yet committed begin.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "../error.hpp"
#include "../format/crc.hpp"
#include "../format/index_file.hpp"

namespace s4db {
inline namespace v0 {
namespace detail {

inline constexpr std::string_view local_state_name = "local.state";

// Identifies a byte string well enough to recognise it again: its size, CRC-32 and a
// 64-bit FNV-1a over its 8-byte words in four lanes (independent hashes, so an accidental
// match of all three is out of reach; word-wise, so a 50 MB checkpoint takes milliseconds).
// States written before 0.10 hold the bytewise FNV-1a, which matches() still accepts.
struct digest {
  std::uint64_t size = 0;
  std::uint32_t crc = 0;
  std::uint64_t fnv = 0;

  // The digest of bytes given in pieces (a checkpoint is written from several arrays).
  class builder;

  static digest of(std::string_view bytes);

  // Whether `bytes`, of digest `d` (of(bytes)), have this digest.
  bool matches(std::string_view bytes, const digest& d) const {
    return d.size == size && d.crc == crc && (d.fnv == fnv || fnv_bytes(bytes) == fnv);
  }
  bool matches(std::string_view bytes) const { return matches(bytes, of(bytes)); }
  friend bool operator==(const digest&, const digest&) = default;

  static constexpr std::uint64_t fnv_basis = 0xcbf29ce484222325ull;
  static constexpr std::uint64_t fnv_prime = 0x100000001b3ull;

 private:
  // The bytewise FNV-1a that states before 0.10 hold.
  static std::uint64_t fnv_bytes(std::string_view bytes) {
    std::uint64_t h = fnv_basis;
    for (char c : bytes) h = (h ^ static_cast<unsigned char>(c)) * fnv_prime;
    return h;
  }
};

// The FNV part runs four FNV-1a lanes over the 8-byte little-endian words in turn
// (independent multiplies run side by side), then folds the lanes and the last size % 32
// bytes into one.
class digest::builder {
 public:
  // In 64 KiB steps, so that both hashes read each step from the cache.
  void add(std::string_view bytes) {
    constexpr std::size_t step = 64 * 1024;
    for (; bytes.size() > step; bytes.remove_prefix(step)) add_step(bytes.substr(0, step));
    add_step(bytes);
  }

  digest done() const {
    std::uint64_t h = fnv_basis;
    for (auto v : lane_) h = (h ^ v) * fnv_prime;
    for (std::size_t i = 0; i < carried_; ++i) h = (h ^ static_cast<unsigned char>(carry_[i])) * fnv_prime;
    return {size_, crc_, h};
  }

 private:
  void add_step(std::string_view bytes) {
    if (bytes.empty()) return;
    size_ += bytes.size();
    crc_ = format::crc32_of(bytes, crc_);
    if (carried_ > 0) {
      const std::size_t take = std::min(bytes.size(), sizeof carry_ - carried_);
      std::memcpy(carry_ + carried_, bytes.data(), take);
      carried_ += take;
      bytes.remove_prefix(take);
      if (carried_ < sizeof carry_) return;
      block(carry_);
      carried_ = 0;
    }
    for (; bytes.size() >= sizeof carry_; bytes.remove_prefix(sizeof carry_)) block(bytes.data());
    std::memcpy(carry_, bytes.data(), bytes.size());
    carried_ = bytes.size();
  }

  void block(const char* p) {
    for (std::size_t l = 0; l < 4; ++l) {
      std::uint64_t v;
      std::memcpy(&v, p + 8 * l, 8);
      if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
      lane_[l] = (lane_[l] ^ v) * fnv_prime;
    }
  }

  std::uint64_t size_ = 0;
  std::uint32_t crc_ = 0;
  std::uint64_t lane_[4] = {fnv_basis, fnv_basis ^ 1, fnv_basis ^ 2, fnv_basis ^ 3};
  char carry_[32] = {};
  std::size_t carried_ = 0;
};

inline digest digest::of(std::string_view bytes) {
  builder b;
  b.add(bytes);
  return b.done();
}

// What this copy knows the store holds as one data file: the bytes it uploaded or
// downloaded, by size and the ETag the store gave them.
struct stored_file {
  std::uint64_t size = 0;
  std::string etag;
};

struct local_state {
  // A saved index and the position in the data files it reflects: every entry before
  // (covered_file, covered_offset), i.e. all lower-numbered files and this one up to there.
  struct saved_index {
    digest bytes;
    file_id covered_file = 1;
    std::uint64_t covered_offset = 0;
  };

  std::string codec;
  // This copy's writer namespace: its data files are make_file_id(writer, sequence).
  // Chosen at random when the copy is made (0 with format version 1).
  std::uint32_t writer = 0;
  bool has_writer = false;      // false for states written before namespaces existed
  std::uint32_t next_file = 1;  // the next sequence of this writer; none below it is used again
  // The published index header's next_file: one past every writer-0 file any index named
  // (kept here because a checkpoint does not carry it).
  std::uint32_t legacy_next = 0;
  // This copy's writes after this position in its own data files were never committed:
  // a fenced upload that loses a race re-applies them on the winner's index.
  file_id committed_file = 1;
  std::uint64_t committed_offset = 0;
  // The unpublished state is not a series of writes after `committed` (a rebuilt index):
  // a rebase applies every key of the local index.
  bool rebase_all = false;
  bool unpublished = false;    // writes exist that no (possibly) published index holds
  std::string published_etag;  // empty: the copy matches no published index
  // Format 3: the `changes` of that manifest (0: not known), so that a manifest changed
  // only by merges or pins since is told from one with new writes.
  std::uint64_t published_changes = 0;
  // The index files this state accepts: the one saved last and, while a save is under
  // way, the one being written (the state is written first, so a crash between the two
  // writes leaves an index this state still recognises).
  std::vector<saved_index> indexes;
  // An index commit whose outcome is unknown (the PUT failed after it may have applied):
  // the published index is ours exactly when its bytes have this digest.
  std::optional<digest> publishing;
  // Where this copy's data files ended when that commit was made: what it committed, if
  // it did (later writes are not in it). States before 0.11 lack it (then the end now).
  std::optional<std::pair<file_id, std::uint64_t>> publishing_at;
  std::map<file_id, stored_file> stored;
  // The data files of this copy's namespace that it made itself (not fetched): with format
  // 1 every writer shares namespace 0, and only these can be lost from local disk rather
  // than be another writer's. States before 0.10 do not record them (tracks_created false).
  std::set<file_id> created;
  bool tracks_created = true;
  // Version 1 states (written before the index had a checksum) accept any index.
  bool legacy = false;

  // The saved index whose digest `index`, of digest `d`, has.
  const saved_index* accepts(std::string_view index, const digest& d) const {
    for (const auto& i : indexes)
      if (legacy || i.bytes.matches(index, d)) return &i;
    return nullptr;
  }
  const saved_index* accepts(std::string_view index) const { return accepts(index, digest::of(index)); }

  std::string encode() const {
    std::ostringstream out;
    out << "s4db-local-state 2\n"
        << "codec " << codec << '\n'
        << "writer " << writer << '\n'
        << "next_file " << next_file << '\n';
    if (legacy_next) out << "legacy_next " << legacy_next << '\n';
    out << "committed " << committed_file << ' ' << committed_offset << '\n'
        << "unpublished " << (unpublished ? 1 : 0) << '\n';
    if (rebase_all) out << "rebase_all 1\n";
    for (const auto& i : indexes)
      out << "index " << i.bytes.size << ' ' << i.bytes.crc << ' ' << i.bytes.fnv << ' ' << i.covered_file << ' '
          << i.covered_offset << '\n';
    if (publishing) {
      out << "publishing " << publishing->size << ' ' << publishing->crc << ' ' << publishing->fnv;
      if (publishing_at) out << ' ' << publishing_at->first << ' ' << publishing_at->second;
      out << '\n';
    }
    for (const auto& [n, f] : stored) out << "stored " << n << ' ' << f.size << ' ' << f.etag << '\n';
    if (tracks_created) {
      out << "created";
      for (auto n : created) out << ' ' << n;
      out << '\n';
    }
    if (published_changes) out << "published_changes " << published_changes << '\n';
    out << "published " << published_etag << '\n';
    std::string text = out.str();
    return text + "crc " + std::to_string(format::crc32_of(text)) + '\n';
  }

  static local_state decode(const std::string& text, const std::string& where) {
    if (text.starts_with("s4db-local-state 1\n")) return decode_v1(text, where);
    auto bad = [&](const std::string& why) -> local_state {
      throw_corruption(where + ": " + why +
                       "; the working copy's state is damaged (move local.state and index.idx "
                       "aside, open, and rebuild_index() recovers the index from the data files)");
    };
    const auto crc_at = text.rfind("crc ");
    if (!text.starts_with("s4db-local-state 2\n") || crc_at == std::string::npos || text.back() != '\n')
      return bad("not an s4db local state file");
    if (std::to_string(format::crc32_of(std::string_view(text).substr(0, crc_at))) !=
        text.substr(crc_at + 4, text.size() - crc_at - 5))
      return bad("checksum mismatch");
    local_state s;
    s.tracks_created = false;  // until a "created" line says otherwise
    std::istringstream in(text.substr(0, crc_at));
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      std::istringstream words(line);
      std::string word;
      words >> word;
      if (word == "codec") {
        words >> s.codec;
      } else if (word == "writer") {
        words >> s.writer;
        s.has_writer = true;
      } else if (word == "next_file") {
        words >> s.next_file;
      } else if (word == "legacy_next") {
        words >> s.legacy_next;
      } else if (word == "committed") {
        words >> s.committed_file >> s.committed_offset;
      } else if (word == "rebase_all") {
        int v = 0;
        words >> v;
        s.rebase_all = v != 0;
      } else if (word == "unpublished") {
        int v = 0;
        words >> v;
        s.unpublished = v != 0;
      } else if (word == "index") {
        saved_index i;
        words >> i.bytes.size >> i.bytes.crc >> i.bytes.fnv >> i.covered_file >> i.covered_offset;
        s.indexes.push_back(i);
      } else if (word == "publishing") {
        digest d;
        words >> d.size >> d.crc >> d.fnv;
        s.publishing = d;
        std::pair<file_id, std::uint64_t> at;
        if (words >> at.first >> at.second) s.publishing_at = at;
      } else if (word == "stored") {
        file_id n = 0;
        stored_file f;
        words >> n >> f.size >> f.etag;
        s.stored[n] = f;
      } else if (word == "created") {
        s.tracks_created = true;
        for (file_id n; words >> n;) s.created.insert(n);
        if (!words.eof()) return bad("malformed line '" + line + "'");
        continue;
      } else if (word == "published_changes") {
        words >> s.published_changes;
      } else if (word == "published") {
        s.published_etag = line.size() > 10 ? line.substr(10) : std::string();
        continue;
      } else {
        return bad("unknown line '" + word + "'");
      }
      if (words.fail()) return bad("malformed line '" + line + "'");
    }
    if (!s.has_writer) s.rebase_all = s.unpublished;  // written before the journal was kept
    return s;
  }

 private:
  static local_state decode_v1(const std::string& text, const std::string& where) {
    std::istringstream in(text);
    std::string magic, word;
    int version = 0, unpublished = 0;
    local_state s;
    saved_index i;
    in >> magic >> version >> word >> i.covered_file >> i.covered_offset;
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
    s.indexes.push_back(i);
    s.next_file = static_cast<std::uint32_t>(i.covered_file);
    s.rebase_all = s.unpublished;
    s.legacy = true;
    s.tracks_created = false;
    return s;
  }
};

}  // namespace detail
}  // namespace v0
}  // namespace s4db
