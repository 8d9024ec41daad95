// The on-disk format against the golden vectors the Python original produced
// (docs/format.md): encoding gives exactly those bytes, decoding them gives the values.
#include "support.hpp"

using namespace s4db_test;
namespace format = s4db::format;

namespace {

std::string snappy_block(std::string_view v) { return stored<s4db::snappy_codec>(v); }

struct golden_entry {
  std::uint8_t flags;
  std::string key;
  std::string value;  // the user's value (empty for a tombstone)
  std::string hex;
};

const std::vector<golden_entry> golden_entries = {
    {0x00, "hello", "world", "00 00000005 00000007 68656c6c6f 0510776f726c64 12f8e0e8"},
    {0x00, "k", "", "00 00000001 00000001 6b 00 4a3b6203"},
    {0x01, "gone", "", "01 00000004 00000000 676f6e65 acd25e52"},
    {0x00, "k1", std::string(50, 'v'), "00 00000002 00000006 6b31 320076c20100 d5ea05fe"},
};

}  // namespace

BOOST_AUTO_TEST_SUITE(format_golden)

BOOST_AUTO_TEST_CASE(file_header_of_file_1) {
  BOOST_TEST(format::file_header(1, 1) == unhex("533444420100000001"));
  BOOST_TEST(format::parse_file_header(unhex("533444420100000001"), "f").sequence == 1u);
}

BOOST_AUTO_TEST_CASE(bad_file_headers_are_corruption) {
  BOOST_CHECK_THROW(format::parse_file_header(unhex("5334444201000000"), "f"), s4db::corruption_error);
  BOOST_CHECK_THROW(format::parse_file_header(unhex("533444430100000001"), "f"), s4db::corruption_error);
  BOOST_CHECK_THROW(format::parse_file_header(unhex("533444420300000001"), "f"), s4db::corruption_error);
}

BOOST_AUTO_TEST_CASE(entries_encode_to_the_golden_bytes) {
  for (const auto& g : golden_entries) {
    std::string out;
    const auto stored_value = g.flags == format::flag_tombstone ? std::string() : snappy_block(g.value);
    const auto length = format::append_entry(out, g.flags, g.key, stored_value);
    BOOST_TEST(out == unhex(g.hex), "entry for key " << g.key);
    BOOST_TEST(length == out.size());
  }
}

BOOST_AUTO_TEST_CASE(golden_bytes_decode_to_the_entries) {
  for (const auto& g : golden_entries) {
    const auto bytes = unhex(g.hex);
    const auto [status, e] = format::parse_entry(bytes);
    BOOST_TEST((status == format::parse_status::ok));
    BOOST_TEST(e.flags == g.flags);
    BOOST_TEST(e.key == g.key);
    BOOST_TEST(e.size == bytes.size());
    if (g.flags != format::flag_tombstone) {
      std::string value;
      BOOST_TEST(s4db::snappy_codec{}.decode(e.value, value));
      BOOST_TEST(value == g.value);
    }
  }
}

BOOST_AUTO_TEST_CASE(an_empty_value_is_the_single_snappy_byte_zero) {
  BOOST_TEST(snappy_block("") == std::string(1, '\0'));
}

BOOST_AUTO_TEST_CASE(damaged_entries_are_reported) {
  const auto bytes = unhex(golden_entries[0].hex);
  BOOST_TEST((format::parse_entry(bytes.substr(0, 12)).status == format::parse_status::truncated));
  BOOST_TEST((format::parse_entry(bytes.substr(0, bytes.size() - 1)).status == format::parse_status::truncated));
  auto flipped = bytes;
  flipped[12] ^= 1;
  const auto r = format::parse_entry(flipped);
  BOOST_TEST((r.status == format::parse_status::bad_crc));
  BOOST_TEST(r.entry.size == bytes.size());
  BOOST_CHECK_THROW(format::parse_exact_entry(flipped, "hello", "f"), s4db::corruption_error);
  BOOST_CHECK_THROW(format::parse_exact_entry(bytes, "other", "f"), s4db::corruption_error);
  BOOST_CHECK_THROW(format::parse_exact_entry(bytes + "x", "hello", "f"), s4db::corruption_error);
}

BOOST_AUTO_TEST_CASE(empty_index) {
  const std::vector<std::pair<std::string, s4db::location>> none;
  BOOST_TEST(format::encode_index(1, 1, 0, none) == unhex("010000000100000000"));
  const auto h = format::decode_index(unhex("010000000100000000"), "idx", [](auto, auto) { BOOST_FAIL("no entries"); });
  BOOST_TEST(h.next_file == 1u);
  BOOST_TEST(h.count == 0u);
}

