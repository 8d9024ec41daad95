// s4db beside LevelDB, RocksDB and LMDB (Debian's libleveldb-dev, librocksdb-dev and
// liblmdb-dev), on one workload: N keys of 16 bytes with 100-byte values (compressible, like
// text), put in batches of 1,000, no fsync anywhere, warm page cache. Each engine runs each
// round in a forked process of its own (a clean heap, so "memory added by open" is its own),
// engines interleaved round by round; the table shows medians with peer / s4db ratios.
// s4db runs as basic_db<fs_store> with the defaults (Snappy, compact_index).
//
// --scaling instead prints, for s4db alone at 100K, 1M and 10M keys (or --sizes a,b,c), how
// open, flush, memory and single-put latency grow as the database does.
//
//   ./build/release/benchmarks/s4db_peers [--keys N] [--rounds R] [--engines s4db,LMDB] [--scaling [--sizes a,b,c]]
#include <leveldb/db.h>
#include <leveldb/write_batch.h>
#include <lmdb.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <s4db/s4db.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

double rss_mib() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (!f || std::fscanf(f, "%ld %ld", &pages, &resident) != 2) std::abort();
  std::fclose(f);
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

std::uintmax_t bytes_under(const fs::path& dir) {
  std::uintmax_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) total += e.file_size();
  return total;
}

// Key i: 16 bytes, spread so that neither hash nor key order follows insertion order.
std::string key_of(std::uint64_t i) {
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(i * 0x9e3779b97f4a7c15ull));
  return std::string(out, 16);
}

std::string value_of(std::uint64_t i) {
  std::string v(100, '\0');
  std::uint64_t x = i * 0x2545f4914f6cdd1dull + 1;
  for (auto& c : v) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>('a' + x % 16);  // compressible, like text
  }
  return v;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// ---------------------------------------------------------------------------- engines

struct engine {
  virtual ~engine() = default;
  virtual void open(const fs::path& dir) = 0;
  virtual void put(const std::vector<std::pair<std::string, std::string>>& batch) = 0;
  virtual void close() = 0;                             // flushes what the engine flushes on close (no fsync)
  virtual std::size_t get(const std::string& key) = 0;  // the value's size; 0 when missing
  virtual std::size_t iterate() = 0;                    // items seen, every value touched
  virtual double flush_ms() { return -1; }              // a flush (no fsync), where there is one
};

struct s4db_engine : engine {
  std::unique_ptr<s4db::basic_db<s4db::fs_store>> db;
  void open(const fs::path& dir) override {
    s4db::options o;
    o.local_dir = dir / "local";
    db = std::make_unique<s4db::basic_db<s4db::fs_store>>(s4db::fs_store{dir / "bucket"}, o);
  }
  void put(const std::vector<std::pair<std::string, std::string>>& batch) override { db->put(batch); }
  void close() override { db.reset(); }
  std::size_t get(const std::string& key) override { return db->get(key).value_or("").size(); }
  std::size_t iterate() override {
    std::size_t n = 0, bytes = 0;
    for (const auto& [k, v] : db->item_views({.local = true})) ++n, bytes += v.size();  // views, as the others give
    return bytes ? n : 0;
  }
  double flush_ms() override {
    const auto start = clock_type::now();
    db->flush();
    return ms_since(start);
  }
};

// LevelDB and RocksDB share one API (RocksDB began as LevelDB's fork): one engine for both.
struct leveldb_api {
  using db = leveldb::DB;
  using options = leveldb::Options;
  using write_batch = leveldb::WriteBatch;
  using write_options = leveldb::WriteOptions;
  using read_options = leveldb::ReadOptions;
  using iterator = leveldb::Iterator;
};

struct rocksdb_api {
  using db = rocksdb::DB;
  using options = rocksdb::Options;
  using write_batch = rocksdb::WriteBatch;
  using write_options = rocksdb::WriteOptions;
  using read_options = rocksdb::ReadOptions;
  using iterator = rocksdb::Iterator;
};

template <class Api>
struct lsm_engine : engine {
  std::unique_ptr<typename Api::db> db;
  void open(const fs::path& dir) override {
    typename Api::options o;
    o.create_if_missing = true;
    typename Api::db* raw = nullptr;
    if (!Api::db::Open(o, dir.string(), &raw).ok()) throw std::runtime_error("open " + dir.string());
    db.reset(raw);
  }
  void put(const std::vector<std::pair<std::string, std::string>>& batch) override {
    typename Api::write_batch b;
    for (const auto& [k, v] : batch) b.Put(k, v);
    if (!db->Write(typename Api::write_options(), &b).ok()) throw std::runtime_error("write");
  }
  void close() override { db.reset(); }
  std::size_t get(const std::string& key) override {
    std::string v;
    return db->Get(typename Api::read_options(), key, &v).ok() ? v.size() : 0;
  }
  std::size_t iterate() override {
    std::unique_ptr<typename Api::iterator> it(db->NewIterator(typename Api::read_options()));
    std::size_t n = 0, bytes = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++n, bytes += it->value().size();
    return bytes ? n : 0;
  }
};

