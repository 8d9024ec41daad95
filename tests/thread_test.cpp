// One db, many threads: readers in parallel with a writer (also run under ThreadSanitizer).
#include <algorithm>
#include <thread>

#include "support.hpp"

using namespace s4db_test;

BOOST_AUTO_TEST_SUITE(threads)

using thread_combos = boost::mpl::list<combo<s4db::fs_store, s4db::snappy_codec, s4db::compact_index>,
                                       combo<s4db::memory_store, s4db::snappy_codec, s4db::flat_index>,
                                       combo<s4db::fs_store, s4db::identity_codec, s4db::ordered_index>>;

BOOST_AUTO_TEST_CASE_TEMPLATE(readers_see_whole_values_while_a_writer_puts, C, thread_combos) {
  env<C> e;
  auto o = e.opts();
  o.max_file_size = 4096;  // many rollovers while readers read
  auto db = e.open(o);
  for (int i = 0; i < 100; ++i) db->put("k" + std::to_string(i), "v0-" + std::to_string(i));
  std::atomic<bool> done{false};
  std::atomic<int> bad{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t)
    readers.emplace_back([&, t] {
      int i = t;
      while (!done) {
        const auto key = "k" + std::to_string(i++ % 100);
        auto v = db->get(key);
        // Every value is "v<round>-<i>" for this key's i, never torn or another key's.
        if (!v || !v->ends_with("-" + key.substr(1)) || v->front() != 'v') ++bad;
        if (i % 50 == 0) (void)db->keys();
        ++reads;
      }
    });
  for (int round = 1; round <= 30; ++round) {
    std::vector<std::pair<std::string, std::string>> batch;
    for (int i = 0; i < 100; ++i)
      batch.emplace_back("k" + std::to_string(i), "v" + std::to_string(round) + "-" + std::to_string(i));
    db->put(batch);
    if (round % 10 == 0) db->flush();
    if (round == 20) db->upload();
  }
  done = true;
  for (auto& r : readers) r.join();
  BOOST_TEST(bad == 0);
  BOOST_TEST(reads > 0);
  for (int i = 0; i < 100; ++i) BOOST_TEST(*db->get("k" + std::to_string(i)) == "v30-" + std::to_string(i));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(concurrent_writers_are_serialised, C, thread_combos) {
  env<C> e;
  auto db = e.open();
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t)
    writers.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) db->put("w" + std::to_string(t) + "-" + std::to_string(i), std::to_string(i));
    });
  for (auto& w : writers) w.join();
  BOOST_TEST(db->size() == 800u);
  db->rebuild_index();
  BOOST_TEST(db->size() == 800u);
  BOOST_TEST(*db->get("w3-199") == "199");
}

// Snapshots taken, read, scanned and dropped on reader threads while a writer puts,
// erases ranges, uploads, compacts and collects: a snapshot's every read agrees with its
// own first scan, and db.scan() yields whole values in order.
BOOST_AUTO_TEST_CASE_TEMPLATE(snapshots_and_scans_hold_while_a_writer_writes_compacts_and_collects, C, thread_combos) {
  env<C> e;
  auto o = e.opts();
  o.max_file_size = 4096;
  auto db = e.open(o);
  for (int i = 0; i < 100; ++i) db->put("k" + std::to_string(100 + i), "v0");
  std::atomic<bool> done{false};
  std::atomic<int> bad{0}, views{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t)
    readers.emplace_back([&] {
      while (!done) {
        const auto snap = db->snapshot();
        std::vector<std::pair<std::string, std::string>> first, again;
        for (auto&& [k, v] : snap.scan()) first.emplace_back(k, v);
        for (auto&& [k, v] : snap.scan({.reverse = true})) again.emplace_back(k, v);
        std::reverse(again.begin(), again.end());
        if (first != again || first.size() != snap.size()) ++bad;
        for (const auto& [k, v] : first)
          if (snap.get(k) != v) ++bad;
        std::string last;
        for (auto&& [k, v] : db->scan({.prefix = "k1"})) {
          if (k <= last || v.empty() || v[0] != 'v') ++bad;
          last = k;
        }
        ++views;
      }
    });
  for (int round = 1; round <= 20; ++round) {
    std::vector<std::pair<std::string, std::string>> batch;
    for (int i = 0; i < 100; ++i) batch.emplace_back("k" + std::to_string(100 + i), "v" + std::to_string(round));
    db->put(batch);
    db->erase_range("k150", "k160");
    if (round % 5 == 0) {
      db->upload();
      db->compact();
      db->gc(std::chrono::seconds(0));
    }
  }
  done = true;
  for (auto& r : readers) r.join();
  BOOST_TEST(bad == 0);
  BOOST_TEST(views > 0);
}

BOOST_AUTO_TEST_SUITE_END()
