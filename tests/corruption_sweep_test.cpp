// Every byte of a small database flipped in turn, in the working copy (data files,
// index.idx, local.state) and in the store (data files, index.idx): opening and reading
// every key must give the right value or an s4db::error (corruption_error where the bytes
// are at fault), never a wrong value, a crash or another exception. A key may read as
// missing only when the flip hit a key byte of the store's index.idx: format version 1 has
// no checksum there (format v2 adds one). On format 3 the sweep also flips every byte of
// the manifest and of each index segment: none of them may lose a key either.
#include <iostream>

#include "support.hpp"

using namespace s4db_test;

namespace {

using db_type = s4db::basic_db<s4db::fs_store>;
int sweep_format = 2;  // the format written and read

const std::map<std::string, std::string>& expected() {
  static const std::map<std::string, std::string> values{
      {"alpha", "first value"}, {"beta", std::string(40, 'b')}, {"gamma", ""}, {"delta", "δ"}, {"k", "v"}};
  return values;
}

s4db::options opts(const std::optional<fs::path>& local) {
  s4db::options o;
  o.prefix = "db/";
  o.local_dir = local;
  o.max_file_size = 100;
  o.format_version = sweep_format;
  o.log = [](s4db::log_level, std::string_view) {};
  return o;
}

struct sweep_counts {
  std::size_t flips = 0, refused = 0, all_read = 0;
};

// Opens (a working copy at `local`, or a fresh reader when it is empty) and reads every
// key; checks no wrong value came back.
void open_and_read(const fs::path& bucket, const std::optional<fs::path>& local, bool may_lose_keys,
                   const std::string& what, sweep_counts& counts) {
  ++counts.flips;
  try {
    db_type db(s4db::fs_store{bucket}, opts(local));
    bool all = true;
    for (const auto& [key, value] : expected()) {
      try {
        const auto got = db.get(key);
        if (!got) {
          BOOST_CHECK_MESSAGE(may_lose_keys, what << ": key " << key << " reads as missing");
          all = false;
        } else {
          BOOST_CHECK_MESSAGE(*got == value, what << ": key " << key << " reads a wrong value");
        }
      } catch (const s4db::error&) {
        all = false;
      }
    }
    for (const auto& key : db.keys()) {
      try {
        if (auto got = db.get(key))
          BOOST_CHECK_MESSAGE(expected().contains(key) && *got == expected().at(key),
                              what << ": listed key reads a value never written");
      } catch (const s4db::error&) {
      }
    }
    counts.all_read += all;
  } catch (const s4db::error&) {
    ++counts.refused;
  } catch (const std::exception& e) {
    BOOST_ERROR(what << ": threw a non-s4db exception: " << e.what());
  }
}

void sweep_file(const fs::path& path, const std::function<void(const std::string&)>& check) {
  const std::string original = read_bytes(path);
  for (std::size_t i = 0; i < original.size(); ++i) {
    std::string bytes = original;
    bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
    write_bytes(path, bytes);
    check(path.filename().string() + " byte " + std::to_string(i));
  }
  write_bytes(path, original);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(corruption_sweep)

BOOST_AUTO_TEST_CASE(every_byte_flipped_gives_the_right_value_or_an_error) {
  temp_dir tmp;
  const auto bucket = tmp.path / "bucket", local = tmp.path / "local";
  {
    db_type db(s4db::fs_store{bucket}, opts(local));
    for (const auto& [key, value] : expected()) db.put(key, value);
    db.put("alpha", "overwritten");
    db.put("alpha", expected().at("alpha"));
    db.upload();
  }
  sweep_counts counts;
  auto check_copy = [&](const std::string& what) {
    open_and_read(bucket, local, false, "working copy " + what, counts);
  };
  for (const auto& name : data_files_in(local)) sweep_file(local / name, check_copy);
  sweep_file(local / "index.idx", check_copy);
  sweep_file(local / "local.state", check_copy);

  const auto store_dir = bucket / "db";
  auto check_store = [&](bool may_lose_keys) {
    return [&, may_lose_keys](const std::string& what) {
      open_and_read(bucket, std::nullopt, may_lose_keys, "store " + what, counts);
    };
  };
  for (const auto& name : data_files_in(store_dir)) sweep_file(store_dir / name, check_store(false));
  sweep_file(store_dir / "index.idx", check_store(true));

  std::cout << "corruption sweep: " << counts.flips << " bytes flipped one at a time: " << counts.all_read
            << " still read every key right, " << counts.refused << " refused to open, the rest gave errors; "
            << "no wrong value\n";
  BOOST_TEST(counts.flips > 500u);
}

// Issue 24, item 2: one damaged entry is one problem in verify(), naming its key; the
// entries after it are still checked; items({.salvage = true}) reads every other item,
// streamed or lazily, and counts the one it skipped.
BOOST_AUTO_TEST_CASE(every_byte_flipped_on_format_3_gives_the_right_value_or_an_error) {
  temp_dir tmp;
  sweep_format = 3;
  const auto bucket = tmp.path / "bucket", local = tmp.path / "local";
  {
    db_type db(s4db::fs_store{bucket}, opts(local));
    for (const auto& [key, value] : expected()) {
      db.put(key, value);
      if (key == "beta") db.upload();  // two segments, two commits
    }
    db.put("alpha", "overwritten");
    db.erase("k");
    db.put("k", expected().at("k"));
    db.put("alpha", expected().at("alpha"));
    db.upload();
  }
  sweep_counts counts;
  auto check_copy = [&](const std::string& what) {
    open_and_read(bucket, local, false, "format 3 working copy " + what, counts);
  };
  for (const auto& name : data_files_in(local)) sweep_file(local / name, check_copy);
  sweep_file(local / "local.state", check_copy);
  auto check_store = [&](const std::string& what) {
    open_and_read(bucket, std::nullopt, false, "format 3 store " + what, counts);
  };
  const auto store_dir = bucket / "db";
  std::size_t segments = 0;
  for (const auto& entry : fs::directory_iterator(store_dir)) {
    const auto name = entry.path().filename().string();
    segments += name.starts_with("segment_");
    sweep_file(entry.path(), check_store);
  }
  sweep_format = 2;
  std::cout << "corruption sweep, format 3: " << counts.flips << " bytes flipped one at a time (" << segments
            << " segments, the manifest, the data files, the working copy): " << counts.all_read
            << " still read every key right, " << counts.refused << " refused to open, the rest gave errors; "
            << "no wrong value\n";
  BOOST_TEST(segments == 2u);
  BOOST_TEST(counts.flips > 500u);
}

BOOST_AUTO_TEST_CASE(one_damaged_entry_is_one_problem_and_salvage_skips_only_it) {
  temp_dir bucket, local;
  s4db::options opt;
  opt.local_dir = local.path;
  opt.prefix = "db/";
  {
    db_type db(s4db::fs_store{bucket.path}, opt);
    for (int i = 0; i < 20; ++i) db.put("key" + std::to_string(10 + i), "value number " + std::to_string(i));
    db.upload();
  }
  const auto file = local.path / data_files_in(local.path).front();
  auto bytes = read_bytes(file);
  const auto at = bytes.find("key15");
  BOOST_REQUIRE(at != std::string::npos);
  bytes[at + 8] ^= 0x01;  // inside key15's value
  write_bytes(file, bytes);
  db_type db(s4db::fs_store{bucket.path}, opt);
  const auto problems = db.verify();
  BOOST_REQUIRE(problems.size() == 1u);
  BOOST_TEST(problems[0].what.find("key 'key15'") != std::string::npos, problems[0].what);
  BOOST_TEST(problems[0].offset < at);
  BOOST_CHECK_THROW(for (auto&& item : db.items())(void) item, s4db::corruption_error);
  for (const bool local_read : {true, false}) {
    auto items = db.items({.local = local_read, .salvage = true});
    std::map<std::string, std::string> seen;
    for (auto&& [k, v] : items) seen[k] = v;
    BOOST_TEST(seen.size() == 19u);
    BOOST_TEST(!seen.contains("key15"));
    BOOST_TEST(seen.at("key29") == "value number 19");
    BOOST_TEST(items.skipped() == 1u);
  }
}

BOOST_AUTO_TEST_SUITE_END()
