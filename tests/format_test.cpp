// The on-disk format against the golden vectors the Python original produced
// (docs/format.md): encoding gives exactly those bytes, decoding them gives the values.
#include <map>
#include <random>
#include <s4db/format/manifest.hpp>
#include <s4db/format/segment.hpp>
#include <tuple>

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

// Format 3's index segments and manifests (docs/format.md, "Format 3"): the golden vectors
// there, both ways, and every damaged byte caught.
BOOST_AUTO_TEST_SUITE(format_3_golden)

// The data file entry of "b" -> "hi" (format 2, stored raw), inlined in the segment below.
const char* const inline_entry = "02 00000001 00000002 62 6869 2354b7f8";
constexpr s4db::file_id golden_file = s4db::make_file_id(0x1a2b3c4d, 1);

const char* const golden_segment =
    // block: 3 entries
    "00000003"
    "0000 0001 61 00 1a2b3c4d00000001 0000000000000009 00000014"  // a: put
    "0001 0001 62 01"                                             // ab: tombstone
    "0000 0001 62 02 1a2b3c4d00000001 000000000000001d 00000010"  // b: inline put
    "0200000001000000026268692354b7f8"                            //    its entry
    "064b2ab2"                                                    // block CRC
    // filter: k 6, 64 bits, 8 bytes, CRC
    "06 00000040 1020419000200c8a 4e920fe4"
    // block index: 1 block at 0, 82 bytes, last key "b", CRC
    "00000001 0000000000000000 00000052 0001 62 afc3aee2"
    // trailer: version 3, 3 entries, filter at 82 (17 bytes), index at 99 (23 bytes), CRC, magic
    "03000000 0000000000000003 0000000000000052 00000011 0000000000000063 00000017 9140e433"
    "7334646273656733";

std::vector<format::segment_entry> golden_segment_entries(const std::string& entry) {
  return {{"a", format::segment_kind::put, {golden_file, 9, 20}, {}},
          {"ab", format::segment_kind::tombstone, {}, {}},
          {"b", format::segment_kind::inline_put, {golden_file, 29, 16}, entry}};
}

BOOST_AUTO_TEST_CASE(a_segment_encodes_and_decodes_as_documented) {
  const auto entry = unhex(inline_entry);
  format::segment_builder builder;
  for (const auto& e : golden_segment_entries(entry)) builder.add(e);
  BOOST_TEST(builder.finish() == unhex(golden_segment));

  const auto bytes = unhex(golden_segment);
  const auto segment = format::segment_view::open(bytes, "seg");
  BOOST_TEST(segment.entries() == 3u);
  std::vector<std::tuple<std::string, format::segment_kind, s4db::location, std::string>> got, want;
  segment.for_each([&](const format::segment_entry& e) {
    got.emplace_back(std::string(e.key), e.kind, e.loc, std::string(e.inline_entry));
  });
  for (const auto& e : golden_segment_entries(entry))
    want.emplace_back(std::string(e.key), e.kind, e.loc, std::string(e.inline_entry));
  BOOST_TEST((got == want));
  bool found = segment.find(
      "ab", [](const format::segment_entry& e) { BOOST_TEST((e.kind == format::segment_kind::tombstone)); });
  BOOST_TEST(found);
  BOOST_TEST(!segment.find("aa", [](const format::segment_entry&) { BOOST_FAIL("aa is not there"); }));
  BOOST_TEST(!segment.find("c", [](const format::segment_entry&) { BOOST_FAIL("c is not there"); }));
}

BOOST_AUTO_TEST_CASE(an_empty_segment_has_no_blocks) {
  const auto bytes = format::segment_builder().finish();
  const auto segment = format::segment_view::open(bytes, "seg");
  BOOST_TEST(segment.entries() == 0u);
  BOOST_TEST(segment.blocks().empty());
  BOOST_TEST(!segment.find("", [](const format::segment_entry&) { BOOST_FAIL("empty"); }));
}

// Every byte is under a CRC or checked against the others: a flip anywhere is
// corruption_error when the segment is opened or read, never a changed entry.
BOOST_AUTO_TEST_CASE(every_damaged_byte_of_a_segment_is_corruption) {
  const auto good = unhex(golden_segment);
  for (std::size_t i = 0; i < good.size(); ++i)
    for (const int flip : {0x01, 0x80, 0xff}) {
      auto bad = good;
      bad[i] = static_cast<char>(bad[i] ^ flip);
      BOOST_CHECK_THROW(
          {
            const auto segment = format::segment_view::open(bad, "seg");
            segment.for_each([](const format::segment_entry&) {});
          },
          s4db::corruption_error);
    }
  for (std::size_t n = 0; n < good.size(); ++n)  // every truncation
    BOOST_CHECK_THROW(format::segment_view::open(std::string_view(good).substr(0, n), "seg"), s4db::corruption_error);
}

