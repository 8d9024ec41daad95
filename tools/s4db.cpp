// s4db: look inside and maintain an s4db database, in a local directory or in S3.
//
//   s4db [--dir DIR | --s3 s3://BUCKET/PREFIX [--endpoint URL] [--region R]] [--local-dir D]
//        COMMAND ...
//
// Exit codes: 0 ok, 1 key not found, 2 usage, 3 corruption, 4 store error (docs/cli.md).
#include <openssl/evp.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <s4db/s4db.hpp>
#include <s4db/store/s3.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

enum exit_code { ok = 0, not_found = 1, usage = 2, corrupt = 3, store_failed = 4 };

// The documented exit code for a failure (docs/cli.md).
int exit_code_for(const std::exception& e) {
  if (dynamic_cast<const s4db::usage_error*>(&e)) return usage;
  if (dynamic_cast<const s4db::corruption_error*>(&e)) return corrupt;
  return store_failed;  // the store, the disk, a conflict
}

// ------------------------------------------------------------------ binary-safe JSON lines

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string unbase64(const std::string& in) {
  std::string out(3 * in.size() / 4 + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) throw s4db::usage_error("s4db: invalid base64 in input");
  std::size_t padding = 0;
  for (auto it = in.rbegin(); it != in.rend() && *it == '='; ++it) ++padding;
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

// {"key": "...", "value": "..."} (or {"key": "..."} alone), with key_base64 / value_base64
// for bytes that are not UTF-8.
std::string json_line(std::string_view key, std::optional<std::string_view> value = std::nullopt) {
  nlohmann::json j;
  auto field = [&](const char* name, std::string_view bytes) {
    if (s4db::format::is_utf8(bytes))
      j[name] = std::string(bytes);
    else
      j[std::string(name) + "_base64"] = base64(bytes);
  };
  field("key", key);
  if (value) field("value", *value);
  return j.dump();
}

std::pair<std::string, std::string> parse_input_line(const std::string& line, std::size_t number) {
  if (!line.empty() && line.front() == '{') {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    const std::string where = "s4db: stdin line " + std::to_string(number) + ": ";
    if (j.is_discarded() || !j.is_object()) throw s4db::usage_error(where + "invalid JSON");
    auto text = [&](const std::string& field) {
      if (!j[field].is_string()) throw s4db::usage_error(where + "\"" + field + "\" must be a string");
      return j[field].get<std::string>();
    };
    auto get = [&](const char* name) -> std::string {
      if (j.contains(name)) return text(name);
      if (j.contains(std::string(name) + "_base64")) return unbase64(text(std::string(name) + "_base64"));
      throw s4db::usage_error(where + "no \"" + name + "\"");
    };
    return {get("key"), get("value")};
  }
  const auto tab = line.find('\t');
  if (tab == std::string::npos)
    throw s4db::usage_error("s4db: stdin line " + std::to_string(number) + ": expected KEY<TAB>VALUE or a JSON object");
  return {line.substr(0, tab), line.substr(tab + 1)};
}

// ------------------------------------------------------------------ progress on stderr

// Draws "label [=====>    ]  45%  12.3/27.0 MB  5.1 MB/s  3s left" on a terminal; silent
// when stderr is not one.
class progress_bar {
 public:
  progress_bar() : enabled_(::isatty(STDERR_FILENO) == 1) {}
  ~progress_bar() { finish(); }

  void operator()(const s4db::progress_event& p) {
    if (!enabled_ || p.total == 0) return;
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (std::string(p.operation) != operation_) {
      finish_locked();
      operation_ = p.operation;
      started_ = now;
    }
    if (now - last_ < std::chrono::milliseconds(100) && p.done < p.total) return;
    last_ = now;
    const double seconds = std::max(1e-3, std::chrono::duration<double>(now - started_).count());
    const double rate = static_cast<double>(p.done) / seconds;
    const double fraction = static_cast<double>(p.done) / static_cast<double>(p.total);
    const int width = 24, filled = static_cast<int>(fraction * width);
    std::string bar(static_cast<std::size_t>(filled), '=');
    if (filled < width) bar += '>' + std::string(static_cast<std::size_t>(width - filled - 1), ' ');
    const double left = rate > 0 ? static_cast<double>(p.total - p.done) / rate : 0;
    std::fprintf(stderr, "\r%-9s [%s] %3d%%  %.1f/%.1f MB  %.1f MB/s  %.0fs left ", operation_.c_str(), bar.c_str(),
                 static_cast<int>(fraction * 100), static_cast<double>(p.done) / 1e6,
                 static_cast<double>(p.total) / 1e6, rate / 1e6, left);
    drawn_ = true;
  }

  void finish() {
    std::lock_guard lock(mutex_);
    finish_locked();
  }

 private:
  void finish_locked() {
    if (drawn_) std::fputc('\n', stderr);
    drawn_ = false;
  }
  bool enabled_;
  std::mutex mutex_;
  std::string operation_;
  std::chrono::steady_clock::time_point started_, last_;
  bool drawn_ = false;
};

// ------------------------------------------------------------------ Ctrl-C

// Set by the first SIGINT or SIGTERM (the second one ends the process at once): S3
// transfers stop (s3_config::interrupted), put - stops reading, and main() removes the
// temporary working copy and exits 130.
std::atomic<bool> interrupted{false};
bool opening_adopted_newer_index = false;  // the library logged s4db::opened_onto_newer_index

struct interruption : std::runtime_error {
  interruption() : std::runtime_error("s4db: interrupted") {}
};

void on_interrupt(int) { interrupted = true; }

void catch_interrupts() {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  action.sa_flags = static_cast<int>(SA_RESETHAND);  // a second Ctrl-C is not caught
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
}

// Without --local-dir, the working copy the library makes goes in a directory of this
// run's own (TMPDIR points there): removed at the end, and whole after an interruption. A
// working copy the library kept there (writes it could not upload) stays, as it says.
class scratch_directory {
 public:
  scratch_directory() {
    std::string pattern = (std::filesystem::temp_directory_path() / "s4db-cli-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw s4db::store_error("s4db: cannot make a temporary directory " + pattern + ": " + std::strerror(errno), errno,
                              false);
    path_ = pattern;
    ::setenv("TMPDIR", path_.c_str(), 1);
  }
  scratch_directory(const scratch_directory&) = delete;
  scratch_directory& operator=(const scratch_directory&) = delete;
  ~scratch_directory() {
    std::error_code ignored;
    if (interrupted)
      std::filesystem::remove_all(path_, ignored);
    else
      std::filesystem::remove(path_, ignored);  // only if empty
  }

 private:
  std::filesystem::path path_;
};

// ------------------------------------------------------------------ the cached working copy

// Without --local-dir, put, load, del and compact write through a working copy of this
// user's own for the database (under $S4DB_CACHE_DIR, else $XDG_CACHE_HOME/s4db, else
// ~/.cache/s4db), so one-off writes share one writer namespace instead of each making a
// new one. It keeps no published data files (options::keep_published_files = false):
// between runs it holds the index and the namespace only, never unpublished writes. A
// copy holding some (a failed upload, --no-upload, a killed run) moves aside, named on
// stderr, and is published from there with --local-dir. When the store has no index
// (a new or deleted database) the cached copy starts afresh. A second s4db using the
// database's cached copy at the same time writes through a temporary copy, as with
// --no-cache.
class cached_copy {
 public:
  // nullopt when there is no cache directory to use, or another s4db holds this one.
  static std::optional<cached_copy> take(const std::string& database) {
    std::filesystem::path root;
    if (const char* d = std::getenv("S4DB_CACHE_DIR"); d && *d)
      root = d;
    else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
      root = std::filesystem::path(x) / "s4db";
    else if (const char* h = std::getenv("HOME"); h && *h)
      root = std::filesystem::path(h) / ".cache" / "s4db";
    else
      return std::nullopt;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned length = 0;
    EVP_Digest(database.data(), database.size(), digest, &length, EVP_sha256(), nullptr);
    std::string name;
    for (unsigned i = 0; i < 8; ++i)
      name += "0123456789abcdef"[digest[i] >> 4], name += "0123456789abcdef"[digest[i] & 15];
    const auto entry = root / name;
    std::error_code ec;
    std::filesystem::create_directories(entry, ec);
    if (ec) return std::nullopt;  // an unwritable cache is no reason to fail: a temporary copy does
    auto lock = s4db::detail::file_lock::try_lock(entry / "lock");
    if (!lock) return std::nullopt;
    std::ofstream(entry / "database") << database << '\n';
    return cached_copy(entry, std::move(*lock));
  }

  std::filesystem::path dir() const { return entry_ / "copy"; }

  // Forgets the copy (the store has no index: what it holds belongs to no database now).
  void start_afresh() const {
    std::error_code ignored;
    std::filesystem::remove_all(dir(), ignored);
  }

  // Moves a copy holding unpublished writes out of the way, and says where.
  void set_aside(const std::string& why) const {
    std::string kept = (entry_ / "kept-XXXXXX").string();
    if (::mkdtemp(kept.data()) == nullptr)
      throw s4db::store_error("s4db: cannot make " + kept + ": " + std::strerror(errno), errno, false);
    std::filesystem::rename(dir(), std::filesystem::path(kept) / "copy");
    std::cerr << "s4db: " << why << "; the copy is kept in " << kept << "/copy (s4db --local-dir " << kept
              << "/copy upload publishes what it holds)\n";
  }

 private:
  cached_copy(std::filesystem::path entry, s4db::detail::file_lock lock)
      : entry_(std::move(entry)), lock_(std::move(lock)) {}
  std::filesystem::path entry_;
  s4db::detail::file_lock lock_;
};

// ------------------------------------------------------------------ input

std::string read_all(std::istream& in, const std::string& what) {
  std::string out{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) throw s4db::usage_error("s4db: cannot read " + what);
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw s4db::usage_error("s4db: cannot open " + path + ": " + std::strerror(errno));
  return read_all(in, path);
}

// A file of its own in the temporary directory, gone as soon as it is closed (unlinked at
// once): put - spools its validated pairs there.
class spool_file {
 public:
  spool_file() {
    std::string pattern = (std::filesystem::temp_directory_path() / "s4db-put-XXXXXX").string();
    const int fd = ::mkstemp(pattern.data());
    if (fd < 0) fail("make", pattern);
    ::unlink(pattern.c_str());
    file_ = ::fdopen(fd, "w+b");
    if (file_ == nullptr) {
      ::close(fd);
      fail("open", pattern);
    }
  }
  spool_file(const spool_file&) = delete;
  spool_file& operator=(const spool_file&) = delete;
  ~spool_file() { std::fclose(file_); }

  void write(const std::string& key, const std::string& value) {
    const std::uint64_t sizes[2] = {key.size(), value.size()};
    if (std::fwrite(sizes, sizeof sizes, 1, file_) != 1 ||
        std::fwrite(key.data(), 1, key.size(), file_) != key.size() ||
        std::fwrite(value.data(), 1, value.size(), file_) != value.size())
      fail("write", "the spool of put -");
  }
  void rewind() {
    if (std::fflush(file_) != 0 || std::fseek(file_, 0, SEEK_SET) != 0) fail("write", "the spool of put -");
  }
  // The next pair, or false at the end.
  bool read(std::string& key, std::string& value) {
    std::uint64_t sizes[2];
    if (std::fread(sizes, sizeof sizes, 1, file_) != 1) {
      if (std::ferror(file_)) fail("read", "the spool of put -");
      return false;
    }
    key.resize(sizes[0]);
    value.resize(sizes[1]);
    if (std::fread(key.data(), 1, key.size(), file_) != key.size() ||
        std::fread(value.data(), 1, value.size(), file_) != value.size())
      fail("read", "the spool of put -");
    return true;
  }

 private:
  [[noreturn]] static void fail(const char* what, const std::string& name) {
    const int e = errno;
    throw s4db::store_error(
        std::string("s4db: cannot ") + what + " " + name + " in the temporary directory: " + std::strerror(e), e,
        false);
  }
  std::FILE* file_ = nullptr;
};

// put -: pairs from `in`. All of the input is read and checked first, spooled to a
// temporary file: a bad line, an unreadable input or Ctrl-C while reading it leaves the
// database and the working copy as they were. Then the pairs go in, in batches of bounded
// size (memory stays flat however long the input), counted on a terminal: that part is
// local writes only, not stopped halfway by Ctrl-C (the upload after it is).
template <class Db>
void put_lines(Db& db, std::istream& in) {
  spool_file spool;
  std::string line;
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    if (interrupted) throw interruption();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto [key, value] = parse_input_line(line, n);
    if (key.size() > s4db::format::max_key_size)
      throw s4db::usage_error("s4db: stdin line " + std::to_string(n) + ": a key of " + std::to_string(key.size()) +
                              " bytes is over the limit of 65,535; nothing was written");
    spool.write(key, value);
  }
  if (interrupted) throw interruption();
  if (in.bad()) throw s4db::usage_error("s4db: cannot read stdin");
  spool.rewind();

  constexpr std::size_t batch_bytes = 8 << 20;
  const bool counting = ::isatty(STDERR_FILENO) == 1;
  std::vector<std::pair<std::string, std::string>> batch;
  std::size_t bytes = 0, written = 0;
  auto write = [&] {
    db.put(batch);
    written += batch.size();
    batch.clear();
    bytes = 0;
    if (counting) std::fprintf(stderr, "\rput       %zu pairs ", written);
  };
  std::string key, value;
  while (spool.read(key, value)) {
    bytes += key.size() + value.size();
    batch.emplace_back(std::move(key), std::move(value));
    if (bytes >= batch_bytes) write();
  }
  write();
  if (counting) std::fputc('\n', stderr);
}

