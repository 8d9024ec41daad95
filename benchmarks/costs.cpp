// What a commit and a follow cost in store requests and bytes, as the database grows
// (SPEC section 7): on an fs_store bucket, behind a store that meters every call, a writer
// with N keys (16-byte keys, 100-byte values) commits a one-key change, and a follower
// (its own working copy) refreshes to see it, then refreshes again with nothing new. Prints,
// per format and size, the requests and bytes of each (the median of 5 rounds), and the
// time they took. Run on purpose, in a Release build:
//   ./build/release/benchmarks/s4db_costs [--keys N] [--scaling] [--formats 1,2,3] [--dir D]
// --scaling runs 100K, 1M and 10M keys; the default is 100K and 1M.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <s4db/s4db.hpp>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

// A Store in front of another that counts requests by kind and the bytes each way.
struct meter {
  std::atomic<std::uint64_t> reads{0}, ranged_reads{0}, writes{0}, heads{0}, lists{0}, removes{0};
  std::atomic<std::uint64_t> bytes_down{0}, bytes_up{0};
  struct figures {
    std::uint64_t requests, writes, bytes_down, bytes_up;
  };
  figures take() const {
    return {reads + ranged_reads + writes + heads + lists + removes, writes.load(), bytes_down.load(), bytes_up.load()};
  }
};

class metered_store {
 public:
  metered_store(s4db::fs_store inner, meter& m) : inner_(std::move(inner)), m_(&m) {}
  std::optional<s4db::object> get(const std::string& k) {
    ++m_->reads;
    auto o = inner_.get(k);
    if (o) m_->bytes_down += o->data.size();
    return o;
  }
  std::string get_range(const std::string& k, std::uint64_t o, std::uint64_t n) {
    ++m_->ranged_reads;
    auto bytes = inner_.get_range(k, o, n);
    m_->bytes_down += bytes.size();
    return bytes;
  }
  bool get_file(const std::string& k, const fs::path& p) {
    ++m_->reads;
    const bool found = inner_.get_file(k, p);
    if (found) m_->bytes_down += fs::file_size(p);
    return found;
  }
  std::string put(const std::string& k, std::string_view d, const s4db::put_condition& c) {
    ++m_->writes;
    m_->bytes_up += d.size();
    return inner_.put(k, d, c);
  }
  std::string put_file(const std::string& k, const fs::path& p, const s4db::put_condition& c) {
    ++m_->writes;
    m_->bytes_up += fs::file_size(p);
    return inner_.put_file(k, p, c);
  }
  std::optional<s4db::object_info> head(const std::string& k) { return ++m_->heads, inner_.head(k); }
  void remove(std::span<const std::string> keys) { ++m_->removes, inner_.remove(keys); }
  std::vector<s4db::object_info> list(const std::string& p) { return ++m_->lists, inner_.list(p); }

 private:
  s4db::fs_store inner_;
  meter* m_;
};

using db_type = s4db::basic_db<metered_store>;

struct cost {
  meter::figures used;
  double ms;
};

template <class F>
cost measure(meter& m, F&& f) {
  const auto before = m.take();
  const auto start = clock_type::now();
  f();
  const double ms = std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
  const auto after = m.take();
  return {{after.requests - before.requests, after.writes - before.writes, after.bytes_down - before.bytes_down,
           after.bytes_up - before.bytes_up},
          ms};
}

cost median(std::vector<cost> v) {
  std::sort(v.begin(), v.end(), [](const cost& a, const cost& b) { return a.ms < b.ms; });
  return v[v.size() / 2];
}