// Hostile segments whose CRCs are right: each structural lie is caught.
BOOST_AUTO_TEST_CASE(a_segment_with_valid_checksums_that_lies_is_corruption) {
  // Built by hand with a builder that does not check order: keys "b" then "a".
  std::string block;
  format::append_be(block, std::uint32_t{2});
  for (const char* k : {"b", "a"}) {
    format::append_be(block, std::uint16_t{0});
    format::append_be(block, std::uint16_t{1});
    block += k;
    block.push_back(1);  // tombstone
  }
  format::append_be(block, format::crc32_of(block));
  auto assemble = [](const std::string& blocks, std::uint64_t block_offset, std::uint32_t block_length,
                     const std::string& last_key, std::uint64_t entries) {
    std::string out = blocks;
    format::bloom_builder bloom(1);
    const std::string filter = bloom.finish();
    const std::uint64_t filter_offset = out.size();
    out += filter;
    format::append_be(out, format::crc32_of(filter));
    const std::uint64_t index_offset = out.size();
    std::string index;
    format::append_be(index, std::uint32_t{1});
    format::append_be(index, block_offset);
    format::append_be(index, block_length);
    format::append_be(index, static_cast<std::uint16_t>(last_key.size()));
    index += last_key;
    format::append_be(index, format::crc32_of(index));
    out += index;
    std::string trailer;
    trailer.push_back(3);
    trailer.append(3, '\0');
    format::append_be(trailer, entries);
    format::append_be(trailer, filter_offset);
    format::append_be(trailer, static_cast<std::uint32_t>(filter.size() + 4));
    format::append_be(trailer, index_offset);
    format::append_be(trailer, static_cast<std::uint32_t>(index.size()));
    format::append_be(trailer, format::crc32_of(trailer));
    return out + trailer + std::string(format::segment_magic);
  };
  auto read_all = [](const std::string& bytes) {
    format::segment_view::open(bytes, "seg").for_each([](const format::segment_entry&) {});
  };
  const auto block_length = static_cast<std::uint32_t>(block.size());
  BOOST_CHECK_THROW(read_all(assemble(block, 0, block_length, "a", 2)), s4db::corruption_error);      // unsorted keys
  BOOST_CHECK_THROW(read_all(assemble(block, 0, block_length + 9, "a", 2)), s4db::corruption_error);  // past the blocks
  BOOST_CHECK_THROW(read_all(assemble(block, 4, block_length, "a", 2)), s4db::corruption_error);      // not at 0
  BOOST_CHECK_THROW(read_all(assemble(block, 0, block_length, "a", 1u << 30)), s4db::corruption_error);  // count
  // Sorted, but the index names another last key, or the trailer another count.
  std::string sorted;
  format::append_be(sorted, std::uint32_t{1});
  format::append_be(sorted, std::uint16_t{0});
  format::append_be(sorted, std::uint16_t{1});
  sorted += "a";
  sorted.push_back(1);
  format::append_be(sorted, format::crc32_of(sorted));
  const auto sorted_length = static_cast<std::uint32_t>(sorted.size());
  BOOST_CHECK_NO_THROW(read_all(assemble(sorted, 0, sorted_length, "a", 1)));
  BOOST_CHECK_THROW(read_all(assemble(sorted, 0, sorted_length, "b", 1)), s4db::corruption_error);
  BOOST_CHECK_THROW(read_all(assemble(sorted, 0, sorted_length, "a", 2)), s4db::corruption_error);
}

BOOST_AUTO_TEST_CASE(keys_out_of_order_are_refused_by_the_builder) {
  format::segment_builder builder;
  builder.add({"b", format::segment_kind::tombstone, {}, {}});
  BOOST_CHECK_THROW(builder.add({"b", format::segment_kind::tombstone, {}, {}}), s4db::usage_error);
  BOOST_CHECK_THROW(builder.add({"a", format::segment_kind::tombstone, {}, {}}), s4db::usage_error);
}

// Many keys through many blocks: every one found, and the filter's false positives near
// the 0.8% that 10 bits per key and 6 probes give.
BOOST_AUTO_TEST_CASE(a_large_segment_finds_every_key_and_few_absent_ones_pass_its_filter) {
  std::map<std::string, s4db::location> keys;
  std::mt19937_64 rng(3);
  while (keys.size() < 50000)
    keys.emplace("user/" + std::to_string(rng() % 10000000),
                 s4db::location{rng(), rng(), static_cast<std::uint32_t>(rng())});
  format::segment_builder builder;
  for (const auto& [k, loc] : keys) builder.add({k, format::segment_kind::put, loc, {}});
  const auto bytes = builder.finish();
  const auto segment = format::segment_view::open(bytes, "seg");
  BOOST_TEST(segment.blocks().size() > 100u);
  for (const auto& element : keys)  // not a structured binding: clang 14 cannot capture one
    BOOST_TEST(
        segment.find(element.first, [&](const format::segment_entry& e) { BOOST_TEST((e.loc == element.second)); }));
  std::size_t passed = 0;
  const std::size_t absent = 100000;
  format::bloom_builder check(keys.size());
  for (const auto& [k, loc] : keys) check.add(format::key_hash(k));
  const auto bloom = check.finish();
  const auto view = format::bloom_view::of(bloom, "bloom");
  for (std::size_t i = 0; i < absent; ++i) passed += view.may_contain(format::key_hash("absent/" + std::to_string(i)));
  BOOST_TEST(passed < absent / 50, passed << " of " << absent << " absent keys passed the filter");
  BOOST_TEST(passed > 0u);  // a filter that passes nothing is not a Bloom filter of these keys
}