struct lmdb_engine : engine {
  MDB_env* env = nullptr;
  MDB_dbi dbi = 0;
  static void check(int rc, const char* what) {
    if (rc != 0) throw std::runtime_error(std::string(what) + ": " + mdb_strerror(rc));
  }
  void open(const fs::path& dir) override {
    fs::create_directories(dir);
    check(mdb_env_create(&env), "mdb_env_create");
    check(mdb_env_set_mapsize(env, std::size_t{64} << 30), "mdb_env_set_mapsize");
    check(mdb_env_open(env, dir.c_str(), MDB_NOSYNC | MDB_NOMETASYNC, 0644), "mdb_env_open");
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env, nullptr, 0, &txn), "mdb_txn_begin");
    check(mdb_dbi_open(txn, nullptr, 0, &dbi), "mdb_dbi_open");
    check(mdb_txn_commit(txn), "mdb_txn_commit");
  }
  void put(const std::vector<std::pair<std::string, std::string>>& batch) override {
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env, nullptr, 0, &txn), "mdb_txn_begin");
    for (const auto& [k, v] : batch) {
      MDB_val key{k.size(), const_cast<char*>(k.data())}, value{v.size(), const_cast<char*>(v.data())};
      check(mdb_put(txn, dbi, &key, &value, 0), "mdb_put");
    }
    check(mdb_txn_commit(txn), "mdb_txn_commit");
  }
  void close() override {
    if (env) mdb_env_close(env);
    env = nullptr;
  }
  std::size_t get(const std::string& k) override {
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), "mdb_txn_begin");
    MDB_val key{k.size(), const_cast<char*>(k.data())}, value{};
    const std::size_t size = mdb_get(txn, dbi, &key, &value) == 0 ? value.mv_size : 0;
    std::string copy(static_cast<const char*>(value.mv_data), size);  // as the others return it
    mdb_txn_abort(txn);
    return copy.size();
  }
  std::size_t iterate() override {
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), "mdb_txn_begin");
    MDB_cursor* cursor = nullptr;
    check(mdb_cursor_open(txn, dbi, &cursor), "mdb_cursor_open");
    MDB_val key{}, value{};
    std::size_t n = 0, bytes = 0;
    for (int rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT))
      ++n, bytes += value.mv_size;
    mdb_cursor_close(cursor);
    mdb_txn_abort(txn);
    return bytes ? n : 0;
  }
  ~lmdb_engine() override { close(); }
};

std::unique_ptr<engine> make_engine(const std::string& name) {
  if (name == "s4db") return std::make_unique<s4db_engine>();
  if (name == "LevelDB") return std::make_unique<lsm_engine<leveldb_api>>();
  if (name == "RocksDB") return std::make_unique<lsm_engine<rocksdb_api>>();
  if (name == "LMDB") return std::make_unique<lmdb_engine>();
  throw std::invalid_argument("no engine " + name + " (s4db, LevelDB, RocksDB, LMDB)");
}

// ---------------------------------------------------------------------------- one run

// The measures, in the table's order.
const std::vector<std::string> measures = {"batched put, entries/s",    "flush + close, ms",  "reopen, ms",
                                           "memory added by open, MiB", "random get p50, us", "random get p99, us",
                                           "full iteration, items/s",   "bytes on disk, MB",  "single put p99.9, us",
                                           "flush after 1,000 puts, ms"};

// Fills a new database with `keys` keys in batches, and closes it.
std::vector<double> fill(const std::string& name, std::size_t keys, const fs::path& dir) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto e = make_engine(name);
  std::vector<double> out;
  e->open(dir);
  std::vector<std::pair<std::string, std::string>> batch;
  auto start = clock_type::now();
  for (std::size_t i = 0; i < keys;) {
    batch.clear();
    for (std::size_t j = 0; j < 1000 && i < keys; ++j, ++i) batch.emplace_back(key_of(i), value_of(i));
    e->put(batch);
  }
  out.push_back(static_cast<double>(keys) / (ms_since(start) / 1000));
  start = clock_type::now();
  e->close();
  out.push_back(ms_since(start));
  return out;
}