// ------------------------------------------------------------------ commands

struct request {
  std::string command;
  std::vector<std::string> args;
  std::string prefix;             // keys, dump and del --prefix
  std::string from;               // keys, dump and del --from
  std::optional<std::string> to;  // keys, dump and del --to
  bool reverse = false;           // keys and dump --reverse
  long limit = -1;                // keys --limit
  bool salvage = false;           // dump --salvage
  bool force = false;             // download --force
  bool from_store = false;        // rebuild-index --from-store (implied without --local-dir)
  bool allow_drop = false;        // rebuild-index --allow-drop
  long grace = 86400;             // gc --grace, seconds
  bool create = false;            // put --create
  std::string file;               // put KEY --file PATH
  bool from_stdin = false;        // put KEY --stdin
  bool json = false;              // get --json, keys --json
  std::string name;               // checkpoint and drop-checkpoint NAME
  int to_format = 0;              // convert --format
  std::string where;              // the database, for messages: DIR or s3://BUCKET/PREFIX
  std::string index_object;       // its index's object name in the store
};

// Whether a database is at the location: a published index or data files in the store,
// or a working copy in local_dir. Otherwise only `put --create` (or a put into an existing
// empty directory) makes one there: a mistyped location is an error, not an empty db.
template <class Store>
bool database_exists(Store& store, const std::string& prefix, const std::string& local_dir) {
  std::error_code ec;
  if (!local_dir.empty() && std::filesystem::exists(local_dir, ec) && !std::filesystem::is_empty(local_dir, ec))
    return true;
  return store.head(prefix + std::string(s4db::format::index_name)) ||
         !store.list(prefix + std::string(s4db::format::data_file_head)).empty();
}

