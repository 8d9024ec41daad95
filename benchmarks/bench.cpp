// Prints the figures we track. Local, on fs_store with a working copy (no fsync on put):
// single-key puts/s, batched put entries/s, local get p50/p99 for 100 B and 4 KiB values,
// open time with N keys (1,000,000 by default), compaction MB/s. With --s3, against the
// server S4DB_TEST_S3_* name (benchmarks/run-s3.sh starts s3rver on loopback): ranged get
// p50/p99, get_many of 1,000 keys versus 1,000 sequential gets, upload and download MB/s
// with 1 and 16 transfers at once; then the same behind a loopback proxy that adds 20 ms
// to every request, as a real S3 region would (the local servers answer one request at a
// time, so only latency shows what concurrency buys). Run on purpose, in a Release build:
// --sync prints puts/s under each sync_mode beside LevelDB with WriteOptions::sync = true
// (when built with Debian's libleveldb-dev), one thread and four, measured in the same run.
// --writers (with --s3) prints fenced commits with 1, 4 and 16 writers on one prefix, each
// its own db and working copy in its own thread: commit latency p50/p99, commits/s of all
// writers together, and how many commits lost the race and rebased.
//   ./build/release/benchmarks/s4db_bench [--open-keys N] [--no-local] [--sync] [--s3 [--writers]]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <s4db/s4db.hpp>
#include <s4db/store/s3.hpp>
#include <string>
#include <vector>

#include "../tests/fault_proxy.hpp"

#ifdef S4DB_BENCH_LEVELDB
#include <leveldb/db.h>
#include <leveldb/write_batch.h>
#endif

#include <atomic>
#include <thread>

namespace {

using clock_type = std::chrono::steady_clock;
using local_db = s4db::basic_db<s4db::fs_store>;
using s3_db = s4db::basic_db<s4db::s3_store>;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

double nanoseconds_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::nano>(clock_type::now() - start).count();
}

// A directory for one benchmark, removed afterwards.
struct scratch {
  std::filesystem::path root;
  explicit scratch(const std::string& name) : root(std::filesystem::temp_directory_path() / ("s4db-bench-" + name)) {
    std::filesystem::remove_all(root);
  }
  ~scratch() { std::filesystem::remove_all(root); }
  s4db::options opts() const {
    s4db::options o;
    o.local_dir = root / "local";
    return o;
  }
  s4db::fs_store store() const { return s4db::fs_store{root / "bucket"}; }
  std::uintmax_t data_bytes() const {
    std::uintmax_t bytes = 0;
    for (const auto& e : std::filesystem::directory_iterator(root / "local"))
      if (e.path().extension() == ".s4db") bytes += e.file_size();
    return bytes;
  }
};

std::string random_value(std::mt19937& rng, std::size_t n) {
  std::string v(n, '\0');
  for (auto& c : v) c = static_cast<char>('a' + rng() % 16);  // compressible, like text
  return v;
}

std::vector<std::pair<std::string, std::string>> numbered(std::mt19937& rng, std::size_t n, std::size_t value_size,
                                                          const std::string& stem = "key-") {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.emplace_back(stem + std::to_string(i), random_value(rng, value_size));
  return out;
}

void row(const std::string& what, double value, const char* unit) {
  std::printf("| %-48s | %14.2f | %-9s |\n", what.c_str(), value, unit);
}

// p50 and p99, in microseconds.
std::pair<double, double> percentiles_us(std::vector<double> ns) {
  std::sort(ns.begin(), ns.end());
  return {ns[ns.size() / 2] / 1000.0, ns[ns.size() * 99 / 100] / 1000.0};
}

