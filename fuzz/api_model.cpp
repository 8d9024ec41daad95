// Fuzz target: the whole API on memory_store, behind the fault-injecting store of the
// tests, against a std::map model. Each input is a program of operations (put, batch put,
// erase, erase_range, erase_prefix, get, scan, snapshot, flush, upload, compact, rebuild,
// reopen, download) and of faults (the n-th
// store call from now fails before taking effect, or takes effect and loses its response).
// After every step the db must agree with the model (an operation a fault broke changes
// no acknowledged data), and a fresh reader of the store must read, for every key it
// lists, a value that was once written for that key.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <s4db/s4db.hpp>
#include <set>
#include <string>
#include <vector>

#include "faulty_store.hpp"

namespace {

using store_type = s4db_test::faulty_store<s4db::memory_store>;
using db_type = s4db::basic_db<store_type, s4db::snappy_codec, s4db::ordered_index>;

struct reader {
  const std::uint8_t* data;
  std::size_t size, pos = 0;
  bool more() const { return pos < size; }
  std::uint8_t byte() { return pos < size ? data[pos++] : 0; }
  std::string key() { return "k" + std::to_string(byte() % 24); }
  std::string value() {
    std::string v(byte() % 64, '\0');
    for (auto& c : v) c = static_cast<char>(byte());
    return v;
  }
};

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path local =
      std::filesystem::temp_directory_path() / ("s4db-fuzz-" + std::to_string(::getpid()));
  std::filesystem::remove_all(local);
  store_type store(s4db::memory_store{});
  s4db::options opt;
  opt.local_dir = local;
  opt.max_file_size = 256;
  opt.index_save_interval = 512;
  opt.concurrency = 1;
  opt.log = [](s4db::log_level, std::string_view) {};
  auto open = [&] {
    for (;;) {  // a fault may hit the open itself; the next try has none left
      try {
        return std::make_unique<db_type>(store, opt);
      } catch (const s4db::store_error&) {
      }
    }
  };
  auto db = open();
  std::map<std::string, std::string> model;
  std::map<std::string, std::set<std::string>> written;  // every value each key ever had
  reader in{data, size};
  // Runs a store-touching operation; a fault it hits leaves the data as it was.
  auto faultable = [&](auto&& operation) {
    try {
      operation();
    } catch (const s4db::store_error&) {
    }
    store.set_rule({});
  };
  // A snapshot and what the model held when it was taken: it must read that ever after.
  std::optional<db_type::snapshot_type> snapshot;
  std::map<std::string, std::string> at_snapshot;
  auto scanned = [](const auto& range) {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto&& [k, v] : range) out.emplace_back(k, v);
    return out;
  };
  auto expected = [](const std::map<std::string, std::string>& m, const s4db::scan_options& how) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [k, v] : m)
      if (k >= how.from && (!how.to || k < *how.to) && k.starts_with(how.prefix)) out.emplace_back(k, v);
    if (how.reverse) std::reverse(out.begin(), out.end());
    return out;
  };
  auto span = [&] {
    s4db::scan_options how{.from = in.byte() & 1 ? in.key() : std::string()};
    if (in.byte() & 1) how.to = in.key();
    if (in.byte() & 1) how.prefix = in.key().substr(0, 2);
    how.reverse = in.byte() & 1;
    return how;
  };
  while (in.more()) {
    switch (in.byte() % 16) {
      case 0:
      case 1: {
        auto k = in.key();
        auto v = in.value();
        db->put(k, v);
        model[k] = v;
        written[k].insert(v);
        break;
      }
      case 2: {
        std::map<std::string, std::string> batch;
        for (int n = in.byte() % 5; n > 0; --n) batch[in.key()] = in.value();
        db->put(batch);
        for (auto& [k, v] : batch) model[k] = v, written[k].insert(v);
        break;
      }
      case 3: {
        auto k = in.key();
        db->erase(k);
        model.erase(k);
        break;
      }
      case 4: {
        auto k = in.key();
        auto it = model.find(k);
        check(db->get(k) == (it == model.end() ? std::nullopt : std::optional<std::string>(it->second)));
        break;
      }
      case 5:
        db->flush();
        break;
      case 6:
        faultable([&] { db->upload(); });
        break;
      case 7:
        faultable([&] { db->compact(); });
        break;
      case 8:
        db->rebuild_index();
        break;
      case 9:
        snapshot.reset();  // a snapshot must not outlive its db
        db.reset();
        db = open();
        store.set_rule({});
        break;
      case 10: {  // the n-th store call from now fails
        const std::uint8_t b = in.byte();
        const std::size_t n = b % 8;
        const auto kind = b & 8 ? s4db_test::fault::after : s4db_test::fault::before;
        store.set_rule(
            [n, kind](const s4db_test::store_call& c) { return c.number == n ? kind : s4db_test::fault::none; });
        break;
      }
      case 11: {  // a fresh reader of what is published
        store.set_rule({});
        s4db::options fresh;
        fresh.log = opt.log;
        db_type published(store, fresh);
        for (auto&& [k, v] : published.items()) check(written[k].contains(v));
        break;
      }
      case 12: {
        auto how = span();
        if (how.to && *how.to < how.from) {
          bool refused = false;
          try {
            db->erase_range(how);
          } catch (const s4db::usage_error&) {
            refused = true;
          }
          check(refused);
          break;
        }
        const auto gone = expected(model, how);
        check(db->erase_range(how) == gone.size());
        for (const auto& [k, v] : gone) model.erase(k);
        break;
      }
      case 13: {
        const auto how = span();
        check(scanned(db->scan(how)) == expected(model, how));
        break;
      }
      case 14: {
        const std::string prefix = in.key().substr(0, 2);
        check(db->erase_prefix(prefix) == expected(model, {.prefix = prefix}).size());
        std::erase_if(model, [&](const auto& kv) { return kv.first.starts_with(prefix); });
        break;
      }
      case 15: {
        if (!snapshot || in.byte() % 4 == 0) {
          snapshot.emplace(db->snapshot());
          at_snapshot = model;
          break;
        }
        store.set_rule({});  // its reads are checked, not faulted
        const auto how = span();
        check(scanned(snapshot->scan(how)) == expected(at_snapshot, how));
        const auto k = in.key();
        const auto it = at_snapshot.find(k);
        check(snapshot->get(k) == (it == at_snapshot.end() ? std::nullopt : std::optional<std::string>(it->second)));
        check(snapshot->size() == at_snapshot.size());
        break;
      }
    }
    check(db->size() == model.size());
  }
  store.set_rule({});
  std::map<std::string, std::string> seen;
  for (auto&& [k, v] : db->items()) seen.emplace(k, v);
  check(seen == model);
  db.reset();
  std::filesystem::remove_all(local);
  return 0;
}