// Opens what fill() wrote, in a process of its own (the heap fill() used is not there to
// hide the memory the open adds), then reads and writes it.
std::vector<double> use(const std::string& name, std::size_t keys, const fs::path& dir) {
  auto e = make_engine(name);
  std::vector<double> out;
  std::vector<std::pair<std::string, std::string>> batch;
  const double rss = rss_mib();
  auto start = clock_type::now();
  start = clock_type::now();
  e->open(dir);
  out.push_back(ms_since(start));
  out.push_back(rss_mib() - rss);

  std::mt19937_64 rng(7);
  std::vector<double> ns;
  std::size_t got = 0;
  for (int i = 0; i < 200000; ++i) {
    const std::string key = key_of(rng() % keys);
    const auto t = clock_type::now();
    got += e->get(key);
    ns.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t).count());
  }
  if (got != 200000 * 100) throw std::runtime_error(name + ": a get missed");
  out.push_back(percentile(ns, 0.50));
  out.push_back(percentile(ns, 0.99));

  start = clock_type::now();
  if (e->iterate() != keys) throw std::runtime_error(name + ": iteration missed items");
  out.push_back(static_cast<double>(keys) / (ms_since(start) / 1000));
  out.push_back(static_cast<double>(bytes_under(dir)) / 1e6);

  ns.clear();
  for (std::size_t i = keys; i < keys + 100000; ++i) {
    batch.assign(1, {key_of(i), value_of(i)});
    const auto t = clock_type::now();
    e->put(batch);
    ns.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t).count());
  }
  out.push_back(percentile(ns, 0.999));
  batch.clear();
  for (std::size_t i = keys + 100000; i < keys + 101000; ++i) batch.emplace_back(key_of(i), value_of(i));
  e->put(batch);
  out.push_back(e->flush_ms());
  e->close();
  fs::remove_all(dir);
  return out;
}

// Runs f in a forked child and returns what it returned (a clean heap for each run).
std::vector<double> in_child(const std::function<std::vector<double>()>& f) {
  int fds[2];
  if (::pipe(fds) != 0) std::abort();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    int rc = 0;
    std::ostringstream text;
    try {
      for (double v : f()) text << v << '\n';
    } catch (const std::exception& e) {
      std::fprintf(stderr, "benchmark failed: %s\n", e.what());
      rc = 1;
    }
    const std::string s = text.str();
    if (::write(fds[1], s.data(), s.size()) < 0) rc = 1;
    ::_exit(rc);
  }
  ::close(fds[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) std::exit(1);
  std::vector<double> out;
  std::istringstream in(text);
  for (double v; in >> v;) out.push_back(v);
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void side_by_side(std::size_t keys, int rounds, const std::vector<std::string>& engines, const fs::path& scratch) {
  std::map<std::string, std::vector<std::vector<double>>> results;
  for (int r = 0; r < rounds; ++r)
    for (const auto& name : engines) {
      std::fprintf(stderr, "round %d: %s\n", r + 1, name.c_str());
      auto measured = in_child([&] { return fill(name, keys, scratch / name); });
      for (double v : in_child([&] { return use(name, keys, scratch / name); })) measured.push_back(v);
      results[name].push_back(measured);
    }
  std::printf(
      "%zu keys of 16 bytes, 100-byte values, batches of 1,000, no fsync; median of %d interleaved rounds;\n"
      "(x) is peer / s4db\n\n",
      keys, rounds);
  std::printf("| measure |");
  for (const auto& name : engines) std::printf(" %s |", name.c_str());
  std::printf("\n| --- |");
  for (std::size_t i = 0; i < engines.size(); ++i) std::printf(" --- |");
  std::printf("\n");
  for (std::size_t m = 0; m < measures.size(); ++m) {
    std::vector<double> med;
    for (const auto& name : engines) {
      std::vector<double> v;
      for (const auto& round : results[name]) v.push_back(round[m]);
      med.push_back(median(v));
    }
    std::printf("| %s | %.4g |", measures[m].c_str(), med[0]);
    for (std::size_t i = 1; i < engines.size(); ++i) {
      if (med[i] < 0)
        std::printf(" n/a |");
      else
        std::printf(" %.4g (%.2fx) |", med[i], med[0] > 0 ? med[i] / med[0] : 0.0);
    }
    std::printf("\n");
  }
  std::printf("\nindex memory: %.1f bytes per key beyond the 16 key bytes (memory added by open / keys)\n", median([&] {
                std::vector<double> v;
                for (const auto& round : results["s4db"])
                  v.push_back(round[3] * 1024 * 1024 / static_cast<double>(keys) - 16);
                return v;
              }()));
}

// ---------------------------------------------------------------------------- scaling

// Grows a database from empty by single puts, each timed, and closes it.
std::vector<double> grow(std::size_t keys, const fs::path& dir) {
  fs::remove_all(dir);
  s4db_engine e;
  e.open(dir);
  std::vector<double> ns;
  ns.reserve(keys);
  std::vector<std::pair<std::string, std::string>> one(1);
  for (std::size_t i = 0; i < keys; ++i) {
    one[0] = {key_of(i), value_of(i)};
    const auto t = clock_type::now();
    e.put(one);
    ns.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t).count());
  }
  std::vector<double> out = {percentile(ns, 0.5), percentile(ns, 0.999), *std::max_element(ns.begin(), ns.end())};
  auto start = clock_type::now();
  e.close();
  out.push_back(ms_since(start));
  return out;
}

