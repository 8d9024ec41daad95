// Prints the figures we track, on fs_store with a local working copy (no fsync on put):
// single-key puts/s, batched put entries/s, local get p50/p99 for 100 B and 4 KiB values,
// open time with N keys (1,000,000 by default), compaction MB/s. Run on purpose, in a
// Release build: ./build-release/benchmarks/s4db_bench [keys-for-open]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <s4db/s4db.hpp>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
using db_type = s4db::basic_db<s4db::fs_store>;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

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
};

std::string random_value(std::mt19937& rng, std::size_t n) {
  std::string v(n, '\0');
  for (auto& c : v) c = static_cast<char>('a' + rng() % 16);  // compressible, like text
  return v;
}

void row(const char* what, double value, const char* unit) {
  std::printf("| %-42s | %14.2f | %-9s |\n", what, value, unit);
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t open_keys = argc > 1 ? std::stoul(argv[1]) : 1000000;
  std::mt19937 rng(1);
  std::printf("| %-42s | %14s | %-9s |\n|%s|%s|%s|\n", "benchmark", "value", "unit", std::string(44, '-').c_str(),
              std::string(16, '-').c_str(), std::string(11, '-').c_str());

  {
    scratch s("put");
    db_type db{s.store(), s.opts()};
    const auto value = random_value(rng, 100);
    constexpr int n = 300000;
    std::vector<std::string> keys;
    for (int i = 0; i < n; ++i) keys.push_back("key-" + std::to_string(i));
    const auto start = clock_type::now();
    for (int i = 0; i < n; ++i) db.put(keys[static_cast<std::size_t>(i)], value);
    row("single-key put, 100 B values", n / seconds_since(start), "puts/s");
  }
  {
    scratch s("batch");
    db_type db{s.store(), s.opts()};
    const auto value = random_value(rng, 100);
    constexpr int batches = 500, per_batch = 1000;
    std::vector<std::pair<std::string, std::string>> batch(per_batch);
    const auto start = clock_type::now();
    for (int b = 0; b < batches; ++b) {
      for (int i = 0; i < per_batch; ++i)
        batch[static_cast<std::size_t>(i)] = {"k" + std::to_string(b * per_batch + i), value};
      db.put(batch);
    }
    row("batched put (1,000 per batch), 100 B values", batches * per_batch / seconds_since(start), "entries/s");
  }
  for (std::size_t size : {std::size_t{100}, std::size_t{4096}}) {
    scratch s("get");
    db_type db{s.store(), s.opts()};
    constexpr int n = 100000;
    std::vector<std::pair<std::string, std::string>> batch;
    for (int i = 0; i < n; ++i) batch.emplace_back("key-" + std::to_string(i), random_value(rng, size));
    db.put(batch);
    std::vector<double> ns;
    ns.reserve(n);
    std::uniform_int_distribution<int> pick(0, n - 1);
    std::size_t total = 0;
    for (int i = 0; i < n; ++i) {
      const auto& key = batch[static_cast<std::size_t>(pick(rng))].first;
      const auto start = clock_type::now();
      total += db.get(key)->size();
      ns.push_back(std::chrono::duration<double, std::nano>(clock_type::now() - start).count());
    }
    std::sort(ns.begin(), ns.end());
    const std::string label = std::to_string(size) + " B values";
    row(("local get p50, " + label).c_str(), ns[ns.size() / 2] / 1000.0, "us");
    row(("local get p99, " + label).c_str(), ns[ns.size() * 99 / 100] / 1000.0, "us");
    if (total == 0) return 1;
  }
  {
    scratch s("open");
    {
      db_type db{s.store(), s.opts()};
      std::vector<std::pair<std::string, std::string>> batch;
      for (std::size_t i = 0; i < open_keys; ++i) {
        batch.emplace_back("user:" + std::to_string(i * 7919 % 10000019), "v");
        if (batch.size() == 10000) db.put(batch), batch.clear();
      }
      db.put(batch);
    }
    const auto start = clock_type::now();
    db_type db{s.store(), s.opts()};
    const double took = seconds_since(start);
    row(("open with " + std::to_string(db.size()) + " keys (local index)").c_str(), took * 1000.0, "ms");
  }
  {
    scratch s("compact");
    db_type db{s.store(), s.opts()};
    const auto value = random_value(rng, 1000);
    for (int round = 0; round < 4; ++round) {
      std::vector<std::pair<std::string, std::string>> batch;
      for (int i = 0; i < 50000; ++i) batch.emplace_back("key-" + std::to_string(i), value);
      db.put(batch);
    }
    std::uintmax_t bytes = 0;
    for (const auto& e : std::filesystem::directory_iterator(s.root / "local"))
      if (e.path().extension() == ".s4db") bytes += e.file_size();
    const auto start = clock_type::now();
    db.compact();
    row("compaction (input bytes, upload to fs_store)", static_cast<double>(bytes) / 1e6 / seconds_since(start),
        "MB/s");
  }
}
