// Byte compatibility with the Python s4db: a database made of the Python original's
// golden bytes opens and reads here, and a database written here reads correctly with an
// independent Python reader (tests/compat/read_s4db.py, run by Debian's /usr/bin/python3
// with python3-snappy, which the project's setup script installs).
#include <cstdio>
#include <sstream>

#include "support.hpp"

using namespace s4db_test;

namespace {

std::string hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (char signed_c : bytes) {
    const auto c = static_cast<unsigned char>(signed_c);
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(python_compat)

BOOST_AUTO_TEST_CASE(a_database_in_the_python_format_opens_from_the_store) {
  temp_dir tmp;
  s4db::fs_store store{tmp.path / "bucket"};
  store.put("py/data_000001.s4db", python_data_file(), {});
  store.put("py/index.idx", python_index(), {});
  s4db::options o;
  o.prefix = "py/";
  o.local_dir = tmp.path / "local";
  s4db::basic_db<s4db::fs_store> db{store, o};
  BOOST_TEST(db.size() == 3u);
  BOOST_TEST(*db.get("hello") == "world");
  BOOST_TEST(db.get("k").value().empty());
  BOOST_TEST(*db.get("k1") == std::string(50, 'v'));
  db.download();
  db.rebuild_index();  // replaying the Python file gives the same index
  BOOST_TEST(db.size() == 3u);
  BOOST_TEST(*db.get("k1") == std::string(50, 'v'));
  db.put("more", "data");  // and appends where the Python writer left off
  BOOST_TEST(*db.get("hello") == "world");
}

BOOST_AUTO_TEST_CASE(a_local_only_python_database_opens_from_its_directory) {
  temp_dir tmp;
  fs::create_directories(tmp.path / "local");
  write_bytes(tmp.path / "local/data_000001.s4db", python_data_file());
  write_bytes(tmp.path / "local/index.idx", python_index());
  s4db::options o;
  o.local_dir = tmp.path / "local";
  s4db::basic_db<s4db::fs_store> db{s4db::fs_store{tmp.path / "empty-bucket"}, o};
  BOOST_TEST(*db.get("hello") == "world");
  BOOST_TEST(db.size() == 3u);
}

// Writes a database in `format_version`, then checks that the independent reader sees
// exactly its keys and values. With `through_format_3`, the database is converted to
// format 3, written there (a put and an erase), and converted back to 2 first.
void check_with_the_python_reader(int format_version, bool through_format_3 = false) {
  if (std::system("/usr/bin/python3 -c 'import snappy' 2>/dev/null") != 0) {
    BOOST_TEST_MESSAGE("SKIPPED LOUDLY: /usr/bin/python3 lacks python3-snappy; run ./scripts/setup.sh");
    BOOST_FAIL("python3-snappy is missing: the setup script installs it");
  }
  temp_dir tmp;
  s4db::options o;
  o.local_dir = tmp.path / "local";
  o.format_version = format_version;
  std::map<std::string, std::string> expected;
  {
    s4db::basic_db<s4db::fs_store> db{s4db::fs_store{tmp.path / "bucket"}, o};
    for (int i = 0; i < 50; ++i)
      expected["key" + std::to_string(i)] =
          std::string(static_cast<std::size_t>(i * 3), 'a' + static_cast<char>(i % 26));
    expected[std::string("bin\0\xff", 5)] = std::string("\x00\x01\x02", 3);
    expected["empty"] = "";
    expected["latin-1"] = "\xe9t\xe9";  // not UTF-8: format 2 flags it 0x04
    expected["snowman"] = "\xe2\x98\x83";
    db.put(expected);
    db.put("key7", "overwritten");
    expected["key7"] = "overwritten";
    db.erase("key8");
    expected.erase("key8");
    db.upload();  // the published database: the working copy's index is a checkpoint only s4db reads
  }
  if (through_format_3) {
    s4db::fs_store bucket{tmp.path / "bucket"};
    BOOST_TEST(s4db::convert_format(bucket, o, 3).keys == expected.size());
    auto three = o;
    three.format_version = 3;
    three.local_dir = tmp.path / "three";
    {
      s4db::basic_db<s4db::fs_store> db{bucket, three};
      db.put("written on format 3", "\x01\x02");
      expected["written on format 3"] = "\x01\x02";
      db.erase("key9");
      expected.erase("key9");
      db.upload();
    }
    BOOST_TEST(s4db::convert_format(bucket, three, 2).keys == expected.size());
  }
  std::ostringstream want;
  // next_file counts format 1's data files; format 2's live in a writer namespace.
  want << "{\"next_file\": " << (format_version == 1 ? 2 : 1) << ", \"items\": [";
  bool first = true;
  std::map<std::string, std::string> by_hex;
  for (const auto& [k, v] : expected) by_hex[hex(k)] = hex(v);
  for (const auto& [k, v] : by_hex) {
    want << (first ? "" : ", ") << "{\"key\": \"" << k << "\", \"value\": \"" << v << "\"}";
    first = false;
  }
  want << "]}\n";
  const std::string script = std::string(S4DB_TESTS_DIR) + "/compat/read_s4db.py";
  BOOST_TEST(run_command("/usr/bin/python3 " + script + " " + (tmp.path / "bucket").string()) == want.str());
}

BOOST_AUTO_TEST_CASE(a_database_written_here_reads_with_the_python_reader) { check_with_the_python_reader(2); }

BOOST_AUTO_TEST_CASE(a_format_1_database_written_here_reads_with_the_python_reader) { check_with_the_python_reader(1); }

// SPEC section 7: converting back gives a database Python reads, every value.
BOOST_AUTO_TEST_CASE(a_database_converted_to_format_3_written_and_converted_back_reads_with_the_python_reader) {
  check_with_the_python_reader(2, true);
}

BOOST_AUTO_TEST_SUITE_END()