const char* const golden_manifest =
    "733464626d616e33"  // "s4dbman3"
    "0000000000000002"  // number 2
    "0000019af61bac00"  // written 2025-12-07T00:00:00Z, in ms
    "0000000000000002"  // 2 changes: both commits changed keys
    "00000001"          // 1 segment: writer, sequence 1, level 0, 170 bytes, 3 entries, "a" to "b"
    "1a2b3c4d 0000000000000001 00 00000000000000aa 0000000000000003 0001 61 0001 62"
    "00000001"  // 1 data file: id, 45 bytes, 36 live
    "1a2b3c4d00000001 000000000000002d 0000000000000024"
    "00000001"  // 1 writer, its newest segment 1
    "1a2b3c4d 0000000000000001"
    "00000001"  // 1 pin: "nightly" at manifest 2
    "0007 6e696768746c79 0000000000000002"
    "00000001"  // 1 retired data file, 0badf00d:1, at 2025-12-06T23:50:00Z
    "0badf00d00000001 0000019af6128440"
    "00000001"  // 1 retired segment, 0badf00d/1, then too
    "0badf00d 0000000000000001 0000019af6128440"
    "846ca940";  // CRC

format::manifest golden_manifest_value() {
  format::manifest m;
  m.number = 2;
  m.written_ms = 1765065600000;
  m.changes = 2;
  m.segments = {{0x1a2b3c4d, 1, 0, 170, 3, "a", "b"}};
  m.files = {{golden_file, 45, 36}};
  m.writers = {{0x1a2b3c4d, 1}};
  m.pins = {{"nightly", 2}};
  m.retired_files = {{s4db::make_file_id(0x0badf00d, 1), 1765065000000}};
  m.retired_segments = {{0x0badf00d, 1, 1765065000000}};
  return m;
}

BOOST_AUTO_TEST_CASE(a_manifest_encodes_and_decodes_as_documented) {
  BOOST_TEST(format::encode_manifest(golden_manifest_value()) == unhex(golden_manifest));
  BOOST_TEST((format::decode_manifest(unhex(golden_manifest), "m") == golden_manifest_value()));
  BOOST_TEST(format::segment_name(0x1a2b3c4d, 1) == "segment_1a2b3c4d_000001.s4s");
}

BOOST_AUTO_TEST_CASE(every_damaged_byte_of_a_manifest_is_corruption) {
  const auto good = unhex(golden_manifest);
  for (std::size_t i = 0; i < good.size(); ++i) {
    auto bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    BOOST_CHECK_THROW(format::decode_manifest(bad, "m"), s4db::corruption_error);
  }
  for (std::size_t n = 0; n < good.size(); ++n)
    BOOST_CHECK_THROW(format::decode_manifest(std::string_view(good).substr(0, n), "m"), s4db::corruption_error);
}

// Checksums right, content wrong: each lie is caught.
BOOST_AUTO_TEST_CASE(a_manifest_with_a_valid_checksum_that_lies_is_corruption) {
  auto lie = [](auto&& change) {
    auto m = golden_manifest_value();
    change(m);
    return format::encode_manifest(m);
  };
  BOOST_CHECK_THROW(format::decode_manifest(lie([](auto& m) { m.segments[0].first_key = "c"; }), "m"),
                    s4db::corruption_error);
  BOOST_CHECK_THROW(format::decode_manifest(lie([](auto& m) { m.segments.push_back(m.segments[0]); }), "m"),
                    s4db::corruption_error);
  BOOST_CHECK_THROW(format::decode_manifest(lie([](auto& m) { m.files.push_back(m.files[0]); }), "m"),
                    s4db::corruption_error);
  BOOST_CHECK_THROW(format::decode_manifest(lie([](auto& m) { m.files[0].live_bytes = 46; }), "m"),
                    s4db::corruption_error);
  BOOST_CHECK_THROW(format::decode_manifest(lie([](auto& m) {
                                              m.writers.push_back({1, 0});
                                            }),
                                            "m"),
                    s4db::corruption_error);
  BOOST_CHECK_THROW(format::decode_manifest(lie([](auto& m) { m.pins[0].manifest = 3; }), "m"), s4db::corruption_error);
  BOOST_CHECK_THROW(format::decode_manifest(lie([](auto& m) { m.changes = 3; }), "m"), s4db::corruption_error);
  // A count past the end, its CRC made right.
  auto bytes = format::encode_manifest(golden_manifest_value());
  bytes.replace(24, 4, std::string("\x7f\xff\xff\xff", 4));
  bytes.resize(bytes.size() - 4);
  format::append_be(bytes, format::crc32_of(bytes));
  BOOST_CHECK_THROW(format::decode_manifest(bytes, "m"), s4db::corruption_error);
}

BOOST_AUTO_TEST_SUITE_END()
