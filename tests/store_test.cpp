// The Store contract, run over each shipped store; then what only fs_store promises.
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "support.hpp"

using namespace s4db_test;

namespace {

using stores = boost::mpl::list<s4db::fs_store, s4db::memory_store>;

}  // namespace

BOOST_AUTO_TEST_SUITE(stores_contract)

BOOST_AUTO_TEST_CASE_TEMPLATE(put_get_head_range_and_remove, S, stores) {
  temp_dir tmp;
  S store = make_store<S>(tmp.path);
  BOOST_TEST(!store.get("p/a"));
  BOOST_TEST(!store.head("p/a"));
  const auto etag = store.put("p/a", "hello world", {});
  const auto got = store.get("p/a");
  BOOST_REQUIRE(got);
  BOOST_TEST(got->data == "hello world");
  BOOST_TEST(got->etag == etag);
  BOOST_TEST(store.head("p/a")->size == 11u);
  BOOST_TEST(store.get_range("p/a", 6, 5) == "world");
  BOOST_TEST(store.get_range("p/a", 6, 50) == "world");
  BOOST_CHECK_THROW(store.get_range("p/missing", 0, 1), s4db::store_error);
  const auto etag2 = store.put("p/a", "changed", {});
  BOOST_TEST(etag2 != etag);
  const std::vector<std::string> doomed{"p/a", "p/never-was"};
  store.remove(doomed);
  BOOST_TEST(!store.get("p/a"));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(files_stream_both_ways, S, stores) {
  temp_dir tmp;
  S store = make_store<S>(tmp.path);
  write_bytes(tmp.path / "source", std::string(100000, 'q'));
  store.put_file("obj", tmp.path / "source", {});
  BOOST_TEST(store.get_file("obj", tmp.path / "copy"));
  BOOST_TEST(read_bytes(tmp.path / "copy") == std::string(100000, 'q'));
  BOOST_TEST(!store.get_file("none", tmp.path / "nothing"));
  BOOST_TEST(!fs::exists(tmp.path / "nothing"));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(list_returns_every_object_under_the_prefix_sorted, S, stores) {
  temp_dir tmp;
  S store = make_store<S>(tmp.path);
  for (const char* k : {"db/b", "db/a", "db/sub/c", "dbx/d", "other/e", "db2"}) store.put(k, k, {});
  std::vector<std::string> keys;
  for (const auto& o : store.list("db/")) keys.push_back(o.key);
  BOOST_TEST(keys == (std::vector<std::string>{"db/a", "db/b", "db/sub/c"}));
  keys.clear();
  for (const auto& o : store.list("db")) keys.push_back(o.key);
  BOOST_TEST(keys == (std::vector<std::string>{"db/a", "db/b", "db/sub/c", "db2", "dbx/d"}));
  BOOST_TEST(store.list("nothing/").empty());
  BOOST_TEST(store.list("").size() == 6u);
  // A prefix that ends inside a directory's name, or names a whole key.
  for (const char* prefix : {"db/s", "db/sub", "db/sub/", "db/sub/c"})
    BOOST_TEST(store.list(prefix).size() == 1u, prefix);
  BOOST_TEST(store.list("o").size() == 1u);
  BOOST_TEST(store.list("db/sub/cc").empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(conditional_puts_lose_with_conflict_error, S, stores) {
  temp_dir tmp;
  S store = make_store<S>(tmp.path);
  const auto first = store.put("k", "1", s4db::put_condition::when_absent());
  BOOST_CHECK_THROW(store.put("k", "2", s4db::put_condition::when_absent()), s4db::conflict_error);
  const auto second = store.put("k", "3", s4db::put_condition::when_matching(first));
  BOOST_CHECK_THROW(store.put("k", "4", s4db::put_condition::when_matching(first)), s4db::conflict_error);
  BOOST_CHECK_THROW(store.put("absent", "5", s4db::put_condition::when_matching(first)), s4db::conflict_error);
  BOOST_TEST(store.get("k")->data == "3");
  BOOST_TEST(store.get("k")->etag == second);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(concurrent_if_absent_puts_have_one_winner, S, stores) {
  temp_dir tmp;
  S store = make_store<S>(tmp.path);
  std::atomic<int> wins{0}, conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      try {
        store.put("lock", std::to_string(t), s4db::put_condition::when_absent());
        ++wins;
      } catch (const s4db::conflict_error&) {
        ++conflicts;
      }
    });
  for (auto& th : threads) th.join();
  BOOST_TEST(wins == 1);
  BOOST_TEST(conflicts == 7);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(fs_store_only)

BOOST_AUTO_TEST_CASE(keys_that_leave_the_root_are_usage_errors) {
  temp_dir tmp;
  s4db::fs_store store{tmp.path / "bucket"};
  for (const char* bad : {"../escape", "a/../../escape", "/etc/passwd", "a/./b", "a//b", ""})
    BOOST_CHECK_THROW(store.put(bad, "x", {}), s4db::usage_error);
  BOOST_CHECK_THROW(store.get(".."), s4db::usage_error);
  BOOST_CHECK_THROW(store.list("../"), s4db::usage_error);
  BOOST_TEST(!fs::exists(tmp.path / "escape"));
}

BOOST_AUTO_TEST_CASE(a_prefix_that_leaves_the_root_is_refused_on_open) {
  temp_dir tmp;
  s4db::options o;
  o.prefix = "../outside/";
  o.local_dir = tmp.path / "local";
  BOOST_CHECK_THROW((s4db::basic_db<s4db::fs_store>{s4db::fs_store{tmp.path / "bucket"}, o}), s4db::usage_error);
  BOOST_TEST(!fs::exists(tmp.path / "outside"));
}

BOOST_AUTO_TEST_CASE(objects_are_files_under_the_root_and_writes_leave_no_staging_files) {
  temp_dir tmp;
  s4db::fs_store store{tmp.path / "bucket"};
  store.put("my-db/index.idx", "abc", {});
  BOOST_TEST(read_bytes(tmp.path / "bucket/my-db/index.idx") == "abc");
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(tmp.path / "bucket")) files += e.is_regular_file();
  BOOST_TEST(files == 1u);
}

BOOST_AUTO_TEST_CASE(memory_store_copies_share_one_bucket) {
  s4db::memory_store a;
  s4db::memory_store b = a;
  a.put("k", "v", {});
  BOOST_TEST(b.get("k")->data == "v");
}

BOOST_AUTO_TEST_SUITE_END()

// Issue 18, item 4: a conditional put returns the ETag of the bytes it wrote, decided under
// its lock, never one read back after another writer replaced (or removed) the object.
// Four threads chain If-Match puts on one key: every success returns an ETag no other
// success returned, and the object ends as one of them.
BOOST_AUTO_TEST_CASE(fs_store_conditional_puts_return_their_own_etag_under_contention) {
  temp_dir root;
  s4db::fs_store store(root.path);
  const std::string first = store.put("k", "0", s4db::put_condition::when_absent());
  std::mutex m;
  std::vector<std::string> won{first};
  std::atomic<int> strange{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t)
    pool.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        const auto now = store.head("k");
        if (!now) continue;
        try {
          const std::string etag = store.put("k", std::to_string(t) + "-" + std::to_string(i),
                                             s4db::put_condition::when_matching(now->etag));
          std::lock_guard lock(m);
          won.push_back(etag);
        } catch (const s4db::conflict_error&) {
        } catch (...) {
          ++strange;
        }
      }
    });
  for (auto& th : pool) th.join();
  BOOST_TEST(strange.load() == 0);
  std::set<std::string> distinct(won.begin(), won.end());
  BOOST_TEST(distinct.size() == won.size());
  BOOST_TEST(distinct.contains(store.head("k")->etag));
}