const char* const golden_index =
    "01 00000002 00000002 0005 68656c6c6f 00000001 0000000000000009 0000001f "
    "0001 61 00000001 0000000000000028 00000014";

BOOST_AUTO_TEST_CASE(index_encodes_to_the_golden_bytes) {
  const std::vector<std::pair<std::string, s4db::location>> entries{{"hello", {1, 9, 31}}, {"a", {1, 40, 20}}};
  BOOST_TEST(format::encode_index(1, 2, entries.size(), entries) == unhex(golden_index));
}

BOOST_AUTO_TEST_CASE(golden_index_decodes) {
  std::vector<std::pair<std::string, s4db::location>> seen;
  const auto h = format::decode_index(unhex(golden_index), "idx",
                                      [&](std::string_view k, s4db::location l) { seen.emplace_back(k, l); });
  BOOST_TEST(h.next_file == 2u);
  BOOST_REQUIRE(seen.size() == 2u);
  BOOST_TEST(seen[0].first == "hello");
  BOOST_TEST((seen[0].second == s4db::location{1, 9, 31}));
  BOOST_TEST(seen[1].first == "a");
  BOOST_TEST((seen[1].second == s4db::location{1, 40, 20}));
}

BOOST_AUTO_TEST_CASE(bad_indexes_are_corruption) {
  const auto good = unhex(golden_index);
  auto noop = [](auto, auto) {};
  BOOST_CHECK_THROW(format::decode_index(good.substr(0, 8), "idx", noop), s4db::corruption_error);
  BOOST_CHECK_THROW(format::decode_index(good.substr(0, good.size() - 1), "idx", noop), s4db::corruption_error);
  BOOST_CHECK_THROW(format::decode_index(good + std::string(1, '\0'), "idx", noop), s4db::corruption_error);
  auto other_version = good;
  other_version[0] = 3;
  BOOST_CHECK_THROW(format::decode_index(other_version, "idx", noop), s4db::corruption_error);
}

BOOST_AUTO_TEST_CASE(data_file_names_sort_by_number) {
  BOOST_TEST(format::data_file_name(1) == "data_000001.s4db");
  BOOST_TEST(format::data_file_name(999999) == "data_999999.s4db");
  BOOST_TEST(format::data_file_name(1000000) == "data_1000000.s4db");
  BOOST_TEST(format::parse_data_file_name("data_1000000.s4db").value() == 1000000u);
  BOOST_TEST(format::parse_data_file_name("data_000042.s4db").value() == 42u);
  BOOST_TEST(!format::parse_data_file_name("data_42.s4db"));
  BOOST_TEST(!format::parse_data_file_name("data_0000042.s4db"));
  BOOST_TEST(!format::parse_data_file_name("index.idx"));
  BOOST_TEST(!format::parse_data_file_name("data_00000x.s4db"));
}

BOOST_AUTO_TEST_SUITE_END()

// Format 2, against vectors the Python s4db 0.9 code produced (commit a557b2c: its
// _format.pack_entry, pack_file_header and _index.Index.to_bytes, run on python3-snappy).
BOOST_AUTO_TEST_SUITE(format_2_golden)

const char* const v2_header = "533444420200000001";
const std::vector<std::pair<std::pair<std::string, std::string>, const char*>> v2_entries = {
    {{"hello", "world"}, "02 00000005 00000005 68656c6c6f 776f726c64 f60d958c"},  // raw: Snappy does not shrink it
    {{"k", ""}, "02 00000001 00000000 6b f643d33e"},
    {{"k1", std::string(50, 'v')}, "00 00000002 00000006 6b31 320076c20100 d5ea05fe"},         // compressed
    {{"bin", std::string("\xff\x00\x01", 3)}, "06 00000003 00000003 62696e ff0001 9e5b94af"},  // not UTF-8
};
const char* const v2_tombstone = "01 00000004 00000000 676f6e65 acd25e52";
const char* const v2_empty_index = "02 00000001 00000000 f59f1598";
// next=3; "hello" -> (writer deadbeef, seq 1, 9, 31), "a" -> (writer 0, seq 2, 40, 20)
const char* const v2_index =
    "02 00000003 00000002 0005 68656c6c6f deadbeef00000001 0000000000000009 0000001f "
    "0001 61 0000000000000002 0000000000000028 00000014 37742c3d";

