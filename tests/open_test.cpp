// Opening: from the store, from a working copy, and what happens when both changed.
#include "support.hpp"

using namespace s4db_test;

BOOST_AUTO_TEST_SUITE(opening)

using local_combos = boost::mpl::list<combo<s4db::fs_store, s4db::snappy_codec, s4db::unordered_index>,
                                      combo<s4db::memory_store, s4db::identity_codec, s4db::ordered_index>>;

BOOST_AUTO_TEST_CASE_TEMPLATE(opening_never_creates_local_dir, C, local_combos) {
  env<C> e;
  {
    auto db = e.open();
    BOOST_TEST(db->size() == 0u);
    BOOST_TEST(!db->get("x"));
    db->upload();  // only the (empty) index: nothing local to send
  }
  BOOST_TEST(!fs::exists(e.local()));
  BOOST_TEST(e.store.head(e.prefix + "index.idx").has_value());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_working_copy_reopens_with_its_unpublished_writes, C, local_combos) {
  env<C> e;
  e.open()->put("a", "1");
  auto db = e.open();
  BOOST_TEST(*db->get("a") == "1");
  BOOST_TEST(!e.store.head(e.prefix + "index.idx"));  // nothing was uploaded
}

BOOST_AUTO_TEST_CASE_TEMPLATE(the_store_wins_when_the_working_copy_has_no_unpublished_writes, C, local_combos) {
  env<C> e;
  {
    auto db = e.open();
    db->put("a", "1");
    db->upload();
  }
  {
    auto other = e.open("other");
    other->put("a", "2");
    other->put("b", "new");
    other->upload();
  }
  auto db = e.open();
  BOOST_TEST(*db->get("a") == "2");
  BOOST_TEST(*db->get("b") == "new");
  db->put("c", "3");  // and writing continues without clobbering the other writer's files
  db->upload();
  auto fresh = e.open("fresh");
  BOOST_TEST(*fresh->get("a") == "2");
  BOOST_TEST(*fresh->get("c") == "3");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(both_sides_changed_is_a_conflict_error_naming_both, C, local_combos) {
  env<C> e;
  {
    auto db = e.open();
    db->put("a", "1");
    db->upload();
    db->put("a", "local");  // unpublished
  }
  {
    auto other = e.open("other");
    other->put("a", "remote");
    other->upload();
  }
  try {
    e.open();
    BOOST_FAIL("expected conflict_error");
  } catch (const s4db::conflict_error& error) {
    const std::string what = error.what();
    BOOST_TEST(what.find(e.local().string()) != std::string::npos);
    BOOST_TEST(what.find(e.prefix + "index.idx") != std::string::npos);
  }
  auto keep = e.opts();
  keep.on_conflict = s4db::conflict_resolution::keep_local;
  BOOST_TEST(*e.open(keep)->get("a") == "local");
  auto take = e.opts();
  take.on_conflict = s4db::conflict_resolution::take_store;
  auto db = e.open(take);
  BOOST_TEST(*db->get("a") == "remote");
  db.reset();
  BOOST_TEST(*e.open()->get("a") == "remote");  // settled: no conflict any more
}

BOOST_AUTO_TEST_CASE(opening_a_working_copy_with_the_wrong_codec_is_corruption) {
  temp_dir tmp;
  s4db::options o;
  o.local_dir = tmp.path / "local";
  s4db::memory_store store;
  s4db::basic_db<s4db::memory_store, s4db::identity_codec>{store, o}.put("k", "v");
  BOOST_CHECK_THROW((s4db::basic_db<s4db::memory_store, s4db::snappy_codec>{store, o}), s4db::corruption_error);
}

BOOST_AUTO_TEST_CASE(reading_entries_of_another_codec_is_corruption_not_garbage) {
  s4db::memory_store store;
  s4db::options o;
  o.prefix = "p/";
  {
    s4db::basic_db<s4db::memory_store, s4db::identity_codec> writer{store, o};
    writer.put("k", "raw value");
    writer.upload();
  }
  // Flag 0x02 says "stored raw" in every format, so Snappy reads identity's values right.
  s4db::basic_db<s4db::memory_store, s4db::snappy_codec> reader{store, o};
  BOOST_TEST(reader.get("k").value() == "raw value");
  const std::string compressible(100, 'a');
  {
    s4db::basic_db<s4db::memory_store, s4db::snappy_codec> writer{store, {.prefix = "q/"}};
    writer.put("k", compressible);
    writer.put("short", "v");  // Snappy does not shrink it: format 2 stores it raw (0x02)
    writer.upload();
  }
  s4db::basic_db<s4db::memory_store, s4db::identity_codec> raw_reader{store, {.prefix = "q/"}};
  BOOST_CHECK_THROW(raw_reader.get("k"), s4db::corruption_error);
  BOOST_TEST(raw_reader.get("short").value() == "v");  // a raw value reads in any codec
}

// docs/policies.md's example codec: a flag of its own (0x7e, whose bits include 0x02 and
// 0x04) reads back in both formats, and Snappy refuses its entries.
struct xor_codec {
  static constexpr std::uint8_t flag = 0x7e;
  static constexpr std::string_view name = "xor";
  void encode(std::string_view in, std::string& out) const {
    out.assign(in);
    for (auto& c : out) c = static_cast<char>(c ^ 0x5a);
  }
  bool decode(std::string_view in, std::string& out) const {
    encode(in, out);
    return true;
  }
};

BOOST_AUTO_TEST_CASE(a_codec_of_its_own_flag_reads_back_in_both_formats) {
  for (int version : {1, 2}) {
    s4db::memory_store store;
    s4db::options o;
    o.prefix = "x/";
    o.format_version = version;
    const std::string binary("\xff\x00 not text", 11);
    {
      s4db::basic_db<s4db::memory_store, xor_codec> db{store, o};
      db.put({{"text", "plain text"}, {"binary", binary}, {"empty", ""}});
      db.upload();
    }
    s4db::basic_db<s4db::memory_store, xor_codec> reader{store, {.prefix = "x/"}};
    BOOST_TEST(reader.get("text").value() == "plain text");
    BOOST_TEST(reader.get("binary").value() == binary);
    BOOST_TEST(reader.get("empty").value() == "");
    BOOST_TEST(reader.verify().empty());
    s4db::basic_db<s4db::memory_store> snappy_reader{store, {.prefix = "x/"}};
    BOOST_CHECK_THROW(snappy_reader.get("text"), s4db::corruption_error);
  }
}

BOOST_AUTO_TEST_CASE(a_temporary_directory_is_removed_once_uploaded_and_kept_otherwise) {
  s4db::memory_store store;
  std::vector<std::string> warnings;
  s4db::options o;
  o.log = [&](s4db::log_level level, std::string_view line) {
    if (level == s4db::log_level::warning) warnings.emplace_back(line);
  };
  fs::path uploaded, kept;
  {
    s4db::basic_db<s4db::memory_store> db{store, o};
    db.put("a", "1");
    uploaded = db.local_directory().value();
    BOOST_TEST(data_files_in(uploaded).size() == 1u);
    db.upload();
  }
  BOOST_TEST(!fs::exists(uploaded));
  BOOST_TEST(warnings.empty());
  {
    s4db::basic_db<s4db::memory_store> db{store, o};
    db.put("b", "2");
    kept = db.local_directory().value();
  }
  BOOST_TEST(data_files_in(kept).size() == 1u);
  BOOST_REQUIRE(warnings.size() == 1u);
  BOOST_TEST(warnings[0].find(kept.string()) != std::string::npos);
  fs::remove_all(kept);
}

BOOST_AUTO_TEST_CASE(a_corrupt_published_index_is_a_corruption_error) {
  s4db::memory_store store;
  store.put("index.idx", unhex("0100000002000000"), {});
  BOOST_CHECK_THROW(s4db::basic_db<s4db::memory_store>(store, {}), s4db::corruption_error);
}

// Issue 18, item 8: a working copy in the bucket's directory would write its own index.idx
// over the published one. Equal to, inside, or holding the fs_store root: usage_error
// before anything is touched, and the database still opens.
BOOST_AUTO_TEST_CASE(a_local_dir_in_or_around_a_directory_bucket_is_refused_and_changes_nothing) {
  temp_dir tmp;
  const fs::path bucket = tmp.path / "bucket";
  {
    s4db::basic_db<s4db::fs_store> db(s4db::fs_store{bucket});
    db.put("k", "1");
    db.upload();
  }
  const std::string published = read_bytes(bucket / "index.idx");
  for (const fs::path& local : {bucket, bucket / "", bucket / "copy", bucket / "a/b", tmp.path, tmp.path / "."}) {
    s4db::options o;
    o.local_dir = local;
    BOOST_CHECK_THROW(s4db::basic_db<s4db::fs_store>(s4db::fs_store{bucket}, o), s4db::usage_error);
  }
  BOOST_TEST(!fs::exists(bucket / "copy"));
  BOOST_TEST(!fs::exists(bucket / "local.state"));
  BOOST_TEST(read_bytes(bucket / "index.idx") == published);
  s4db::options beside;
  beside.local_dir = tmp.path / "bucket-copy";  // a sibling whose name starts the same is fine
  BOOST_TEST(s4db::basic_db<s4db::fs_store>(s4db::fs_store{bucket}, beside).get("k").value() == "1");
}

// Issue 18, item 8: an index far larger than its header's entry count allows (a sparse
// 64 GiB index.idx) is corruption_error without being read: reading it would exhaust memory.
BOOST_AUTO_TEST_CASE(an_index_larger_than_its_header_allows_is_refused_unread) {
  temp_dir tmp;
  const fs::path bucket = tmp.path / "bucket";
  s4db::options o;
  o.local_dir = tmp.path / "local";
  {
    s4db::basic_db<s4db::fs_store> db(s4db::fs_store{bucket}, o);
    db.put("k", "1");
    db.upload();
  }
  constexpr std::uintmax_t huge = std::uintmax_t{64} << 30;
  // The working copy's own index.idx: its size is not one local.state recorded.
  fs::resize_file(o.local_dir.value() / "index.idx", huge);
  BOOST_CHECK_THROW(s4db::basic_db<s4db::fs_store>(s4db::fs_store{bucket}, o), s4db::corruption_error);
  // The published one: its header promises one entry.
  fs::resize_file(bucket / "index.idx", huge);
  BOOST_CHECK_THROW(s4db::basic_db<s4db::fs_store>(s4db::fs_store{bucket}), s4db::corruption_error);
  s4db::memory_store store;
  store.put("index.idx", unhex("020000000100000001") + std::string(2 << 20, '\0'), {});
  BOOST_CHECK_THROW(s4db::basic_db<s4db::memory_store>(store, {}), s4db::corruption_error);
}

BOOST_AUTO_TEST_SUITE_END()