std::string human(std::uint64_t bytes) {
  char out[32];
  if (bytes >= 10'000'000)
    std::snprintf(out, sizeof out, "%.1f MB", static_cast<double>(bytes) / 1e6);
  else if (bytes >= 10'000)
    std::snprintf(out, sizeof out, "%.1f KB", static_cast<double>(bytes) / 1e3);
  else
    std::snprintf(out, sizeof out, "%llu B", static_cast<unsigned long long>(bytes));
  return out;
}

void row(const char* what, int format, std::size_t keys, const cost& c) {
  std::printf("| %d | %zu | %s | %llu (%llu writes) | %s | %s | %.2f |\n", format, keys, what,
              static_cast<unsigned long long>(c.used.requests), static_cast<unsigned long long>(c.used.writes),
              human(c.used.bytes_up).c_str(), human(c.used.bytes_down).c_str(), c.ms);
  std::fflush(stdout);
}

void run(const fs::path& root, int format, std::size_t keys) {
  fs::remove_all(root);
  meter m;
  s4db::options o;
  o.prefix = "db/";
  o.format_version = format;
  o.local_dir = root / "writer";
  o.log = [](s4db::log_level, std::string_view) {};
  db_type writer(metered_store(s4db::fs_store{root / "bucket"}, m), o);
  {
    std::vector<std::pair<std::string, std::string>> batch;
    char key[32];
    for (std::size_t i = 0; i < keys; ++i) {
      std::snprintf(key, sizeof key, "key%013zu", i);
      batch.emplace_back(key, std::string(100, static_cast<char>('a' + i % 26)));
      if (batch.size() == 100000 || i + 1 == keys) {
        writer.put(batch);
        batch.clear();
      }
    }
  }
  writer.upload();
  auto fo = o;
  fo.local_dir = root / "follower";
  db_type follower(metered_store(s4db::fs_store{root / "bucket"}, m), fo);
  std::vector<cost> commits, follows, unchanged;
  for (int round = 0; round < 5; ++round) {
    writer.put("key" + std::to_string(round), "changed " + std::to_string(round));
    commits.push_back(measure(m, [&] { writer.upload(); }));
    follows.push_back(measure(m, [&] { follower.refresh(); }));
    unchanged.push_back(measure(m, [&] { follower.refresh(); }));
  }
  row("one-key commit", format, keys, median(commits));
  row("follower refresh", format, keys, median(follows));
  row("refresh, nothing new", format, keys, median(unchanged));
  if (format != 3) return;
  // Merging: 100 one-key commits more, then merge_segments() (what s4db merge does).
  for (int round = 0; round < 100; ++round) {
    writer.put("key" + std::to_string(round), "again " + std::to_string(round));
    writer.upload();
  }
  s4db::merge_report report;
  const auto merge = measure(m, [&] { report = writer.merge_segments(); });
  const std::string what = "merge after 105 one-key commits: " + std::to_string(report.segments_before) + " -> " +
                           std::to_string(report.segments_after) + " segments";
  row(what.c_str(), format, keys, merge);
  row("follower refresh after the merge", format, keys, measure(m, [&] { follower.refresh(); }));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::size_t> sizes = {100'000, 1'000'000};
  std::vector<int> formats = {1, 2, 3};
  fs::path dir = fs::temp_directory_path() / "s4db-costs";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--keys" && i + 1 < argc) {
      sizes = {std::stoul(argv[++i])};
    } else if (arg == "--scaling") {
      sizes = {100'000, 1'000'000, 10'000'000};
    } else if (arg == "--formats" && i + 1 < argc) {
      formats.clear();
      for (const char c : std::string(argv[++i]))
        if (c >= '1' && c <= '3') formats.push_back(c - '0');
    } else if (arg == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else {
      std::fprintf(stderr, "usage: s4db_costs [--keys N] [--scaling] [--formats 1,2,3] [--dir D]\n");
      return 2;
    }
  }
  std::printf(
      "| format | keys | operation | requests | bytes up | bytes down | ms |\n| --- | --- | --- | --- | --- | --- | "
      "--- |\n");
  for (const std::size_t keys : sizes)
    for (const int format : formats) run(dir, format, keys);
  fs::remove_all(dir);
}