void local_benchmarks(std::size_t open_keys) {
  std::mt19937 rng(1);
  {
    scratch s("put");
    local_db db{s.store(), s.opts()};
    const auto value = random_value(rng, 100);
    constexpr std::size_t n = 300000;
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < n; ++i) keys.push_back("key-" + std::to_string(i));
    const auto start = clock_type::now();
    for (const auto& key : keys) db.put(key, value);
    row("single-key put, 100 B values", n / seconds_since(start), "puts/s");
  }
  {
    scratch s("batch");
    local_db db{s.store(), s.opts()};
    constexpr std::size_t batches = 500, per_batch = 1000;
    std::vector<std::vector<std::pair<std::string, std::string>>> all;
    for (std::size_t b = 0; b < batches; ++b)
      all.push_back(numbered(rng, per_batch, 100, "k" + std::to_string(b) + "-"));
    const auto start = clock_type::now();
    for (const auto& batch : all) db.put(batch);
    row("batched put (1,000 per batch), 100 B values", batches * per_batch / seconds_since(start), "entries/s");
  }
  for (std::size_t size : {std::size_t{100}, std::size_t{4096}}) {
    scratch s("get");
    local_db db{s.store(), s.opts()};
    constexpr std::size_t n = 100000;
    const auto batch = numbered(rng, n, size);
    db.put(batch);
    std::vector<double> ns;
    ns.reserve(n);
    std::uniform_int_distribution<std::size_t> pick(0, n - 1);
    std::size_t total = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const auto& key = batch[pick(rng)].first;
      const auto start = clock_type::now();
      total += db.get(key)->size();
      ns.push_back(nanoseconds_since(start));
    }
    const auto [p50, p99] = percentiles_us(ns);
    row("local get p50, " + std::to_string(size) + " B values", p50, "us");
    row("local get p99, " + std::to_string(size) + " B values", p99, "us");
    if (total != n * size) std::abort();
  }
  {
    scratch s("open");
    {
      local_db db{s.store(), s.opts()};
      std::vector<std::pair<std::string, std::string>> batch;
      for (std::size_t i = 0; i < open_keys; ++i) {
        batch.emplace_back("user:" + std::to_string(i * 7919 % 10000019), "v");
        if (batch.size() == 10000) db.put(batch), batch.clear();
      }
      db.put(batch);
    }
    const auto start = clock_type::now();
    local_db db{s.store(), s.opts()};
    const double took = seconds_since(start);
    row("open with " + std::to_string(db.size()) + " keys (local index)", took * 1000.0, "ms");
  }
  {
    scratch s("compact");
    local_db db{s.store(), s.opts()};
    for (int round = 0; round < 4; ++round) db.put(numbered(rng, 50000, 1000));
    const auto bytes = s.data_bytes();
    const auto start = clock_type::now();
    db.compact();
    row("compaction (input bytes, upload to fs_store)", static_cast<double>(bytes) / 1e6 / seconds_since(start),
        "MB/s");
  }
}

s4db::s3_config bench_s3_config() {
  const char* bucket = std::getenv("S4DB_TEST_S3_BUCKET");
  const char* endpoint = std::getenv("S4DB_TEST_S3_ENDPOINT");
  if (!bucket || !endpoint)
    throw std::runtime_error("--s3 needs S4DB_TEST_S3_BUCKET and _ENDPOINT (benchmarks/run-s3.sh sets them)");
  s4db::s3_config c;
  c.bucket = bucket;
  c.endpoint = endpoint;
  return c;
}

std::string bench_prefix(const std::string& what) {
  return "bench/" + what + "-" + std::to_string(std::random_device{}()) + "/";
}