template <class Store>
void require_database(Store& store, const std::string& prefix, const std::string& local_dir, const request& r,
                      bool may_create) {
  if (may_create || database_exists(store, prefix, local_dir)) return;
  throw s4db::usage_error("s4db: no database at " + r.where + " (no " + r.index_object + " and no data files there)" +
                          (r.command == "put" || r.command == "load"
                               ? "; s4db " + r.command + " --create makes a new one"
                               : std::string()));
}

template <class Db>
int run(Db& db, const request& r, bool publish) {
  // A commit the server would not fence is refused before anything is written.
  const bool commits =
      r.command == "compact" || r.command == "upload" ||
      (publish && (r.command == "put" || r.command == "load" || r.command == "del" || r.command == "rebuild-index"));
  if (commits && db.get_options().fenced) {
    const auto fencing = db.fencing();
    if (!fencing.fences())
      throw s4db::usage_error("s4db: " + fencing.server + " does not honour conditional writes (" + fencing.summary() +
                              "); nothing was written. --no-fence commits without them: then only one writer at a "
                              "time is safe");
  }
  if (r.command == "get") {
    // One key: its bytes as they are. Several: one JSON line each (missing ones named on
    // stderr, exit 1 if any is missing).
    const auto values = db.get_many(r.args);
    int code = ok;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (!values[i]) {
        std::cerr << "s4db: key not found: " << r.args[i] << '\n';
        code = not_found;
      } else if (r.json || r.args.size() > 1) {
        std::cout << json_line(r.args[i], *values[i]) << '\n';
      } else {
        std::cout.write(values[i]->data(), static_cast<std::streamsize>(values[i]->size()));
      }
    }
    return code;
  }
  if (r.command == "put" || r.command == "load") {
    const bool value_elsewhere = !r.file.empty() || r.from_stdin;
    if (r.command == "load" || (r.args.size() == 1 && r.args[0] == "-" && !value_elsewhere)) {
      put_lines(db, std::cin);
    } else if (r.args.size() == 1 && r.args[0] != "-" && r.file.empty() != !r.from_stdin) {
      db.put(r.args[0], r.from_stdin ? read_all(std::cin, "stdin") : read_file(r.file));
    } else if (r.args.size() == 2 && !value_elsewhere) {
      db.put(r.args[0], r.args[1]);
    } else {
      throw s4db::usage_error("s4db: put takes KEY VALUE, KEY --file PATH, KEY --stdin, or - to read pairs from stdin");
    }
    if (publish) db.upload();
    return ok;
  }
  if (r.command == "del") {
    const bool span = !r.prefix.empty() || !r.from.empty() || r.to;
    if (span == !r.args.empty())
      throw s4db::usage_error("s4db: del takes KEY..., or --prefix P and/or --from A --to B (every key in [A, B))");
    if (!span) {
      db.erase(r.args);
    } else {
      const std::size_t erased = db.erase_range({.from = r.from, .to = r.to, .prefix = r.prefix});
      std::cerr << "s4db: erased " << erased << (erased == 1 ? " key\n" : " keys\n");
    }
    if (publish) db.upload();
    return ok;
  }
  if (r.command == "keys") {
    const auto span = s4db::engine::key_span::of({.from = r.from, .to = r.to, .prefix = r.prefix});
    if (r.to && *r.to < r.from) throw s4db::usage_error("s4db: --to is below --from");
    std::vector<std::string> keys;
    for (auto& k : db.keys())
      if (span.contains(k)) keys.push_back(std::move(k));
    std::sort(keys.begin(), keys.end());
    if (r.reverse) std::reverse(keys.begin(), keys.end());
    long shown = 0;
    for (const auto& k : keys) {
      if (r.limit >= 0 && shown++ >= r.limit) break;
      if (r.json)
        std::cout << json_line(k) << '\n';
      else
        std::cout << k << '\n';
    }
    return ok;
  }
  if (r.command == "dump") {
    // --from, --to or --reverse: in key order, each value read as it comes (db.scan()).
    if (!r.from.empty() || r.to || r.reverse) {
      if (r.salvage)
        throw s4db::usage_error("s4db: dump --salvage reads whole files; it takes no --from, --to or --reverse");
      for (auto&& [key, value] : db.scan({.from = r.from, .to = r.to, .prefix = r.prefix, .reverse = r.reverse}))
        std::cout << json_line(key, value) << '\n';
      return ok;
    }
    // The data files come whole (concurrently), then every value is read from disk: on S3
    // a few GETs, not one per key.
    // With --salvage a damaged entry is skipped and counted, not the end of the dump.
    auto items = db.items({.local = true, .salvage = r.salvage});
    for (auto&& [key, value] : items)
      if (key.starts_with(r.prefix)) std::cout << json_line(key, value) << '\n';
    if (items.skipped()) {
      std::cout.flush();
      std::cerr << "s4db: dump --salvage skipped " << items.skipped() << " damaged entr"
                << (items.skipped() == 1 ? "y" : "ies") << " of " << items.size() << " (s4db verify names them)\n";
      return corrupt;
    }
    return ok;
  }
  if (r.command == "stat") {
    const auto s = db.stats();
    std::optional<s4db::fencing_report> fencing;
    std::string fencing_error;
    try {
      fencing = db.fencing();
    } catch (const s4db::store_error& e) {  // e.g. credentials that may read but not write
      fencing_error = e.what();
    }
    if (r.json) {
      nlohmann::json j{{"index_published", s.index_published},
                       {"keys", s.keys},
                       {"files", s.files},
                       {"local_files", s.local_files},
                       {"file_bytes", s.file_bytes},
                       {"live_bytes", s.live_bytes},
                       {"dead_bytes", s.dead_bytes()},
                       {"writers", s.writers},
                       {"garbage_bytes", s.garbage_bytes},
                       {"garbage_files", s.garbage_files},
                       {"format_version", s.format_version},
                       {"segments", s.segments},
                       {"checkpoints", s.checkpoints}};
      if (fencing)
        j["conditional_writes"] = {{"server", fencing->server},
                                   {"if_none_match", fencing->if_absent},
                                   {"if_match", fencing->if_match},
                                   {"multipart", fencing->multipart},
                                   {"unquoted_etag", fencing->unquoted_etag},
                                   {"fenced_commits", fencing->fences()}};
      else
        j["conditional_writes"] = {{"error", fencing_error}};
      std::cout << j.dump() << '\n';
      return ok;
    }
    std::cout << "index             "
              << (s.index_published ? "published"
                  : s.files         ? "none: the data files' keys are in no index (s4db rebuild-index recovers them)"
                                    : "none yet")
              << '\n'
              << "keys              " << s.keys << '\n'
              << "data files        " << s.files << " (" << s.local_files << " local)\n"
              << "bytes in files    " << s.file_bytes << '\n'
              << "bytes live        " << s.live_bytes << '\n'
              << "bytes dead        " << s.dead_bytes() << '\n'
              << "writers           " << s.writers << " (namespaces among the data files)\n"
              << "bytes garbage     " << s.garbage_bytes << " in " << s.garbage_files
              << " files (objects the index does not name" << (s.index_published ? "; gc deletes them" : "") << ")\n";
    if (s.format_version == 3) {
      std::string pinned;
      for (const auto& name : s.checkpoints) pinned += (pinned.empty() ? "" : ", ") + name;
      std::cout << "format            3: " << s.segments << " index segments (s4db merge bounds them)\n"
                << "checkpoints       " << (pinned.empty() ? "none" : pinned) << '\n';
    }
    std::cout << "conditional writes "
              << (!fencing            ? "not probed: " + fencing_error
                  : fencing->fences() ? fencing->summary() + ": fenced commits are safe"
                                      : fencing->summary() + ": use --no-fence, one writer at a time")
              << '\n';
    if (s.index_published) {
      std::cout << "compact reclaims  " << s.dead_bytes() << " bytes ("
                << (s.file_bytes ? 100 * s.dead_bytes() / s.file_bytes : 0)
                << "%: overwritten and deleted entries in the files the index names)\n";
      std::cout << "gc reclaims       " << s.garbage_bytes
                << " bytes (the garbage, once older than its grace; compact leaves what it replaced to gc)\n";
    }
    return ok;
  }
  if (r.command == "verify") {
    auto problems = db.verify();
    const auto s = db.stats();
    if (!s.index_published && s.garbage_files)
      problems.push_back({r.index_object, 0,
                          "missing: " + std::to_string(s.garbage_files) +
                              " data files hold keys no index names (s4db rebuild-index recovers them)"});
    for (const auto& p : problems) std::cout << p.object << " at offset " << p.offset << ": " << p.what << '\n';
    if (s.index_published && s.garbage_files)
      std::cout << "note: " << s.garbage_files << " data files (" << s.garbage_bytes
                << " bytes) that the index does not name: another writer's upload in flight, or what a crash "
                   "or a lost race left (s4db gc deletes them after its grace period)\n";
    if (problems.empty()) {
      std::cout << "ok: every entry's CRC checks and the index agrees with the data\n";
      return ok;
    }
    std::cerr << "s4db: " << problems.size() << " problem(s) found\n";
    return corrupt;
  }
  if (r.command == "compact") return db.compact(), ok;
  if (r.command == "gc") {
    for (const auto& key : db.gc(std::chrono::seconds(r.grace))) std::cout << key << '\n';
    return ok;
  }
  if (r.command == "refresh") {
    std::cout << (db.refresh()                  ? "adopted the newer published index\n"
                  : opening_adopted_newer_index ? "adopted the newer published index (on opening)\n"
                                                : "up to date\n");
    return ok;
  }
  if (r.command == "upload") return db.upload(), ok;
  if (r.command == "download") return db.download({.force = r.force}), ok;
  if (r.command == "rebuild-index") {
    // A rebuild must never publish an index that silently drops published keys.
    const auto before = db.keys();
    db.rebuild_index({.from_store = r.from_store});
    std::size_t dropped = 0;
    for (const auto& k : before) dropped += !db.contains(k);
    if (dropped && publish && !r.allow_drop) {
      std::cerr << "s4db: the rebuilt index lacks " << dropped
                << " keys the previous index had; not uploaded (the rebuilt index is saved locally; "
                   "--allow-drop publishes it anyway)\n";
      return usage;
    }
    if (publish) db.upload();
    return ok;
  }
  throw s4db::usage_error("s4db: unknown command " + r.command);
}

