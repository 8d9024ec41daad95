// Every behaviour of SPEC section 2, run over every store x codec x index combination.
#include <algorithm>
#include <map>
#include <set>

#include "support.hpp"

using namespace s4db_test;
namespace format = s4db::format;

BOOST_AUTO_TEST_SUITE(behaviour)

BOOST_AUTO_TEST_CASE_TEMPLATE(put_then_get_round_trips, C, all_combos) {
  env<C> e;
  auto db = e.open();
  db->put({{"k1", "v1"}, {"k2", "v2"}});
  db->put("k3", "v3");
  BOOST_TEST(*db->get("k1") == "v1");
  BOOST_TEST(*db->get("k2") == "v2");
  BOOST_TEST(*db->get("k3") == "v3");
  BOOST_TEST(db->size() == 3u);
  BOOST_TEST(db->contains("k2"));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(many_keys_round_trip, C, all_combos) {
  env<C> e;
  auto db = e.open();
  std::vector<std::pair<std::string, std::string>> batch;
  for (int i = 0; i < 1000; ++i)
    batch.emplace_back("key-" + std::to_string(i), std::string(i % 97, 'x') + std::to_string(i));
  db->put(batch);
  for (int i = 1000; i < 1200; ++i) db->put("key-" + std::to_string(i), "single-" + std::to_string(i));
  BOOST_TEST(db->size() == 1200u);
  for (int i = 0; i < 1000; ++i)
    BOOST_TEST(*db->get("key-" + std::to_string(i)) == batch[static_cast<std::size_t>(i)].second);
  for (int i = 1000; i < 1200; ++i) BOOST_TEST(*db->get("key-" + std::to_string(i)) == "single-" + std::to_string(i));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(missing_key_is_nullopt, C, all_combos) {
  env<C> e;
  auto db = e.open();
  BOOST_TEST(!db->get("nope"));
  db->put("k", "v");
  BOOST_TEST(!db->get("nope"));
  BOOST_TEST(!db->contains("nope"));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(overwrite_returns_latest_value, C, all_combos) {
  env<C> e;
  auto db = e.open();
  db->put("k", "old");
  db->put("k", "new");
  db->put({{"j", "1"}, {"j", "2"}});
  BOOST_TEST(*db->get("k") == "new");
  BOOST_TEST(*db->get("j") == "2");
  BOOST_TEST(db->size() == 2u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(empty_value_and_empty_key_round_trip, C, all_combos) {
  env<C> e;
  auto db = e.open();
  db->put("k", "");
  db->put("", "empty key");
  BOOST_TEST(db->get("k").has_value());
  BOOST_TEST(db->get("k")->empty());
  BOOST_TEST(*db->get("") == "empty key");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(value_of_100000_bytes_round_trips, C, all_combos) {
  env<C> e;
  auto db = e.open();
  std::string value(100000, '\0');
  std::mt19937 rng(7);
  for (auto& c : value) c = static_cast<char>(rng());
  db->put("big", value);
  BOOST_TEST(*db->get("big") == value);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(binary_keys_and_values_are_stored_as_given, C, all_combos) {
  env<C> e;
  auto db = e.open();
  const std::string key("a\0b\xff", 4), value("\0\0\x01\xfe", 4);
  db->put(key, value);
  BOOST_TEST(*db->get(key) == value);
  BOOST_TEST(!db->get(std::string_view("a", 1)));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(erase_existing_key, C, all_combos) {
  env<C> e;
  auto db = e.open();
  db->put("k", "v");
  db->erase("k");
  BOOST_TEST(!db->get("k"));
  BOOST_TEST(!db->contains("k"));
  BOOST_TEST(db->size() == 0u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(erase_absent_key_writes_nothing, C, all_combos) {
  env<C> e;
  auto db = e.open();
  db->erase("ghost");
  BOOST_TEST(e.local_files().empty());
  BOOST_TEST(!fs::exists(e.local()));
  db->put("k", "v");
  const auto size = fs::file_size(e.local() / "data_000001.s4db");
  db->erase({"ghost", "phantom"});
  BOOST_TEST(fs::file_size(e.local() / "data_000001.s4db") == size);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(erase_several_keys, C, all_combos) {
  env<C> e;
  auto db = e.open();
  db->put({{"a", "1"}, {"b", "2"}, {"c", "3"}});
  db->erase({"a", "c", "absent", "a"});
  BOOST_TEST(db->size() == 1u);
  BOOST_TEST(*db->get("b") == "2");
  std::vector<std::string> rest{"b"};
  db->erase(rest);
  BOOST_TEST(db->size() == 0u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(delete_then_put_again, C, all_combos) {
  env<C> e;
  auto db = e.open();
  db->put("k", "one");
  db->erase("k");
  db->put("k", "two");
  BOOST_TEST(*db->get("k") == "two");
  db->rebuild_index();
  BOOST_TEST(*db->get("k") == "two");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(put_rolls_to_new_file_when_full, C, all_combos) {
  env<C> e;
  auto o = e.opts();
  o.max_file_size = 29;
  auto db = e.open(o);
  for (int i = 0; i < 5; ++i) db->put("k" + std::to_string(i), "v" + std::to_string(i));
  const auto files = e.local_files();
  BOOST_TEST(files.size() == 5u);
  for (const auto& f : files) {
    const auto size = fs::file_size(e.local() / f);
    BOOST_TEST(size > format::file_header_size);  // never a header-only file
    BOOST_TEST(size <= 29u);
  }
  for (int i = 0; i < 5; ++i) BOOST_TEST(*db->get("k" + std::to_string(i)) == "v" + std::to_string(i));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(oversized_entry_gets_a_file_of_its_own, C, all_combos) {
  env<C> e;
  auto o = e.opts();
  o.max_file_size = 100;
  auto db = e.open(o);
  std::string big(1000, 'z');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + (i * 7919) % 26);
  db->put({{"a", "1"}, {"big", big}, {"b", "2"}});
  BOOST_TEST(e.local_files().size() == 3u);
  BOOST_TEST(*db->get("big") == big);
  BOOST_TEST(*db->get("b") == "2");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(appends_resume_in_the_newest_file_after_reopen, C, all_combos) {
  env<C> e;
  e.open()->put("a", "1");
  auto db = e.open();
  db->put("b", "2");
  BOOST_TEST(e.local_files() == std::vector<std::string>{"data_000001.s4db"});
  BOOST_TEST(*db->get("a") == "1");
  BOOST_TEST(*db->get("b") == "2");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(next_file_number_increments_then_appends, C, all_combos) {
  env<C> e;
  {
    auto db = e.open();
    db->put("a", "1");
    db->upload();
  }
  // A second db with its own (empty) local dir cannot append to file 1, which it lacks.
  auto other = e.open("other");
  other->put("b", "2");
  other->put("c", "3");
  BOOST_TEST(e.local_files("other") == std::vector<std::string>{"data_000002.s4db"});
  BOOST_TEST(*other->get("a") == "1");
  BOOST_TEST(*other->get("c") == "3");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(key_over_65535_bytes_is_a_usage_error_and_writes_nothing, C, all_combos) {
  env<C> e;
  auto db = e.open();
  const std::string too_long(65536, 'k'), longest(65535, 'k');
  BOOST_CHECK_THROW(db->put(too_long, "v"), s4db::usage_error);
  BOOST_CHECK_THROW(db->put({{"fine", "v"}, {too_long, "v"}}), s4db::usage_error);
  BOOST_TEST(!fs::exists(e.local()));
  BOOST_TEST(!db->contains("fine"));
  db->put(longest, "v");
  BOOST_TEST(*db->get(longest) == "v");
  BOOST_CHECK_THROW(db->erase(too_long), s4db::usage_error);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(empty_batch_writes_nothing, C, all_combos) {
  env<C> e;
  auto db = e.open();
  db->put(std::vector<std::pair<std::string, std::string>>{});
  db->erase(std::vector<std::string>{});
  BOOST_TEST(!fs::exists(e.local()));
  BOOST_TEST(db->size() == 0u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(corrupt_value_is_a_corruption_error, C, all_combos) {
  env<C> e;
  auto db = e.open();
  db->put("k", std::string(200, 'v'));
  const auto path = e.local() / "data_000001.s4db";
  std::string bytes = read_bytes(path);
  bytes[bytes.size() - 6] ^= 0x40;  // inside the stored value, before the CRC
  write_bytes(path, bytes);
  BOOST_CHECK_THROW(db->get("k"), s4db::corruption_error);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(corrupt_value_read_through_the_store_is_a_corruption_error, C, all_combos) {
  env<C> e;
  {
    auto db = e.open();
    db->put("k", "value");
    db->upload();
  }
  auto bytes = e.store.get(e.prefix + "data_000001.s4db")->data;
  bytes[bytes.size() - 5] ^= 0x01;
  e.store.put(e.prefix + "data_000001.s4db", bytes, {});
  s4db::options o;
  o.prefix = e.prefix;
  typename C::db_type reader(e.store, o);
  BOOST_CHECK_THROW(reader.get("k"), s4db::corruption_error);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(keys_and_items_list_every_live_key_once, C, all_combos) {
  env<C> e;
  auto db = e.open();
  db->put({{"b", "2"}, {"a", "1"}, {"c", "3"}});
  db->put("b", "22");
  db->erase("c");
  auto keys = db->keys();
  if constexpr (std::is_same_v<typename C::index_type, s4db::ordered_index>) {
    BOOST_TEST(keys == (std::vector<std::string>{"a", "b"}));
  }
  std::sort(keys.begin(), keys.end());
  BOOST_TEST(keys == (std::vector<std::string>{"a", "b"}));
  std::map<std::string, std::string> seen;
  for (auto&& [key, value] : db->items()) BOOST_TEST(seen.emplace(key, value).second);
  BOOST_TEST((seen == std::map<std::string, std::string>{{"a", "1"}, {"b", "22"}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(upload_then_a_fresh_db_loads_the_index, C, all_combos) {
  env<C> e;
  {
    auto db = e.open();
    db->put({{"a", "1"}, {"b", "2"}});
    db->upload();
  }
  BOOST_TEST(e.store_files() == std::vector<std::string>{"data_000001.s4db"});
  BOOST_TEST(e.store.head(e.prefix + "index.idx").has_value());
  auto fresh = e.open("fresh");
  BOOST_TEST(fresh->size() == 2u);
  BOOST_TEST(*fresh->get("b") == "2");
  BOOST_TEST(!fs::exists(e.local("fresh")));  // reading never creates local_dir
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_db_without_local_files_reads_through_the_store, C, all_combos) {
  env<C> e;
  {
    auto db = e.open();
    db->put({{"a", "1"}, {"b", std::string(5000, 'b')}});
    db->upload();
  }
  counting_store<typename C::store_type> counted(e.store);
  s4db::options o;
  o.prefix = e.prefix;
  s4db::basic_db<counting_store<typename C::store_type>, typename C::codec_type, typename C::index_type> reader(counted,
                                                                                                                o);
  const int before = counted.calls().ranges;
  BOOST_TEST(*reader.get("b") == std::string(5000, 'b'));
  BOOST_TEST(counted.calls().ranges == before + 1);  // exactly one ranged read per get
  BOOST_TEST(counted.calls().heads == 0);
  BOOST_TEST(*reader.get("a") == "1");
  BOOST_TEST(!reader.get("zz"));
  BOOST_TEST(counted.calls().ranges == before + 2);
  BOOST_TEST(!reader.local_directory());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(items_local_fetches_only_referenced_missing_files_and_keeps_local_ones, C, all_combos) {
  env<C> e;
  {
    auto o = e.opts();
    o.max_file_size = 30;
    auto db = e.open(o);
    db->put("a", "1");          // file 1
    db->put("b", "2");          // file 2
    db->put("c", "3");          // file 3
    db->put("a", "overwrite");  // file 4: file 1 is no longer referenced
    db->upload();
  }
  BOOST_TEST(e.store_files().size() == 4u);
  auto o = e.opts("reader");
  fs::create_directories(e.local("reader"));
  // A local copy of file 2 that differs from the store's (one extra byte): kept, never replaced.
  write_bytes(e.local("reader") / "data_000002.s4db", read_bytes(e.local() / "data_000002.s4db") + "!");
  auto reader = e.open(o);
  std::map<std::string, std::string> seen;
  for (auto&& [key, value] : reader->items({.local = true})) seen.emplace(key, value);
  BOOST_TEST((seen == std::map<std::string, std::string>{{"a", "overwrite"}, {"b", "2"}, {"c", "3"}}));
  BOOST_TEST(e.local_files("reader") ==
             (std::vector<std::string>{"data_000002.s4db", "data_000003.s4db", "data_000004.s4db"}));
  BOOST_TEST(read_bytes(e.local("reader") / "data_000002.s4db").back() == '!');
}

BOOST_AUTO_TEST_CASE_TEMPLATE(compaction_keeps_latest_values_and_removes_old_files, C, all_combos) {
  env<C> e;
  auto o = e.opts();
  o.max_file_size = 60;
  auto db = e.open(o);
  for (int round = 0; round < 3; ++round)
    for (int i = 0; i < 5; ++i) db->put("k" + std::to_string(i), "round" + std::to_string(round));
  db->erase("k4");
  db->upload();
  const auto before_local = e.local_files();
  const auto before_store = e.store_files();
  db->compact();
  for (const auto& f : before_local) BOOST_TEST(!fs::exists(e.local() / f));
  for (const auto& f : e.store_files()) BOOST_TEST(std::count(before_store.begin(), before_store.end(), f) == 0);
  BOOST_TEST(e.store_files() == e.local_files());
  BOOST_TEST(db->size() == 4u);
  for (int i = 0; i < 4; ++i) BOOST_TEST(*db->get("k" + std::to_string(i)) == "round2");
  BOOST_TEST(!db->get("k4"));
  auto fresh = e.open("fresh");  // what compaction published is whole
  for (int i = 0; i < 4; ++i) BOOST_TEST(*fresh->get("k" + std::to_string(i)) == "round2");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(compaction_drops_tombstones_so_nothing_is_left, C, all_combos) {
  env<C> e;
  auto db = e.open();
  db->put({{"a", "1"}, {"b", "2"}});
  db->erase({"a", "b"});
  db->upload();
  db->compact();
  BOOST_TEST(e.local_files().empty());
  BOOST_TEST(e.store_files().empty());
  BOOST_TEST(db->size() == 0u);
  db->put("c", "3");  // numbering continues, nothing is reused
  BOOST_TEST(e.local_files() == std::vector<std::string>{"data_000002.s4db"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(compaction_keeps_20_keys_within_the_size_limit, C, all_combos) {
  env<C> e;
  auto o = e.opts();
  o.max_file_size = 200;
  auto db = e.open(o);
  for (int round = 0; round < 5; ++round)
    for (int i = 0; i < 20; ++i) db->put("key" + std::to_string(i), "value" + std::to_string(round * 100 + i));
  db->compact();
  BOOST_TEST(db->size() == 20u);
  for (int i = 0; i < 20; ++i) BOOST_TEST(*db->get("key" + std::to_string(i)) == "value" + std::to_string(400 + i));
  for (const auto& f : e.local_files()) BOOST_TEST(fs::file_size(e.local() / f) <= 200u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(compaction_of_an_empty_db_creates_nothing, C, all_combos) {
  env<C> e;
  auto db = e.open();
  db->compact();
  BOOST_TEST(e.local_files().empty());
  BOOST_TEST(e.store_files().empty());
  BOOST_TEST(db->size() == 0u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(compaction_fetches_files_that_are_not_local, C, all_combos) {
  env<C> e;
  {
    auto o = e.opts();
    o.max_file_size = 30;
    auto db = e.open(o);
    for (int i = 0; i < 6; ++i) db->put("k" + std::to_string(i), "v" + std::to_string(i));
    db->put("k0", "latest");
    db->upload();
  }
  auto db = e.open("other");  // no local files at all
  db->put("k5", "newer");
  db->compact();
  BOOST_TEST(db->size() == 6u);
  BOOST_TEST(*db->get("k0") == "latest");
  BOOST_TEST(*db->get("k5") == "newer");
  for (int i = 1; i < 5; ++i) BOOST_TEST(*db->get("k" + std::to_string(i)) == "v" + std::to_string(i));
  auto fresh = e.open("fresh");
  BOOST_TEST(fresh->size() == 6u);
  BOOST_TEST(*fresh->get("k3") == "v3");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(compaction_refuses_when_a_referenced_file_is_gone, C, all_combos) {
  env<C> e;
  {
    auto o = e.opts();
    o.max_file_size = 30;
    auto db = e.open(o);
    db->put("a", "1");
    db->put("b", "2");
    db->upload();
  }
  const std::vector<std::string> gone{e.prefix + "data_000001.s4db"};
  e.store.remove(gone);
  auto db = e.open("other");
  const auto index_before = e.store.get(e.prefix + "index.idx")->data;
  try {
    db->compact();
    BOOST_FAIL("compact() should refuse");
  } catch (const s4db::usage_error& error) {
    BOOST_TEST(std::string(error.what()).find("data_000001.s4db") != std::string::npos);
  }
  BOOST_TEST(db->size() == 2u);
  BOOST_TEST(*db->get("b") == "2");
  BOOST_TEST(e.store.get(e.prefix + "index.idx")->data == index_before);
  BOOST_TEST(e.store_files() == std::vector<std::string>{"data_000002.s4db"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(compaction_deletes_old_objects_only_after_the_new_index_is_published, C, all_combos) {
  env<C> e;
  counting_store<typename C::store_type> counted(e.store);
  auto o = e.opts();
  o.max_file_size = 30;
  s4db::basic_db<counting_store<typename C::store_type>, typename C::codec_type, typename C::index_type> db(counted, o);
  db.put("a", "1");
  db.put("b", "2");
  db.put("a", "3");
  db.upload();
  counted.calls().writes.clear();
  db.compact();
  const auto& writes = counted.calls().writes;
  const auto index_put = std::find(writes.begin(), writes.end(), "put " + e.prefix + "index.idx");
  BOOST_REQUIRE(index_put != writes.end());
  for (auto it = writes.begin(); it != index_put; ++it) BOOST_TEST(it->starts_with("put " + e.prefix + "data_"));
  std::vector<std::string> removed(index_put + 1, writes.end());
  BOOST_TEST(removed == (std::vector<std::string>{"remove " + e.prefix + "data_000001.s4db",
                                                  "remove " + e.prefix + "data_000002.s4db",
                                                  "remove " + e.prefix + "data_000003.s4db"}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(rebuild_index_equals_the_original, C, all_combos) {
  env<C> e;
  auto o = e.opts();
  o.max_file_size = 100;
  auto db = e.open(o);
  for (int i = 0; i < 30; ++i) db->put("k" + std::to_string(i % 12), "v" + std::to_string(i));
  db->erase({"k3", "k7"});
  std::map<std::string, std::string> before;
  for (auto&& [k, v] : db->items()) before.emplace(k, v);
  db->flush();
  const auto index_before = read_bytes(e.local() / "index.idx");
  const auto files = e.local_files();
  db->rebuild_index();
  std::map<std::string, std::string> after;
  for (auto&& [k, v] : db->items()) after.emplace(k, v);
  BOOST_TEST((before == after));
  if constexpr (std::is_same_v<typename C::index_type, s4db::ordered_index>) {
    BOOST_TEST(read_bytes(e.local() / "index.idx") == index_before);  // same order: same bytes
  }
  db->put("new", "x");  // next file: last + 1 only when the newest is full; else append to it
  const auto expected_next = format::parse_data_file_name(files.back()).value();
  BOOST_TEST(format::parse_data_file_name(e.local_files().back()).value() >= expected_next);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(rebuild_sets_the_next_file_number, C, all_combos) {
  env<C> e;
  auto db = e.open();
  db->rebuild_index();
  BOOST_TEST(format::decode_index(read_bytes(e.local() / "index.idx"), "idx", [](auto, auto) {}).next_file == 1u);
  auto o = e.opts("two");
  o.max_file_size = 30;
  auto two = e.open(o);
  two->put("a", "1");
  two->put("b", "2");
  two->rebuild_index();
  BOOST_TEST(format::decode_index(read_bytes(e.local("two") / "index.idx"), "idx", [](auto, auto) {}).next_file == 3u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(torn_last_entry_is_dropped_not_indexed, C, all_combos) {
  env<C> e;
  std::vector<std::string> logged;
  auto o = e.opts();
  o.log = [&](s4db::log_level, std::string_view line) { logged.emplace_back(line); };
  auto db = e.open(o);
  db->put("a", "1");
  db->put("b", "2");
  const auto path = e.local() / "data_000001.s4db";
  const auto full = read_bytes(path);
  write_bytes(path, full.substr(0, full.size() - 3));  // the last entry lost its tail
  db->rebuild_index();
  BOOST_TEST(*db->get("a") == "1");
  BOOST_TEST(!db->contains("b"));
  BOOST_TEST(std::count_if(logged.begin(), logged.end(), [](auto& l) { return l.find("torn") != std::string::npos; }) ==
             1);
  db->put("c", "3");  // appends go after the last whole entry
  db->rebuild_index();
  BOOST_TEST(*db->get("c") == "3");
  BOOST_TEST(db->size() == 2u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(corruption_before_the_last_entry_is_an_error, C, all_combos) {
  env<C> e;
  auto db = e.open();
  db->put("a", "1");
  db->put("b", "2");
  const auto path = e.local() / "data_000001.s4db";
  auto bytes = read_bytes(path);
  bytes[format::file_header_size + 10] ^= 0x20;  // the first entry's key
  write_bytes(path, bytes);
  BOOST_CHECK_THROW(db->rebuild_index(), s4db::corruption_error);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(file_numbers_past_999999, C, all_combos) {
  env<C> e;
  e.store.put(e.prefix + "index.idx",
              format::encode_index(999999, 0, std::vector<std::pair<std::string, s4db::location>>{}), {});
  auto o = e.opts();
  o.max_file_size = 30;
  auto db = e.open(o);
  for (int i = 0; i < 3; ++i) db->put("k" + std::to_string(i), "v" + std::to_string(i));
  BOOST_TEST(e.local_files() ==
             (std::vector<std::string>{"data_1000000.s4db", "data_1000001.s4db", "data_999999.s4db"}));
  db->put("k0", "again");
  db->rebuild_index();  // replays in number order, not name order
  BOOST_TEST(*db->get("k0") == "again");
  db->upload();
  auto fresh = e.open("fresh");
  BOOST_TEST(*fresh->get("k2") == "v2");
  fresh->download();
  BOOST_TEST(e.local_files("fresh").size() == 4u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(upload_skips_files_the_store_already_has, C, all_combos) {
  env<C> e;
  counting_store<typename C::store_type> counted(e.store);
  auto o = e.opts();
  o.max_file_size = 30;
  s4db::basic_db<counting_store<typename C::store_type>, typename C::codec_type, typename C::index_type> db(counted, o);
  db.put("a", "1");
  db.put("b", "2");
  db.upload();
  BOOST_TEST(counted.calls().put_files == 2);
  db.upload();
  BOOST_TEST(counted.calls().put_files == 2);  // sealed and unchanged: nothing re-sent
  db.put("c", "3");                            // a new file
  db.upload();
  BOOST_TEST(counted.calls().put_files == 3);
  BOOST_TEST(counted.calls().puts == 3);  // the index, each time
}

BOOST_AUTO_TEST_CASE_TEMPLATE(upload_resends_the_newest_file_when_it_grew, C, all_combos) {
  env<C> e;
  auto db = e.open();
  db->put("a", "1");
  db->upload();
  const auto before = e.store.head(e.prefix + "data_000001.s4db")->size;
  db->put("b", "2");
  db->upload();
  BOOST_TEST(e.store.head(e.prefix + "data_000001.s4db")->size > before);
  BOOST_TEST(*e.open("fresh")->get("b") == "2");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(download_mirrors_the_store_and_removes_files_it_no_longer_has, C, all_combos) {
  env<C> e;
  auto o = e.opts();
  o.max_file_size = 30;
  {
    auto writer = e.open(o);
    writer->put("a", "1");
    writer->put("b", "2");
    writer->put("a", "3");
    writer->upload();
  }
  auto o2 = e.opts("mirror");
  auto mirror = e.open(o2);
  mirror->download();
  BOOST_TEST(e.local_files("mirror").size() == 3u);
  BOOST_TEST(read_bytes(e.local("mirror") / "index.idx") == e.store.get(e.prefix + "index.idx")->data);
  {
    auto writer = e.open(o);
    writer->compact();
  }
  mirror->download();
  BOOST_TEST(e.local_files("mirror") == e.store_files());
  BOOST_TEST(*mirror->get("a") == "3");
  BOOST_TEST(*mirror->get("b") == "2");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_closed_db_refuses_calls, C, all_combos) {
  env<C> e;
  auto db = e.open();
  db->put("a", "1");
  db->close();
  BOOST_CHECK_THROW(db->get("a"), s4db::usage_error);
  BOOST_CHECK_THROW(db->put("b", "2"), s4db::usage_error);
  db->close();  // twice is fine
}

BOOST_AUTO_TEST_CASE_TEMPLATE(put_does_not_rewrite_the_index_flush_does, C, all_combos) {
  env<C> e;
  auto db = e.open();
  db->put("a", "1");
  db->flush();
  const auto saved = read_bytes(e.local() / "index.idx");
  for (int i = 0; i < 100; ++i) db->put("k" + std::to_string(i), "v");
  BOOST_TEST(read_bytes(e.local() / "index.idx") == saved);
  db->flush();
  BOOST_TEST(read_bytes(e.local() / "index.idx") != saved);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(open_replays_entries_written_after_the_last_save, C, all_combos) {
  env<C> e;
  auto db = e.open();
  db->put("a", "1");
  db->flush();
  db->put("b", "2");
  db->erase("a");
  db->put("c", "3");
  // What a crash would leave: the data files as written, the index as last saved.
  fs::copy(e.local(), e.local("crashed"));
  auto recovered = e.open("crashed");
  BOOST_TEST(!recovered->contains("a"));
  BOOST_TEST(*recovered->get("b") == "2");
  BOOST_TEST(*recovered->get("c") == "3");
  BOOST_TEST(recovered->size() == 2u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(index_is_saved_when_enough_was_appended, C, all_combos) {
  env<C> e;
  auto o = e.opts();
  o.index_save_interval = 1000;
  auto db = e.open(o);
  for (int i = 0; i < 200; ++i) db->put("k" + std::to_string(i), "value");
  BOOST_REQUIRE(fs::exists(e.local() / "index.idx"));
  std::size_t saved = 0;
  format::decode_index(read_bytes(e.local() / "index.idx"), "idx", [&](auto, auto) { ++saved; });
  BOOST_TEST(saved > 150u);
}

BOOST_AUTO_TEST_SUITE_END()