void s3_benchmarks(const std::string& label, const s4db::s3_config& config) {
  std::mt19937 rng(2);
  const s4db::s3_store store{config};
  auto row = [&](const std::string& what, double value, const char* unit) { ::row(what + label, value, unit); };
  {
    scratch s("s3-get");
    s4db::options o = s.opts();
    o.prefix = bench_prefix("get");
    const auto batch = numbered(rng, 1000, 100);
    {
      s3_db writer{store, o};
      writer.put(batch);
      writer.upload();
    }
    o.local_dir.reset();
    s3_db reader{store, o};  // no local files: every read goes to the server
    std::vector<std::string> keys;
    std::vector<double> ns;
    const auto sequential_start = clock_type::now();
    for (const auto& [key, value] : batch) {
      const auto start = clock_type::now();
      if (reader.get(key) != value) std::abort();
      ns.push_back(nanoseconds_since(start));
      keys.push_back(key);
    }
    const double sequential = seconds_since(sequential_start);
    const auto [p50, p99] = percentiles_us(ns);
    row("S3 ranged get p50, 100 B values", p50, "us");
    row("S3 ranged get p99, 100 B values", p99, "us");
    const auto many_start = clock_type::now();
    const auto values = reader.get_many(keys);
    const double many = seconds_since(many_start);
    if (values.size() != keys.size() || values.back() != batch.back().second) std::abort();
    row("S3 1,000 sequential gets", sequential * 1000.0, "ms");
    row("S3 get_many of the same 1,000 keys", many * 1000.0, "ms");
    row("S3 get_many speed-up over sequential gets", sequential / many, "x");
    // Every third key: no two neighbours, so nothing merges and the gain is concurrency alone.
    std::vector<std::string> scattered;
    for (std::size_t i = 0; i < keys.size(); i += 3) scattered.push_back(keys[i]);
    const auto scattered_sequential_start = clock_type::now();
    for (const auto& key : scattered)
      if (!reader.get(key)) std::abort();
    const double scattered_sequential = seconds_since(scattered_sequential_start);
    const auto scattered_start = clock_type::now();
    if (reader.get_many(scattered).size() != scattered.size()) std::abort();
    row("S3 get_many speed-up, 334 keys none adjacent", scattered_sequential / seconds_since(scattered_start), "x");
  }
  for (std::size_t concurrency : {std::size_t{1}, std::size_t{16}}) {
    scratch s("s3-transfer");
    s4db::options o = s.opts();
    o.prefix = bench_prefix("transfer");
    o.max_file_size = 1024 * 1024;
    o.concurrency = concurrency;
    std::uintmax_t bytes = 0;
    {
      s3_db writer{store, o};
      writer.put(numbered(rng, 64 * 1024, 1000));
      bytes = s.data_bytes();
      const auto start = clock_type::now();
      writer.upload();
      row("S3 upload, " + std::to_string(concurrency) + " at once (1 MiB files)",
          static_cast<double>(bytes) / 1e6 / seconds_since(start), "MB/s");
    }
    o.local_dir = s.root / "mirror";
    s3_db mirror{store, o};
    const auto start = clock_type::now();
    mirror.download();
    row("S3 download, " + std::to_string(concurrency) + " at once (1 MiB files)",
        static_cast<double>(bytes) / 1e6 / seconds_since(start), "MB/s");
  }
}

// Calls put(thread, i) from `threads` threads for about `seconds`; returns puts per second.
template <class Put>
double puts_per_second(int threads, double seconds, Put&& put) {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> done{0};
  const auto start = clock_type::now();
  {
    std::vector<std::jthread> workers;
    for (int t = 0; t < threads; ++t)
      workers.emplace_back([&, t] {
        for (std::uint64_t i = 0; !stop; ++i) {
          put(t, i);
          ++done;
        }
      });
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
  }
  return static_cast<double>(done) / seconds_since(start);
}

void sync_benchmarks() {
  const std::string value(100, 'v');
  auto key = [](int t, std::uint64_t i) { return "t" + std::to_string(t) + "-" + std::to_string(i); };
  struct mode_case {
    const char* name;
    s4db::sync_mode mode;
  };
  for (const auto& [name, mode] :
       {mode_case{"none", s4db::sync_mode::none}, mode_case{"flush (flush() per 100)", s4db::sync_mode::flush},
        mode_case{"every_write", s4db::sync_mode::every_write}}) {
    for (int threads : {1, 4}) {
      scratch s("sync");
      auto o = s.opts();
      o.sync = mode;
      local_db db{s.store(), o};
      const double rate = puts_per_second(threads, 2.0, [&](int t, std::uint64_t i) {
        db.put(key(t, i), value);
        if (mode == s4db::sync_mode::flush && i % 100 == 99) db.flush();
      });
      row(std::string("put, sync ") + name + ", " + std::to_string(threads) + " thread" + (threads > 1 ? "s" : ""),
          rate, "puts/s");
    }
  }
#ifdef S4DB_BENCH_LEVELDB
  for (int threads : {1, 4}) {
    scratch s("leveldb");
    std::filesystem::create_directories(s.root);
    leveldb::Options options;
    options.create_if_missing = true;
    leveldb::DB* raw = nullptr;
    if (!leveldb::DB::Open(options, (s.root / "db").string(), &raw).ok()) std::abort();
    std::unique_ptr<leveldb::DB> ldb(raw);
    leveldb::WriteOptions sync;
    sync.sync = true;
    const double rate = puts_per_second(threads, 2.0, [&](int t, std::uint64_t i) {
      if (!ldb->Put(sync, key(t, i), value).ok()) std::abort();
    });
    row("LevelDB put, sync = true, " + std::to_string(threads) + " thread" + (threads > 1 ? "s" : ""), rate, "puts/s");
  }
#else
  std::printf("| %-48s | %14s | %-9s |\n", "LevelDB put, sync = true", "not built", "");
#endif
}

}  // namespace