// The commands that need no db, only the store: merge, checkpoint, drop-checkpoint and
// convert (s4db/maintenance.hpp: processes that are not writers). nullopt for the others.
template <class Store>
std::optional<int> run_on_store(Store& store, const s4db::options& opt, const request& r) {
  if (r.command == "merge") {
    const auto report = s4db::merge_segments(store, opt);
    std::cout << "merged " << report.segments_merged << " segments in " << report.merges << " merges; "
              << report.segments_after << " segments now (" << report.segments_before << " before)\n";
    return ok;
  }
  if (r.command == "checkpoint") return s4db::checkpoint(store, opt, r.name), ok;
  if (r.command == "drop-checkpoint") {
    if (s4db::drop_checkpoint(store, opt, r.name)) return ok;
    std::cerr << "s4db: no checkpoint named '" << r.name << "'\n";
    return not_found;
  }
  if (r.command == "compact" && opt.format_version == 3 && !opt.local_dir) {
    // Format 3's compactor that is not a writer: segments merged, sparse data files rewritten.
    const auto merged = s4db::merge_segments(store, opt);
    const auto rewritten = s4db::rewrite_sparse_files(store, opt);
    std::cout << "merged " << merged.segments_merged << " segments (" << merged.segments_after << " now); moved "
              << rewritten.entries_moved << " live entries out of " << rewritten.files_rewritten
              << " sparse data files (" << rewritten.bytes_released << " bytes for gc)\n";
    return ok;
  }
  if (r.command == "convert") {
    const auto report = s4db::convert_format(store, opt, r.to_format);
    std::cout << "converted format " << report.from << " to " << report.to << " (" << report.keys << " keys)\n";
    return ok;
  }
  return std::nullopt;
}