BOOST_AUTO_TEST_CASE(the_engine_writes_python_09s_bytes) {
  s4db::memory_store store;
  s4db::basic_db<s4db::memory_store> db{store, {.prefix = "p/"}};
  std::string want = unhex(v2_header);
  for (const auto& [kv, hex] : v2_entries) {
    db.put(kv.first, kv.second);
    want += unhex(hex);
  }
  db.erase("gone");  // absent: writes nothing
  db.put("gone", "x");
  db.erase("gone");  // the tombstone ends the file
  db.upload();
  const auto names = data_objects_in(store, "p/");
  BOOST_REQUIRE(names.size() == 1u);
  const std::string file = store.get("p/" + names[0])->data;
  BOOST_TEST(file.substr(0, want.size()) == want);
  BOOST_TEST(file.ends_with(unhex(v2_tombstone)));
  BOOST_TEST(names[0].size() == std::string("data_XXXXXXXX_000001.s4db").size());
  for (const auto& [kv, hex] : v2_entries) BOOST_TEST(db.get(kv.first).value() == kv.second);
}

BOOST_AUTO_TEST_CASE(indexes_encode_and_decode_as_python_09s) {
  const std::vector<std::pair<std::string, s4db::location>> none;
  BOOST_TEST(format::encode_index(2, 1, 0, none) == unhex(v2_empty_index));
  const std::vector<std::pair<std::string, s4db::location>> entries{
      {"hello", {s4db::make_file_id(0xdeadbeef, 1), 9, 31}}, {"a", {s4db::make_file_id(0, 2), 40, 20}}};
  BOOST_TEST(format::encode_index(2, 3, entries.size(), entries) == unhex(v2_index));
  std::vector<std::pair<std::string, s4db::location>> seen;
  const auto h = format::decode_index(unhex(v2_index), "idx",
                                      [&](std::string_view k, s4db::location l) { seen.emplace_back(k, l); });
  BOOST_TEST(h.version == 2);
  BOOST_TEST(h.next_file == 3u);
  BOOST_TEST((seen == entries));
  auto flipped = unhex(v2_index);
  flipped[12] ^= 1;
  BOOST_CHECK_THROW(format::decode_index(flipped, "idx", [](auto, auto) {}), s4db::corruption_error);
  BOOST_CHECK_THROW(format::encode_index(1, 3, entries.size(), entries), s4db::usage_error);
}

BOOST_AUTO_TEST_CASE(names_carry_the_writer_namespace) {
  BOOST_TEST(format::data_file_name(s4db::make_file_id(0xdeadbeef, 3)) == "data_deadbeef_000003.s4db");
  BOOST_TEST(format::data_file_name(s4db::make_file_id(0, 12)) == "data_000012.s4db");
  BOOST_TEST(format::parse_data_file_name("data_deadbeef_000003.s4db").value() == s4db::make_file_id(0xdeadbeef, 3));
  BOOST_TEST(format::parse_data_file_name("data_0000dead_1000000.s4db").value() == s4db::make_file_id(0xdead, 1000000));
  BOOST_TEST(!format::parse_data_file_name("data_DEADBEEF_000003.s4db"));  // lower-case hex only
  BOOST_TEST(!format::parse_data_file_name("data_00000000_000003.s4db"));  // writer 0 has its own spelling
  BOOST_TEST(!format::parse_data_file_name("data_deadbee_000003.s4db"));
  BOOST_TEST(format::parse_file_header(unhex(v2_header), "f").version == 2);
}

BOOST_AUTO_TEST_CASE(unknown_flag_bits_are_corruption) {
  s4db::memory_store store;
  {
    s4db::basic_db<s4db::memory_store> db{store, {.prefix = "p/"}};
    db.put("k", "v");
    db.upload();
  }
  const auto name = "p/" + data_objects_in(store, "p/").at(0);
  auto bytes = store.get(name)->data;
  std::string entry;
  format::append_entry(entry, 0x0a, "k", "v");  // bit 0x08 is no flag of the format
  bytes.replace(format::file_header_size, entry.size(), entry);
  store.put(name, bytes, {});
  s4db::basic_db<s4db::memory_store> reader{store, {.prefix = "p/"}};
  BOOST_CHECK_THROW(reader.get("k"), s4db::corruption_error);
}

BOOST_AUTO_TEST_SUITE_END()