// Writers on one prefix, each committing 10 keys at a time, `commits` times.
void writer_benchmarks(const std::string& label, const s4db::s3_config& config, int commits) {
  const s4db::s3_store store{config};
  for (const int writers : {1, 4, 16}) {
    scratch s("writers");
    const std::string prefix = bench_prefix("writers");
    std::vector<std::vector<double>> latencies(static_cast<std::size_t>(writers));
    std::atomic<std::uint64_t> rebases{0}, gave_up{0};
    const auto start = clock_type::now();
    std::vector<std::thread> pool;
    for (int w = 0; w < writers; ++w)
      pool.emplace_back([&, w] {
        s4db::options o;
        o.prefix = prefix;
        o.local_dir = s.root / std::to_string(w);
        o.log = [](s4db::log_level, std::string_view) {};
        s3_db db{store, o};
        std::mt19937 rng(static_cast<unsigned>(w));
        for (int c = 0; c < commits; ++c) {
          db.put(numbered(rng, 10, 100));
          const auto t = clock_type::now();
          for (;;) {
            try {
              db.upload();
              break;
            } catch (const s4db::conflict_error&) {
              ++gave_up;  // lost 8 races in a row; the writes are kept, try again
            }
          }
          latencies[static_cast<std::size_t>(w)].push_back(
              std::chrono::duration<double, std::nano>(clock_type::now() - t).count());
        }
        rebases += db.rebases();
      });
    for (auto& t : pool) t.join();
    const double seconds = seconds_since(start);
    std::vector<double> all;
    for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    const auto [p50, p99] = percentiles_us(all);
    const std::string who = std::to_string(writers) + (writers == 1 ? " writer" : " writers");
    ::row("commit latency p50, " + who + label, p50 / 1000, "ms");
    ::row("commit latency p99, " + who + label, p99 / 1000, "ms");
    ::row("commits/s, all " + who + label, static_cast<double>(all.size()) / seconds, "commits/s");
    ::row("rebases per commit, " + who + label, static_cast<double>(rebases) / static_cast<double>(all.size()),
          "rebases");
    if (gave_up) ::row("uploads that lost 8 races, " + who + label, static_cast<double>(gave_up), "uploads");
  }
}

int main(int argc, char** argv) {
  std::size_t open_keys = 1000000;
  bool local = true, s3 = false, sync = false, writers = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--open-keys" && i + 1 < argc) {
      open_keys = std::stoul(argv[++i]);
    } else if (arg == "--no-local") {
      local = false;
    } else if (arg == "--s3") {
      s3 = true;
    } else if (arg == "--sync") {
      sync = true;
    } else if (arg == "--writers") {
      writers = true;
    } else {
      std::fprintf(stderr, "usage: s4db_bench [--open-keys N] [--no-local] [--sync] [--s3 [--writers]]\n");
      return 2;
    }
  }
  std::printf("| %-48s | %14s | %-9s |\n|%s|%s|%s|\n", "benchmark", "value", "unit", std::string(50, '-').c_str(),
              std::string(16, '-').c_str(), std::string(11, '-').c_str());
  if (local) local_benchmarks(open_keys);
  if (sync) sync_benchmarks();
  if (s3) {
    const auto direct = bench_s3_config();
    s3_benchmarks("", direct);
    s4db_test::fault_proxy latency(*direct.endpoint);
    latency.delay_requests(std::chrono::milliseconds(20));
    auto far = direct;
    far.endpoint = latency.endpoint();
    s3_benchmarks(", +20 ms", far);
    if (writers) {
      const std::string server = std::getenv("S4DB_TEST_S3_SERVER") ? std::getenv("S4DB_TEST_S3_SERVER") : "s3";
      writer_benchmarks(" (" + server + ")", direct, 20);
      writer_benchmarks(" (" + server + ", +20 ms)", far, 20);
    }
  }
}