// The format of the database at the location when --format-version does not say: 3 when
// its index.idx is format 3's marker, else 2 (which reads format 1 too).
template <class Store>
int detect_format(Store& store, const std::string& prefix) {
  const auto index = store.head(prefix + std::string(s4db::format::index_name));
  if (!index || index->size != s4db::format::format_3_marker().size()) return 2;
  const auto bytes = store.get(prefix + std::string(s4db::format::index_name));
  return bytes && s4db::format::is_format_3_marker(bytes->data) ? 3 : 2;
}

// Opens the database and runs the command: through the cached copy, when there is one, which
// is left holding no unpublished writes (cached_copy).
template <class Db, class Store>
int open_and_run_command(Store& store, s4db::options opt, const std::optional<cached_copy>& cache, const request& r,
                         bool publish) {
  if (!cache) {
    Db db{store, opt};
    return run(db, r, publish);
  }
  if (!store.head(opt.prefix + std::string(s4db::format::index_name))) cache->start_afresh();
  opt.local_dir = cache->dir();
  opt.keep_published_files = false;
  std::unique_ptr<Db> db;
  try {
    db = std::make_unique<Db>(store, opt);
  } catch (const s4db::corruption_error& e) {  // the cache is no reason to fail: the store is whole
    cache->set_aside(std::string("the cached working copy does not open (") + e.what() + ")");
    db = std::make_unique<Db>(store, opt);
  }
  if (db->has_unpublished_writes()) {
    db.reset();
    cache->set_aside("the cached working copy holds writes an earlier s4db did not publish");
    db = std::make_unique<Db>(store, opt);
  }
  auto close_and_keep_what_is_unpublished = [&](const std::string& why) {
    const bool unpublished = db->has_unpublished_writes();
    db.reset();
    if (unpublished) cache->set_aside(why);
  };
  int code = ok;
  try {
    code = run(*db, r, publish);
  } catch (...) {
    close_and_keep_what_is_unpublished("this command's writes were not published");
    throw;
  }
  close_and_keep_what_is_unpublished(publish ? "this command's writes were not published"
                                             : "--no-upload left this command's writes unpublished");
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"s4db: look inside and maintain an s4db key-value database", "s4db"};
  app.require_subcommand(1);
  app.fallthrough();  // the global flags work after the command too: s4db keys --dir DIR
  app.footer(
      "Exit codes: 0 ok, 1 key not found, 2 usage (also: no database at the location), 3 corruption, 4 store "
      "error, 130 interrupted. s4db COMMAND --help shows a command's options; cli.md (installed in "
      "share/doc/s4db, or docs/ in the source) has the details.");
  app.set_version_flag(
      "--version", "s4db " + std::to_string(s4db::version_major) + "." + std::to_string(s4db::version_minor) + "." +
                       std::to_string(s4db::version_patch) + " (writes format 2 by default; reads formats 1, 2 and 3)");
  std::string dir = ".", s3_url, endpoint, region, local_dir;
  bool no_upload = false;
  auto* dir_option = app.add_option("--dir", dir, "a database in a local directory (the default: .)");
  app.add_option("--s3", s3_url, "a database in S3: s3://BUCKET/PREFIX")->excludes(dir_option);
  app.add_option("--endpoint,--endpoint-url", endpoint, "an S3-compatible endpoint URL (else AWS_ENDPOINT_URL_S3...)");
  app.add_option("--region", region, "the S3 region (else AWS_REGION...)");
  std::string profile;
  app.add_option("--profile", profile, "the credentials file's profile (else AWS_PROFILE, then default)");
  double timeout = 0;
  app.add_option("--timeout", timeout,
                 "S3: give up on a connection after this many seconds, and on a transfer that stalls this long "
                 "(defaults 10 and 30)")
      ->check(CLI::PositiveNumber);
  int retries = -1;
  app.add_option("--retries", retries,
                 "S3: retries after a failed attempt (default: AWS_MAX_ATTEMPTS or the profile's max_attempts, less "
                 "one; else 2)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--local-dir", local_dir, "keep the working copy here (else a temporary directory)");
  app.add_flag("--no-upload", no_upload, "put, del and rebuild-index leave their writes local");
  bool no_cache = false;
  app.add_flag("--no-cache", no_cache,
               "without --local-dir, write through a temporary working copy (a new writer namespace each run) "
               "instead of this user's cached one (S4DB_CACHE_DIR, else ~/.cache/s4db)");
  std::string on_conflict = "rebase";
  app.add_option("--on-conflict", on_conflict,
                 "when --local-dir holds unpublished writes and the store's index changed: rebase (the default: "
                 "the writes go on top of the store's index), keep-local, take-store, or fail")
      ->check(CLI::IsMember({"rebase", "keep-local", "take-store", "fail"}));
  bool no_fence = false;
  app.add_flag("--no-fence", no_fence,
               "commit without conditional writes, for an S3 server that ignores them (s4db stat says): then "
               "only one writer at a time is safe");
  int format_version = 2;
  auto* format_option =
      app.add_option("--format-version", format_version,
                     "the format: read from the store when it has a database (3 when its index.idx is format 3's "
                     "marker), else 2; 1 (s4db 0.5-0.8) or 3 (index segments: commits cost the change) to choose")
          ->check(CLI::IsMember({1, 2, 3}));
  std::string checkpoint;
  app.add_option("--checkpoint", checkpoint, "format 3: read the state checkpoint NAME pinned (read-only)");

  request r;
  auto* get =
      app.add_subcommand("get", "print a key's value; several keys: one JSON line each (exit 1 if any is missing)");
  get->add_option("keys", r.args, "the keys to read")->required()->expected(1, -1);
  get->add_flag("--json", r.json, "print {\"key\": ..., \"value\": ...} (value_base64 for bytes that are not UTF-8)");
  auto* put = app.add_subcommand(
      "put", "put KEY VALUE, put KEY --file PATH or --stdin, or put - (KEY<TAB>VALUE or JSON lines on stdin)");
  put->add_option("args", r.args, "KEY VALUE, KEY (with --file or --stdin), or - (pairs on stdin)")
      ->required()
      ->expected(1, 2);
  put->add_flag("--create", r.create, "make a new database if there is none at the location");
  put->add_option("--file", r.file, "put KEY --file PATH: the value is the file's bytes");
  put->add_flag("--stdin", r.from_stdin, "put KEY --stdin: the value is all of stdin, bytes as given");
  auto add_span = [&](CLI::App* command, const std::string& what) {
    command->add_option("--prefix", r.prefix, what + " starting with this");
    command->add_option("--from", r.from, what + " from this one on (inclusive)");
    command->add_option("--to", r.to, what + " below this one (exclusive)");
  };
  auto* del = app.add_subcommand("del", "delete keys: the ones named, or every key in a span (--prefix, --from, --to)");
  del->add_option("keys", r.args, "the keys to delete")->expected(0, -1);
  add_span(del, "every key");
  auto* keys = app.add_subcommand("keys", "list keys, sorted");
  add_span(keys, "only keys");
  keys->add_flag("--reverse", r.reverse, "largest key first");
  keys->add_flag("--json", r.json, "one {\"key\": ...} per line (key_base64 for bytes that are not UTF-8)");
  keys->add_option("--limit", r.limit, "at most this many keys")->check(CLI::NonNegativeNumber);
  auto* dump = app.add_subcommand("dump", "every item as a JSON line (key_base64/value_base64 for non-UTF-8 bytes)");
  add_span(dump, "only keys");
  dump->add_flag("--reverse", r.reverse, "in key order, largest first (--from, --to and --reverse dump in key order)");
  dump->add_flag("--salvage", r.salvage, "skip damaged entries and say how many (exit 3 if any), instead of stopping");
  auto* stat = app.add_subcommand("stat", "keys, files, live, dead and garbage bytes: what compact and gc reclaim");
  stat->add_flag("--json", r.json, "one JSON object");
  app.add_subcommand("verify", "check every CRC in every file and that the index agrees with the data");
  app.add_subcommand("compact", "rewrite live data into new files and publish them (gc deletes the old ones)");
  app.add_subcommand("upload", "publish local data files and the index");
  auto* gc = app.add_subcommand("gc", "delete data objects no published index names, older than --grace");
  gc->add_option("--grace", r.grace, "spare objects younger than this many seconds (default 86400)");
  app.add_subcommand("refresh", "adopt a newer published index into --local-dir (local writes applied on top)");
  auto* download = app.add_subcommand("download", "mirror the database into the local directory");
  download->add_flag("--force", r.force, "discard local writes that were never uploaded");
  auto* rebuild = app.add_subcommand(
      "rebuild-index", "rebuild the index from the data files (the store's, without --local-dir or with --from-store)");
  rebuild->add_flag("--from-store", r.from_store, "with no local data files, fetch the store's first");
  rebuild->add_flag("--allow-drop", r.allow_drop, "upload even if the rebuilt index lacks keys the old one had");
  app.add_subcommand("merge",
                     "format 3: merge index segments so reads and follows stay bounded (needs no working copy)");
  auto* checkpoint_command =
      app.add_subcommand("checkpoint", "format 3: pin the published state as NAME (gc keeps what it reads)");
  checkpoint_command->add_option("name", r.name, "NAME: 1 to 64 of A-Z a-z 0-9 . _ -")->required();
  auto* drop_checkpoint = app.add_subcommand("drop-checkpoint", "format 3: unpin checkpoint NAME (exit 1 if none)");
  drop_checkpoint->add_option("name", r.name, "NAME")->required();
  auto* convert = app.add_subcommand(
      "convert", "rewrite the index in format 2 or 3 (data files unchanged; Python reads format 2 only)");
  convert->add_option("--format", r.to_format, "the format to convert to: 2 or 3")
      ->required()
      ->check(CLI::IsMember({2, 3}));
  auto* load = app.add_subcommand("load", "put pairs from stdin (KEY<TAB>VALUE or JSON lines): the same as put -");
  load->add_flag("--create", r.create, "make a new database if there is none at the location");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (app.get_subcommands().empty()) {  // name what was mistyped, and what exists
      std::string words;
      for (int i = 1; i < argc; ++i)
        if (argv[i][0] != '-' && (i == 1 || argv[i - 1][0] != '-')) {
          words = argv[i];
          break;
        }
      std::string commands;
      for (const auto* c : app.get_subcommands({})) commands += (commands.empty() ? "" : ", ") + c->get_name();
      std::cerr << "s4db: " << (words.empty() ? "no command given" : "unknown command '" + words + "'")
                << "; the commands are " << commands << " (s4db --help, s4db COMMAND --help)\n";
      return usage;
    }
    // CLI11's words ("args: At Most 2 required but received 3") said as the command's own.
    const auto* command = app.get_subcommands().front();
    std::string takes;
    for (const auto* o : command->get_options())
      if (o->get_positional()) takes = o->get_description();
    const std::string name = command->get_name();
    if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) || dynamic_cast<const CLI::ExtrasError*>(&e))
      std::cerr << "s4db: " << name << ": "
                << (takes.empty() ? "takes no arguments" : "wrong arguments; it takes " + takes) << " (s4db " << name
                << " --help)\n";
    else if (dynamic_cast<const CLI::RequiredError*>(&e) && !takes.empty())
      std::cerr << "s4db: " << name << ": missing arguments; it takes " << takes << " (s4db " << name << " --help)\n";
    else
      std::cerr << "s4db: " << name << ": " << e.what() << " (s4db " << name << " --help)\n";
    return usage;
  }
  r.command = app.get_subcommands().front()->get_name();
  if (local_dir.empty()) r.from_store = true;  // a fresh temporary copy has no data files of its own

  catch_interrupts();
  std::optional<scratch_directory> scratch;
  std::optional<cached_copy> cache;
  progress_bar bar;
  s4db::options opt;
  opt.format_version = format_version;
  if (!checkpoint.empty()) {
    opt.checkpoint = checkpoint;
    opt.format_version = 3;
  }
  opt.fenced = !no_fence;
  opt.on_conflict = on_conflict == "fail"         ? s4db::conflict_resolution::fail
                    : on_conflict == "keep-local" ? s4db::conflict_resolution::keep_local
                    : on_conflict == "take-store" ? s4db::conflict_resolution::take_store
                                                  : s4db::conflict_resolution::rebase;
  if (!local_dir.empty()) opt.local_dir = local_dir;
  opt.progress = [&](const s4db::progress_event& p) { bar(p); };
  opt.log = [&](s4db::log_level level, std::string_view line) {
    if (line.starts_with(s4db::opened_onto_newer_index)) opening_adopted_newer_index = true;
    if (level < s4db::log_level::warning || interrupted) return;  // what an interruption leaves is removed
    bar.finish();
    std::cerr << "s4db: " << (level == s4db::log_level::warning ? "warning: " : "error: ") << line << '\n';
  };
  auto open_and_run = [&]() -> int {
    if (!s3_url.empty()) {
      if (!s3_url.starts_with("s3://")) throw s4db::usage_error("s4db: --s3 takes s3://BUCKET/PREFIX");
      const std::string rest = s3_url.substr(5);
      const auto slash = rest.find('/');
      s4db::s3_config cfg;
      cfg.bucket = rest.substr(0, slash);
      opt.prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
      if (!opt.prefix.empty() && opt.prefix.back() != '/') opt.prefix += '/';
      if (!endpoint.empty()) cfg.endpoint = endpoint;
      if (!region.empty()) cfg.region = region;
      if (!profile.empty()) cfg.profile = profile;
      if (timeout > 0) {
        cfg.connect_timeout = cfg.stall_timeout =
            std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(timeout * 1000)));
      }
      if (retries >= 0) cfg.max_attempts = retries + 1;
      cfg.interrupted = [] { return interrupted.load(); };
      r.where = s3_url;
      r.index_object = "s3://" + cfg.bucket + "/" + opt.prefix + std::string(s4db::format::index_name);
      s4db::s3_store store{cfg};
      require_database(store, opt.prefix, local_dir, r, r.create);
      if (format_option->count() == 0 && !opt.checkpoint) opt.format_version = detect_format(store, opt.prefix);
      if (const auto code = run_on_store(store, opt, r)) return *code;
      return open_and_run_command<s4db::db>(store, opt, cache, r, !no_upload);
    }
    r.where = dir;
    r.index_object = (std::filesystem::path(dir) / s4db::format::index_name).string();
    std::error_code ec;
    const bool empty_directory = std::filesystem::is_directory(dir, ec) && std::filesystem::is_empty(dir, ec);
    s4db::fs_store store{dir};
    require_database(store, "", local_dir, r,
                     r.create || ((r.command == "put" || r.command == "load") && empty_directory));
    if (format_option->count() == 0 && !opt.checkpoint) opt.format_version = detect_format(store, opt.prefix);
    if (const auto code = run_on_store(store, opt, r)) return *code;
    return open_and_run_command<s4db::basic_db<s4db::fs_store>>(store, opt, cache, r, !no_upload);
  };
  int code = ok;
  bool finished = false;  // the command ran to its end: a late Ctrl-C stopped nothing
  try {
    if (local_dir.empty()) scratch.emplace();
    const bool writes = r.command == "put" || r.command == "load" || r.command == "del" || r.command == "compact";
    if (!checkpoint.empty() && (writes || !local_dir.empty()))
      throw s4db::usage_error("s4db: --checkpoint opens a checkpoint read-only, without --local-dir: " + r.command +
                              (writes ? " writes" : " takes none"));
    if (local_dir.empty() && !no_cache && writes) {
      // One database, one entry: s3://b/p and s3://b/p/ are one prefix; ./db, db/ and a link to it one directory.
      std::error_code ec;
      auto folder = std::filesystem::weakly_canonical(dir, ec);  // links resolved
      if (ec) folder = std::filesystem::absolute(dir).lexically_normal();
      const std::string location = s3_url.empty() || s3_url.ends_with('/') ? s3_url : s3_url + "/";
      cache = cached_copy::take(
          s3_url.empty() ? "dir " + (folder.has_filename() ? folder : folder.parent_path()).string()
                         : "s3 " + location + " endpoint " + endpoint + " region " + region + " profile " + profile);
    }
    code = open_and_run();
    finished = true;
  } catch (const std::exception& e) {
    bar.finish();
    if (!interrupted) {
      std::string what = e.what();
      // The library speaks to programs; the tool's users set the same choice with a flag.
      if (const auto at = what.find("open with options.on_conflict = rebase, keep_local or take_store");
          at != std::string::npos)
        what.replace(at, std::string::npos, "run again with --on-conflict rebase, keep-local or take-store");
      if (const auto at = what.find("options.local_dir "); at != std::string::npos) what.replace(at, 17, "--local-dir");
      std::cerr << (what.starts_with("s4db: ") ? "" : "s4db: ") << what << '\n';
      code = exit_code_for(e);
    }
  }
  if (interrupted && finished) {
    interrupted = false;  // the scratch directory is removed as after any run
    std::cerr << "s4db: interrupted after the command had finished; it did all it was asked to\n";
  }
  scratch.reset();
  if (interrupted) {
    std::cerr << "s4db: interrupted (unfinished uploads aborted, temporary files removed)\n";
    return 130;
  }
  return code;
}
