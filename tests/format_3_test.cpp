// What format 3 adds to a database's life (docs/format.md, "Format 3"):
//   - segment merging (engine/segment_merger.hpp): the size-tiered policy, merges by a
//     writer, by a process that is not one (s4db::merge_segments) and in the background,
//     what a merge keeps (tombstones above an older segment) and drops (tombstones of a
//     merge from the oldest), and that a follower follows a merge reading only what it lacks;
//   - checkpoints (engine/checkpoints.hpp): pinned, read-only, kept by gc until dropped;
//   - conversion between formats 2 and 3 (engine/converter.hpp), fenced against writers
//     of both, finished by a second run when interrupted.
// Races of merges and checkpoints with commits, compactions and gc are the race
// simulation's; the Python reader reading a 2 -> 3 -> 2 conversion is compat_test's.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "faulty_store.hpp"
#include "support.hpp"

using namespace s4db_test;

namespace {

s4db::options format_3(const std::string& prefix, const std::filesystem::path& dir = {}) {
  s4db::options o;
  o.prefix = prefix;
  o.format_version = 3;
  if (!dir.empty()) o.local_dir = dir;
  o.log = [](s4db::log_level, std::string_view) {};
  return o;
}

s4db::format::manifest manifest_of(s4db::memory_store& store, const std::string& prefix) {
  return s4db::format::decode_manifest(store.get(prefix + "manifest.s4m")->data, "manifest");
}

// Makes `meanwhile` run once, right before the first PUT of `key` through `store`; the
// returned flag says whether it ran.
template <class Meanwhile>
std::shared_ptr<bool> before_the_first_put_of(faulty_store<s4db::memory_store>& store, std::string key,
                                              Meanwhile meanwhile) {
  auto ran = std::make_shared<bool>(false);
  store.set_rule([=](const store_call& c) mutable {
    if (!*ran && c.op == "put" && c.key == key) {
      *ran = true;
      meanwhile();
    }
    return fault::none;
  });
  return ran;
}

s4db::format::manifest::segment of_entries(std::uint64_t n) {
  s4db::format::manifest::segment s;
  s.entries = n;
  return s;
}

// What a fresh reader of the prefix sees.
std::map<std::string, std::string> published(s4db::memory_store& store, const std::string& prefix) {
  s4db::basic_db<s4db::memory_store> reader(store, format_3(prefix));
  std::map<std::string, std::string> out;
  for (auto&& [k, v] : reader.items()) out[k] = v;
  return out;
}

// log4: the bound the policy promises once merged.
std::size_t bound_for(std::size_t keys) {
  std::size_t b = 1;
  for (std::size_t n = 4; n <= keys; n *= 4) ++b;
  return b + 1;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(segment_merging)

BOOST_AUTO_TEST_CASE(the_policy_merges_the_newest_run_that_breaks_the_ratio) {
  using s4db::engine::run_to_merge;
  auto run = [](std::vector<std::uint64_t> sizes) {
    std::vector<s4db::format::manifest::segment> s;
    for (auto n : sizes) s.push_back(of_entries(n));
    return run_to_merge(s);
  };
  BOOST_TEST(!run({}).has_value());
  BOOST_TEST(!run({100}).has_value());
  BOOST_TEST(!run({100, 20, 4}).has_value());  // each holds more than 4 times what is above it
  BOOST_TEST(*run({200, 40, 4, 1}) == 2u);     // 4 is not more than 4 x 1
  BOOST_TEST(*run({100, 20, 4, 1}) == 0u);     // nor is 100 more than 4 x 25
  BOOST_TEST(*run({100, 1, 1}) == 1u);
  BOOST_TEST(*run({10, 1, 1, 1}) == 0u);  // 10 is not more than 4 x 3: everything
  BOOST_TEST(*run({1000, 30, 5, 3, 2, 1}) == 1u);
}

BOOST_AUTO_TEST_CASE(a_writer_merges_hundreds_of_commits_into_a_few_segments_and_every_value_stays) {
  temp_dir tmp;
  s4db::memory_store store;
  s4db::basic_db<s4db::memory_store> db(store, format_3("m/", tmp.path / "w"));
  std::map<std::string, std::string> model;
  for (int i = 0; i < 300; ++i) {
    const std::string key = "k" + std::to_string(i % 97);
    if (i % 11 == 5) {
      db.erase(key);
      model.erase(key);
    } else {
      db.put(key, "v" + std::to_string(i));
      model[key] = "v" + std::to_string(i);
    }
    db.upload();
  }
  const std::size_t before = manifest_of(store, "m/").segments.size();
  BOOST_TEST(before > 250u);  // one per commit that changed something
  const auto report = db.merge_segments();
  const auto after = manifest_of(store, "m/");
  BOOST_TEST(report.merges >= 1u);
  BOOST_TEST(report.segments_before == before);
  BOOST_TEST(report.segments_after == after.segments.size());
  BOOST_TEST(after.segments.size() <= bound_for(97));
  BOOST_TEST(!s4db::engine::run_to_merge(after.segments).has_value());
  BOOST_TEST(after.retired_segments.size() >= report.segments_merged);
  BOOST_TEST(published(store, "m/") == model);
  // The writer followed its own merge without reading it back, and goes on committing.
  db.put("after", "merge");
  db.upload();
  model["after"] = "merge";
  BOOST_TEST(published(store, "m/") == model);
  BOOST_TEST(db.merge_segments().merges == 0u);  // nothing to do: one LIST-free read of the manifest
}

BOOST_AUTO_TEST_CASE(a_merge_above_an_older_segment_keeps_its_tombstones) {
  temp_dir tmp;
  s4db::memory_store store;
  s4db::basic_db<s4db::memory_store> db(store, format_3("t/", tmp.path / "w"));
  std::vector<std::pair<std::string, std::string>> batch;
  for (int i = 0; i < 200; ++i) batch.emplace_back("key" + std::to_string(i), "old");
  db.put(batch);
  db.upload();  // one segment of 200
  db.erase("key7");
  db.upload();
  db.put("key8", "new");
  db.upload();
  const auto report = db.merge_segments();
  BOOST_TEST(report.merges == 1u);
  const auto m = manifest_of(store, "t/");
  BOOST_REQUIRE(m.segments.size() == 2u);   // the 200 stay; the two above became one
  BOOST_TEST(m.segments[1].entries == 2u);  // the tombstone of key7 is kept
  const auto now = published(store, "t/");
  BOOST_TEST(!now.contains("key7"));
  BOOST_TEST(now.at("key8") == "new");
  BOOST_TEST(now.size() == 199u);
}

BOOST_AUTO_TEST_CASE(a_merge_from_the_oldest_drops_tombstones) {
  temp_dir tmp;
  s4db::memory_store store;
  s4db::basic_db<s4db::memory_store> db(store, format_3("d/", tmp.path / "w"));
  for (int i = 0; i < 5; ++i) {
    db.put("key" + std::to_string(i), "v");
    db.upload();
  }
  for (int i = 0; i < 5; ++i) {
    db.erase("key" + std::to_string(i));
    db.upload();
  }
  db.merge_segments();
  BOOST_TEST(manifest_of(store, "d/").segments.empty());  // every key erased: no segment at all
  BOOST_TEST(published(store, "d/").empty());
  db.put("again", "1");
  db.upload();
  BOOST_TEST(published(store, "d/").size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_process_that_is_not_a_writer_merges_and_a_follower_reads_only_the_merge) {
  temp_dir tmp;
  s4db::memory_store bucket;  // copies share the objects
  counting_store<s4db::memory_store> store(bucket);
  s4db::basic_db<counting_store<s4db::memory_store>> writer(store, format_3("s/", tmp.path / "w"));
  std::vector<std::pair<std::string, std::string>> batch;
  for (int i = 0; i < 2000; ++i) batch.emplace_back("key" + std::to_string(i), std::string(50, 'x'));
  writer.put(batch);
  writer.upload();
  for (int i = 0; i < 12; ++i) {
    writer.put("key" + std::to_string(i), "changed");
    writer.upload();
  }
  s4db::basic_db<counting_store<s4db::memory_store>> follower(store, format_3("s/", tmp.path / "f"));
  BOOST_TEST(follower.size() == 2000u);
  // No local directory, no data file read: the store only.
  const int data_reads_before = store.calls().ranges + store.calls().get_files;
  const auto report = s4db::merge_segments(store, format_3("s/"));
  BOOST_TEST(store.calls().ranges + store.calls().get_files == data_reads_before);
  BOOST_TEST(report.merges == 1u);
  BOOST_TEST(report.segments_merged == 12u);  // the 2000 stay below the 12 merged
  BOOST_TEST(report.entries_written == 12u);
  const auto down_before = store.calls().bytes_down.load();
  BOOST_TEST(follower.refresh());
  BOOST_TEST(store.calls().bytes_down - down_before < 4096u);  // the manifest and the small merged segment
  BOOST_TEST(*follower.get("key3") == "changed");
  BOOST_TEST(follower.size() == 2000u);
  // The writer's next commit lands on the merged manifest (a lost race, rebased).
  writer.put("key5", "after");
  writer.upload();
  BOOST_TEST(follower.refresh());
  BOOST_TEST(*follower.get("key5") == "after");
  BOOST_TEST(*follower.get("key4") == "changed");
  BOOST_TEST(manifest_of(bucket, "s/").segments.size() == 3u);
}

BOOST_AUTO_TEST_CASE(a_background_merge_keeps_the_segments_bounded_while_a_writer_commits) {
  temp_dir tmp;
  s4db::memory_store store;
  auto o = format_3("b/", tmp.path / "w");
  o.merge_in_background = true;
  std::map<std::string, std::string> model;
  {
    s4db::basic_db<s4db::memory_store> db(store, o);
    for (int i = 0; i < 200; ++i) {
      const std::string key = "k" + std::to_string(i % 50);
      db.put(key, std::to_string(i));
      model[key] = std::to_string(i);
      db.upload();
    }
  }  // close() waits for the merge in flight
  BOOST_TEST(published(store, "b/") == model);
  s4db::basic_db<s4db::memory_store> db(store, format_3("b/", tmp.path / "w"));
  db.merge_segments();
  BOOST_TEST(manifest_of(store, "b/").segments.size() <= bound_for(50));
  BOOST_TEST(published(store, "b/") == model);
}

// options::inline_threshold: a small entry is also in the segment, byte for byte as the data
// file holds it; a large one is only named; a merge carries both as they are.
BOOST_AUTO_TEST_CASE(small_entries_are_inline_in_the_segment_and_merges_keep_them) {
  temp_dir tmp;
  s4db::memory_store store;
  auto o = format_3("i/", tmp.path / "w");
  o.inline_threshold = 64;
  s4db::basic_db<s4db::memory_store> db(store, o);
  std::string large;  // incompressible: snappy leaves it 200 bytes
  for (int i = 0; i < 200; ++i) large += static_cast<char>((i * 7919 + 13) % 251);
  db.put({{"small", "tiny"}, {"large", large}});
  db.upload();
  db.put("small2", "t2");
  db.upload();
  auto kinds = [&] {
    std::map<std::string, std::pair<s4db::format::segment_kind, std::string>> out;
    for (const auto& s : manifest_of(store, "i/").segments) {
      const auto name = s4db::format::segment_name(s.writer, s.sequence);
      const std::string bytes = store.get("i/" + name)->data;
      s4db::format::segment_view::open(bytes, name).for_each([&](const s4db::format::segment_entry& e) {
        std::string entry(e.inline_entry);
        if (e.kind == s4db::format::segment_kind::inline_put) {
          // exactly the data file's bytes at the location
          const std::string file = store.get("i/" + s4db::format::data_file_name(e.loc.file))->data;
          BOOST_TEST(entry == file.substr(e.loc.offset, e.loc.length));
        }
        out[std::string(e.key)] = {e.kind, entry};
      });
    }
    return out;
  };
  auto before = kinds();
  BOOST_TEST((before.at("small").first == s4db::format::segment_kind::inline_put));
  BOOST_TEST((before.at("small2").first == s4db::format::segment_kind::inline_put));
  BOOST_TEST((before.at("large").first == s4db::format::segment_kind::put));
  BOOST_TEST(db.merge_segments().merges == 1u);
  BOOST_TEST(manifest_of(store, "i/").segments.size() == 1u);
  BOOST_TEST((kinds() == before));
  BOOST_TEST(published(store, "i/").at("small") == "tiny");
}

BOOST_AUTO_TEST_CASE(formats_1_and_2_have_no_segments_to_merge) {
  s4db::memory_store store;
  s4db::options o;
  o.prefix = "two/";
  s4db::basic_db<s4db::memory_store> db(store, o);
  BOOST_CHECK_THROW(db.merge_segments(), s4db::usage_error);
  BOOST_CHECK_THROW(s4db::merge_segments(store, o), s4db::usage_error);
}

BOOST_AUTO_TEST_SUITE_END()

// Checkpoints (engine/checkpoints.hpp): a pinned state that stays readable, read-only,
// through later writes, merges, compactions and gc, until it is dropped.
BOOST_AUTO_TEST_SUITE(checkpoints)

BOOST_AUTO_TEST_CASE(a_checkpoint_reads_its_state_through_writes_compaction_and_gc_until_dropped) {
  temp_dir tmp;
  s4db::memory_store store;
  s4db::basic_db<s4db::memory_store> db(store, format_3("c/", tmp.path / "w"));
  for (int i = 0; i < 10; ++i) {
    db.put("key" + std::to_string(i), "first");
    db.upload();
  }
  db.checkpoint("before-the-change");
  const auto pinned = published(store, "c/");
  for (int i = 0; i < 10; ++i) db.put("key" + std::to_string(i), "second");
  db.erase("key0");
  db.upload();
  db.merge_segments();
  db.compact();
  // Every object the live manifest no longer names is older than a zero grace: only the
  // pin keeps what the checkpoint reads.
  const auto deleted = db.gc(std::chrono::seconds(0));
  BOOST_TEST(!deleted.empty());
  auto at = format_3("c/");
  at.checkpoint = "before-the-change";
  {
    s4db::basic_db<s4db::memory_store> old(store, at);
    std::map<std::string, std::string> seen;
    for (auto&& [k, v] : old.items()) seen[k] = v;
    BOOST_TEST(seen == pinned);
    BOOST_TEST(*old.get("key0") == "first");
    BOOST_TEST(!old.refresh());  // a checkpoint never changes
    BOOST_CHECK_THROW(old.put("k", "v"), s4db::usage_error);
    BOOST_CHECK_THROW(old.erase("key1"), s4db::usage_error);
    BOOST_CHECK_THROW(old.upload(), s4db::usage_error);
    BOOST_CHECK_THROW(old.gc(), s4db::usage_error);
    BOOST_CHECK_THROW(old.compact(), s4db::usage_error);
  }
  BOOST_TEST(published(store, "c/").at("key1") == "second");
  BOOST_TEST(!published(store, "c/").contains("key0"));
  // Dropped: gc takes what only it kept, and it no longer opens.
  BOOST_TEST(db.drop_checkpoint("before-the-change"));
  BOOST_TEST(!db.drop_checkpoint("before-the-change"));
  const auto freed = db.gc(std::chrono::seconds(0));
  BOOST_TEST(std::any_of(freed.begin(), freed.end(),
                         [](const std::string& k) { return k.find("checkpoint_") != std::string::npos; }));
  BOOST_CHECK_THROW(s4db::basic_db<s4db::memory_store>(store, at), s4db::usage_error);
  BOOST_TEST(published(store, "c/").at("key1") == "second");
}

BOOST_AUTO_TEST_CASE(a_checkpoint_survives_another_writers_commits_and_names_are_checked) {
  temp_dir tmp;
  s4db::memory_store store;
  s4db::basic_db<s4db::memory_store> a(store, format_3("p/", tmp.path / "a"));
  s4db::basic_db<s4db::memory_store> b(store, format_3("p/", tmp.path / "b"));
  BOOST_CHECK_THROW(a.checkpoint("nothing-yet"), s4db::usage_error);
  a.put("x", "1");
  a.upload();
  a.checkpoint("one");
  BOOST_CHECK_THROW(a.checkpoint("one"), s4db::usage_error);
  BOOST_CHECK_THROW(a.checkpoint("no/slashes"), s4db::usage_error);
  BOOST_CHECK_THROW(a.checkpoint(""), s4db::usage_error);
  b.put("x", "2");
  b.upload();  // on a manifest b never saw: it rebases, and the pin goes on
  BOOST_TEST(manifest_of(store, "p/").pins.size() == 1u);
  b.compact();
  BOOST_TEST(manifest_of(store, "p/").pins.size() == 1u);
  b.gc(std::chrono::seconds(0));
  auto at = format_3("p/");
  at.checkpoint = "one";
  BOOST_TEST(*s4db::basic_db<s4db::memory_store>(store, at).get("x") == "1");
  BOOST_TEST(published(store, "p/").at("x") == "2");
  at.local_dir = tmp.path / "c";
  BOOST_CHECK_THROW(s4db::basic_db<s4db::memory_store>(store, at), s4db::usage_error);
}

BOOST_AUTO_TEST_CASE(formats_1_and_2_have_no_checkpoints) {
  s4db::memory_store store;
  s4db::options o;
  o.prefix = "two/";
  s4db::basic_db<s4db::memory_store> db(store, o);
  db.put("k", "v");
  db.upload();
  BOOST_CHECK_THROW(db.checkpoint("c"), s4db::usage_error);
  o.checkpoint = "c";
  BOOST_CHECK_THROW(s4db::basic_db<s4db::memory_store>(store, o), s4db::usage_error);
}

BOOST_AUTO_TEST_SUITE_END()

// Conversion between formats 2 and 3: the index only, never a value.
BOOST_AUTO_TEST_SUITE(conversion)

namespace {

s4db::options format_2(const std::string& prefix, const std::filesystem::path& dir = {}) {
  auto o = format_3(prefix, dir);
  o.format_version = 2;
  return o;
}

template <class Store>
std::map<std::string, std::string> read_all(Store& store, const s4db::options& o) {
  s4db::basic_db<Store> reader(store, o);
  std::map<std::string, std::string> out;
  for (auto&& [k, v] : reader.items()) out[k] = v;
  return out;
}

std::vector<std::string> format_3_objects(s4db::memory_store& store, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& o : store.list(prefix))
    if (o.key.find("segment_") != std::string::npos || o.key.find("manifest") != std::string::npos ||
        o.key.find("checkpoint_") != std::string::npos)
      out.push_back(o.key);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(two_to_three_to_two_keeps_every_value_and_rewrites_no_data_file) {
  temp_dir tmp;
  s4db::memory_store store;
  std::map<std::string, std::string> model;
  {
    s4db::basic_db<s4db::memory_store> two(store, format_2("x/", tmp.path / "two"));
    for (int i = 0; i < 300; ++i) model["key" + std::to_string(i)] = std::string(static_cast<std::size_t>(i % 40), 'v');
    two.put(model);
    two.upload();
    two.erase("key3");
    model.erase("key3");
    two.upload();
  }
  const auto data_before = data_objects_in(store, "x/");
  const auto to_3 = s4db::convert_format(store, format_2("x/"), 3);
  BOOST_TEST(to_3.keys == model.size());
  BOOST_TEST(data_objects_in(store, "x/") == data_before);  // no value rewritten
  BOOST_TEST(read_all(store, format_3("x/")) == model);
  BOOST_CHECK_THROW(read_all(store, format_2("x/")), s4db::usage_error);  // the marker
  BOOST_CHECK_THROW(s4db::convert_format(store, format_2("x/"), 3), s4db::usage_error);
  {
    s4db::basic_db<s4db::memory_store> three(store, format_3("x/", tmp.path / "three"));
    three.put("new", "on format 3");
    three.erase("key4");
    three.upload();
    model["new"] = "on format 3";
    model.erase("key4");
  }
  const auto to_2 = s4db::convert_format(store, format_3("x/"), 2);
  BOOST_TEST(to_2.keys == model.size());
  BOOST_TEST(read_all(store, format_2("x/")) == model);
  BOOST_TEST(format_3_objects(store, "x/").empty());
  BOOST_CHECK_THROW(read_all(store, format_3("x/")), s4db::usage_error);
  BOOST_CHECK_THROW(s4db::convert_format(store, format_2("x/"), 2), s4db::usage_error);
  BOOST_CHECK_THROW(s4db::convert_format(store, format_2("x/"), 4), s4db::usage_error);
  BOOST_CHECK_THROW(s4db::convert_format(store, format_2("empty/"), 3), s4db::usage_error);
}

BOOST_AUTO_TEST_CASE(writers_of_the_old_format_refuse_afterwards_and_keep_their_writes) {
  temp_dir tmp;
  s4db::memory_store store;
  s4db::basic_db<s4db::memory_store> two(store, format_2("f/", tmp.path / "two"));
  two.put("a", "1");
  two.upload();
  two.put("b", "unpublished");
  s4db::convert_format(store, format_2("f/"), 3);
  BOOST_CHECK_THROW(two.upload(), s4db::usage_error);
  BOOST_TEST(two.has_unpublished_writes());
  BOOST_TEST(*two.get("b") == "unpublished");
  {
    s4db::basic_db<s4db::memory_store> three(store, format_3("f/", tmp.path / "three"));
    three.put("c", "3");
    three.upload();
    three.put("d", "unpublished");
    s4db::convert_format(store, format_3("f/"), 2);
    BOOST_CHECK_THROW(three.upload(), s4db::usage_error);
    BOOST_TEST(three.has_unpublished_writes());
  }
  BOOST_TEST((read_all(store, format_2("f/")) == std::map<std::string, std::string>{{"a", "1"}, {"c", "3"}}));
}

BOOST_AUTO_TEST_CASE(a_commit_that_lands_while_it_converts_is_converted_too) {
  temp_dir tmp;
  s4db::memory_store bucket;
  faulty_store<s4db::memory_store> store(bucket);
  s4db::basic_db<s4db::memory_store> two(bucket, format_2("r/", tmp.path / "two"));
  two.put("a", "1");
  two.upload();
  // Right before the marker replaces index.idx, the format 2 writer commits.
  const auto raced = before_the_first_put_of(store, "r/index.idx", [&] {
    two.put("b", "landed meanwhile");
    two.upload();
  });
  s4db::convert_format(store, format_2("r/"), 3);
  BOOST_TEST(*raced);
  BOOST_TEST(
      (read_all(bucket, format_3("r/")) == std::map<std::string, std::string>{{"a", "1"}, {"b", "landed meanwhile"}}));
}

BOOST_AUTO_TEST_CASE(an_interrupted_conversion_is_refused_by_both_formats_and_finished_by_a_second_run) {
  temp_dir tmp;
  s4db::memory_store bucket;
  faulty_store<s4db::memory_store> store(bucket);
  {
    s4db::basic_db<s4db::memory_store> three(bucket, format_3("i/", tmp.path / "three"));
    three.put("a", "1");
    three.upload();
  }
  // Sealed, then the format 2 index fails to arrive.
  store.set_rule(
      [](const store_call& c) { return c.op == "put" && c.key == "i/index.idx" ? fault::before : fault::none; });
  BOOST_CHECK_THROW(s4db::convert_format(store, format_3("i/"), 2), s4db::store_error);
  BOOST_CHECK_THROW(read_all(bucket, format_3("i/")), s4db::usage_error);  // sealed
  BOOST_CHECK_THROW(read_all(bucket, format_2("i/")), s4db::usage_error);  // still the marker
  store.set_rule({});
  s4db::convert_format(store, format_3("i/"), 2);
  BOOST_TEST((read_all(bucket, format_2("i/")) == std::map<std::string, std::string>{{"a", "1"}}));
  // A lost response of the marker: settled by reading it back.
  store.set_rule(
      [](const store_call& c) { return c.op == "put" && c.key == "i/index.idx" ? fault::after : fault::none; });
  BOOST_TEST(s4db::convert_format(store, format_2("i/"), 3).keys == 1u);
  BOOST_TEST((read_all(bucket, format_3("i/")) == std::map<std::string, std::string>{{"a", "1"}}));
}

BOOST_AUTO_TEST_CASE(checkpoints_stop_a_conversion_to_format_2) {
  temp_dir tmp;
  s4db::memory_store store;
  s4db::basic_db<s4db::memory_store> three(store, format_3("k/", tmp.path / "three"));
  three.put("a", "1");
  three.upload();
  three.checkpoint("keep");
  BOOST_CHECK_THROW(s4db::convert_format(store, format_3("k/"), 2), s4db::usage_error);
  three.drop_checkpoint("keep");
  BOOST_TEST(s4db::convert_format(store, format_3("k/"), 2).keys == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

// rewrite_sparse_files(): the live entries of data files less than half live move to a new
// file through a relocation segment placed above what it read; newer writes stay above it.
BOOST_AUTO_TEST_SUITE(sparse_file_rewrite)

BOOST_AUTO_TEST_CASE(live_entries_move_and_the_sparse_files_are_retired) {
  temp_dir tmp;
  s4db::memory_store store;
  s4db::basic_db<s4db::memory_store> db(store, format_3("s/", tmp.path / "w"));
  std::map<std::string, std::string> model;
  std::vector<std::pair<std::string, std::string>> batch;
  for (int i = 0; i < 40; ++i) batch.emplace_back("key" + std::to_string(i), std::string(30, 'a'));
  db.put(batch);
  db.upload();  // one file of 40
  for (int i = 0; i < 40; ++i) model["key" + std::to_string(i)] = std::string(30, 'a');
  for (int i = 0; i < 30; ++i) {  // three quarters overwritten or erased
    if (i % 3 == 0) {
      db.erase("key" + std::to_string(i));
      model.erase("key" + std::to_string(i));
    } else {
      db.put("key" + std::to_string(i), "b" + std::to_string(i));
      model["key" + std::to_string(i)] = "b" + std::to_string(i);
    }
  }
  db.upload();
  const auto first_file = manifest_of(store, "s/").files.front().id;
  const auto report = s4db::rewrite_sparse_files(store, format_3("s/"));
  BOOST_TEST(report.files_rewritten == 1u);
  BOOST_TEST(report.entries_moved == 10u);  // key30 .. key39
  const auto m = manifest_of(store, "s/");
  BOOST_TEST(std::none_of(m.files.begin(), m.files.end(), [&](const auto& f) { return f.id == first_file; }));
  BOOST_TEST(
      std::any_of(m.retired_files.begin(), m.retired_files.end(), [&](const auto& r) { return r.id == first_file; }));
  BOOST_TEST(published(store, "s/") == model);
  // The writer follows it (a lost race, rebased), and its next write stays above it.
  db.put("key35", "newer");
  model["key35"] = "newer";
  db.upload();
  BOOST_TEST(published(store, "s/") == model);
  // Once gc has taken the old file, everything still reads, and a second run has nothing to do.
  db.gc(std::chrono::seconds(0));
  BOOST_TEST(!store.get("s/" + s4db::format::data_file_name(first_file)));
  BOOST_TEST(published(store, "s/") == model);
  BOOST_TEST(s4db::rewrite_sparse_files(store, format_3("s/")).files_rewritten == 0u);
}

BOOST_AUTO_TEST_CASE(a_commit_that_lands_while_it_rewrites_stays_above_the_relocation) {
  temp_dir tmp;
  s4db::memory_store bucket;
  faulty_store<s4db::memory_store> store(bucket);
  s4db::basic_db<s4db::memory_store> db(bucket, format_3("r/", tmp.path / "w"));
  std::vector<std::pair<std::string, std::string>> batch;
  for (int i = 0; i < 20; ++i) batch.emplace_back("key" + std::to_string(i), "old");
  db.put(batch);
  db.upload();
  for (int i = 0; i < 15; ++i) db.erase("key" + std::to_string(i));
  db.upload();
  // Right before the relocation is committed, the writer overwrites a key it moves.
  const auto raced = before_the_first_put_of(store, "r/manifest.s4m", [&] {
    db.put("key17", "written meanwhile");
    db.upload();
  });
  const auto report = s4db::rewrite_sparse_files(store, format_3("r/"));
  BOOST_TEST(*raced);
  BOOST_TEST(report.entries_moved == 5u);
  const auto now = published(bucket, "r/");
  BOOST_TEST(now.at("key17") == "written meanwhile");
  BOOST_TEST(now.at("key16") == "old");
  BOOST_TEST(now.size() == 5u);
}

BOOST_AUTO_TEST_CASE(a_rewrite_that_finds_its_segments_compacted_away_gives_up) {
  temp_dir tmp;
  s4db::memory_store bucket;
  faulty_store<s4db::memory_store> store(bucket);
  s4db::basic_db<s4db::memory_store> db(bucket, format_3("g/", tmp.path / "w"));
  for (int i = 0; i < 10; ++i) db.put("key" + std::to_string(i), "v");
  db.upload();
  for (int i = 0; i < 8; ++i) db.erase("key" + std::to_string(i));
  db.upload();
  const auto raced = before_the_first_put_of(store, "g/manifest.s4m", [&] { db.compact(); });
  const auto report = s4db::rewrite_sparse_files(store, format_3("g/"));
  BOOST_TEST(*raced);
  BOOST_TEST(report.files_rewritten == 0u);
  BOOST_TEST((published(bucket, "g/") == std::map<std::string, std::string>{{"key8", "v"}, {"key9", "v"}}));
}

BOOST_AUTO_TEST_SUITE_END()