// Reopens what grow() wrote (in a process of its own, as use() does), flushes, publishes,
// and opens the published database from the store alone.
std::vector<double> reopen(std::size_t keys, const fs::path& dir) {
  s4db_engine e;
  std::vector<double> out;
  const double rss = rss_mib();
  auto start = clock_type::now();
  e.open(dir);
  out.push_back(ms_since(start));
  out.push_back((rss_mib() - rss) * 1024 * 1024 / static_cast<double>(keys) - 16);
  std::vector<std::pair<std::string, std::string>> batch;
  for (std::size_t i = keys; i < keys + 1000; ++i) batch.emplace_back(key_of(i), value_of(i));
  e.put(batch);
  out.push_back(e.flush_ms());
  // Open from the store alone: one GET of the published index, parsed.
  e.db->upload();
  e.close();
  const auto index_bytes = fs::file_size(dir / "bucket" / "index.idx");
  start = clock_type::now();
  {
    s4db::basic_db<s4db::fs_store> fresh{s4db::fs_store{dir / "bucket"}};
    if (fresh.size() != keys + 1000) throw std::runtime_error("open from the store lost keys");
  }
  out.push_back(static_cast<double>(index_bytes) / 1e6 / (ms_since(start) / 1000));
  fs::remove_all(dir);
  return out;
}

void scaling(const std::vector<std::size_t>& sizes, const fs::path& scratch) {
  std::printf("s4db as the database grows (single puts from empty, each timed; fs_store, no fsync)\n\n");
  std::printf(
      "| keys | put p50 us | put p99.9 us | put max ms | close ms | reopen ms | index B/key + key | "
      "flush after 1,000 puts ms | open from store, index MB/s |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (auto keys : sizes) {
    std::fprintf(stderr, "scaling: %zu keys\n", keys);
    auto r = in_child([&] { return grow(keys, scratch / "scaling"); });
    for (double v : in_child([&] { return reopen(keys, scratch / "scaling"); })) r.push_back(v);
    std::printf("| %zu | %.2f | %.2f | %.1f | %.1f | %.1f | %.1f | %.2f | %.0f |\n", keys, r[0], r[1], r[2] / 1000,
                r[3], r[4], r[5], r[6], r[7]);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t keys = 1000000;
  int rounds = 2;
  bool scale = false;
  std::vector<std::string> engines = {"s4db", "LevelDB", "RocksDB", "LMDB"};
  std::vector<std::size_t> sizes = {100000, 1000000, 10000000};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--keys" && i + 1 < argc) {
      keys = std::stoull(argv[++i]);
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::stoi(argv[++i]);
    } else if (a == "--engines" && i + 1 < argc) {
      engines.clear();
      std::stringstream list(argv[++i]);
      for (std::string name; std::getline(list, name, ',');) engines.push_back(name);
      const std::vector<std::string> known = {"s4db", "LevelDB", "RocksDB", "LMDB"};
      if (engines.empty() || engines[0] != "s4db" || std::any_of(engines.begin(), engines.end(), [&](const auto& name) {
            return std::find(known.begin(), known.end(), name) == known.end();
          })) {
        std::fprintf(
            stderr, "--engines: a list of s4db, LevelDB, RocksDB, LMDB that starts with s4db (the ratios are to it)\n");
        return 2;
      }
    } else if (a == "--scaling") {
      scale = true;
    } else if (a == "--sizes" && i + 1 < argc) {
      sizes.clear();
      std::stringstream list(argv[++i]);
      for (std::string n; std::getline(list, n, ',');) sizes.push_back(std::stoull(n));
    } else {
      std::fprintf(stderr,
                   "usage: %s [--keys N] [--rounds R] [--engines s4db,LevelDB,...] [--scaling [--sizes a,b,c]]\n",
                   argv[0]);
      return 2;
    }
  }
  const fs::path scratch = fs::temp_directory_path() / ("s4db-peers-" + std::to_string(::getpid()));
  if (scale)
    scaling(sizes, scratch);
  else
    side_by_side(keys, rounds, engines, scratch);
  fs::remove_all(scratch);
}
