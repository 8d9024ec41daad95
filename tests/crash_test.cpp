// Crash safety, for real: a writer in a child process is killed with SIGKILL at random
// moments; reopening the same local_dir must find every put that had returned, with its
// value, and nothing corrupt. On format 3 the writer also uploads every 50 puts, so kills
// land in commits too, and a fresh reader of the store must read every published key.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <sstream>
#include <thread>

#include "support.hpp"

using namespace s4db_test;

namespace {

int crash_format = 2;  // the format the writers write

std::string value_for(std::uint64_t i, std::size_t pad = 0) {
  return "value-" + std::to_string(i) + std::string(i % 300 + pad, 'x');
}

// Child: opens the db, puts keys from `start` on, and after each put returns writes the
// key's number to the pipe. Saves the index often, so kills land in saves too.
[[noreturn]] void writer(const fs::path& local, std::uint64_t start, int ack, std::size_t pad = 0) {
  s4db::options o;
  o.local_dir = local;
  o.max_file_size = 64 * 1024;        // frequent rollovers
  o.index_save_interval = 16 * 1024;  // frequent index saves
  o.format_version = crash_format;
  o.log = [](s4db::log_level, std::string_view) {};
  s4db::basic_db<s4db::fs_store> db{s4db::fs_store{local.parent_path() / "bucket"}, o};
  for (std::uint64_t i = start;; ++i) {
    if (crash_format == 3 && i % 50 == 0) db.upload();
    if (i % 7 == 0)
      db.put({{"key-" + std::to_string(i), value_for(i, pad)}, {"batch-" + std::to_string(i), value_for(i, pad)}});
    else
      db.put("key-" + std::to_string(i), value_for(i, pad));
    if (i % 11 == 0 && i > 0) db.erase("key-" + std::to_string(i - 1));
    if (::write(ack, &i, sizeof i) != sizeof i) ::_exit(3);
  }
}

// The position in the data files the saved index covers, as local.state records it.
std::pair<std::uint64_t, std::uint64_t> covered(const fs::path& local) {
  std::istringstream in(read_bytes(local / "local.state"));
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("index ")) continue;
    std::istringstream words(line.substr(6));
    std::uint64_t size = 0, crc = 0, fnv = 0, file = 0, offset = 0;
    words >> size >> crc >> fnv >> file >> offset;
    return {file, offset};
  }
  return {0, 0};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(crash_safety)

// The periodic checkpoint is written by a background thread and installed by a later
// write: the saved position moves on with no flush or close, and a copy of the working
// copy taken between any two writes (what a crash leaves) opens to every write made
// before it, across a compaction (which cancels a checkpoint under way) too.
BOOST_AUTO_TEST_CASE(background_checkpoints_are_installed_and_a_crash_at_any_write_opens_whole) {
  temp_dir tmp;
  const fs::path local = tmp.path / "local";
  s4db::options o;
  o.local_dir = local;
  o.max_file_size = 256 * 1024;
  o.index_save_interval = 32 * 1024;
  o.log = [](s4db::log_level level, std::string_view message) {
    BOOST_TEST((level < s4db::log_level::warning), message);  // no checkpoint failed
  };
  s4db::basic_db<s4db::fs_store> db{s4db::fs_store{tmp.path / "bucket"}, o};
  std::map<std::string, std::string> model;
  auto put = [&](const std::string& key, const std::string& value) {
    db.put(key, value);
    model[key] = value;
  };
  put("first", "1");
  auto saved = covered(local);
  for (std::uint64_t i = 0; i < 20000; ++i) {
    put("key-" + std::to_string(i * 7919 % 5000), value_for(i));
    if (i % 13 == 0 && model.erase("key-" + std::to_string(i % 5000))) db.erase("key-" + std::to_string(i % 5000));
    if (i == 10000) {
      db.compact();
      saved = covered(local);  // from here on only the background moves it
    }
    if (i % 2500 != 2499) continue;
    const fs::path crashed = tmp.path / ("crashed-" + std::to_string(i));
    fs::create_directories(crashed);
    for (const auto& e : fs::directory_iterator(local))
      if (e.path().filename() != "LOCK") fs::copy_file(e.path(), crashed / e.path().filename());
    auto c = o;
    c.local_dir = crashed;
    s4db::basic_db<s4db::fs_store> reopened{s4db::fs_store{tmp.path / "bucket"}, c};
    BOOST_TEST(reopened.size() == model.size());
    for (const auto& [k, v] : model) BOOST_REQUIRE_MESSAGE(reopened.get(k) == v, k << " after write " << i);
  }
  for (int wait = 0; wait < 500 && covered(local) == saved; ++wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    put("tick", std::to_string(wait));
  }
  BOOST_TEST((covered(local) != saved), "no background checkpoint was installed");
}

// Kills a writer of `local` `rounds` times at random moments (up to `longest` µs after it
// starts), each time checking that every put it acknowledged is there, with its value.
void kill_rounds(const fs::path& local, int rounds, int longest, std::size_t pad) {
  std::mt19937 rng(std::random_device{}());
  std::uint64_t next = 0;
  for (int round = 0; round < rounds; ++round) {
    child_process child([&](int ack) { writer(local, next, ack, pad); });
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(2000, longest)(rng)));
    BOOST_REQUIRE(WIFSIGNALED(child.kill_and_wait()));
    const std::string acks = child.acknowledged();
    std::uint64_t acked = next;
    const bool any = acks.size() >= sizeof acked;
    if (any) std::memcpy(&acked, acks.data() + (acks.size() / sizeof acked - 1) * sizeof acked, sizeof acked);
    if (!any) continue;

    s4db::options o;
    o.local_dir = local;
    o.format_version = crash_format;
    o.log = [](s4db::log_level, std::string_view) {};
    if (crash_format == 3 && fs::exists(local.parent_path() / "bucket" / "manifest.s4m")) {
      auto fresh = o;
      fresh.local_dir.reset();
      s4db::basic_db<s4db::fs_store> reader{s4db::fs_store{local.parent_path() / "bucket"}, fresh};
      std::size_t read = 0;
      for (auto&& item : reader.items()) read += !item.first.empty();
      BOOST_TEST(read == reader.size());
    }
    s4db::basic_db<s4db::fs_store> db{s4db::fs_store{local.parent_path() / "bucket"}, o};
    for (std::uint64_t k = 0; k <= acked; ++k) {
      const auto key = "key-" + std::to_string(k);
      const bool erased = (k + 1) % 11 == 0 && k + 1 <= acked;
      // Step acked+1 may have erased `acked` before the kill, unacknowledged: either is right.
      const bool maybe_erased = (k + 1) % 11 == 0 && k == acked;
      const auto got = db.get(key);
      if (maybe_erased) {
        if (got) BOOST_TEST(*got == value_for(k, pad));
      } else if (erased) {
        BOOST_TEST(!got.has_value(), key << " was erased before the kill");
      } else {
        BOOST_REQUIRE_MESSAGE(got.has_value(), key << " acknowledged but lost in round " << round);
        BOOST_TEST(*got == value_for(k, pad));
      }
      if (k % 7 == 0) BOOST_TEST(db.get("batch-" + std::to_string(k)).value() == value_for(k, pad));
    }
    const auto live = db.size();
    db.rebuild_index();  // the files hold nothing corrupt before a torn tail, and agree
    BOOST_TEST(db.size() == live);
    next = acked + 1;
  }
  BOOST_TEST(next > 0u);
}

BOOST_AUTO_TEST_CASE(every_acknowledged_put_survives_sigkill) {
  temp_dir tmp;
  kill_rounds(tmp.path / "local", 25, 60000, 0);
}

BOOST_AUTO_TEST_CASE(every_acknowledged_put_survives_sigkill_on_format_3_with_commits) {
  temp_dir tmp;
  crash_format = 3;
  kill_rounds(tmp.path / "local", 25, 60000, 0);
  crash_format = 2;
}

// As above, with an index of 20,000 keys more and 2 KB values: a background checkpoint
// (about 1 MB, rolled forward every megabyte appended) is under way at most kills.
BOOST_AUTO_TEST_CASE(every_acknowledged_put_survives_sigkill_during_background_checkpoints) {
  temp_dir tmp;
  const fs::path local = tmp.path / "local";
  {
    s4db::options o;
    o.local_dir = local;
    s4db::basic_db<s4db::fs_store> db{s4db::fs_store{tmp.path / "bucket"}, o};
    std::vector<std::pair<std::string, std::string>> batch;
    for (int i = 0; i < 20000; ++i) batch.emplace_back("pre-" + std::to_string(i), std::to_string(i));
    db.put(batch);
  }
  kill_rounds(local, 15, 300000, 2000);
  s4db::options o;
  o.local_dir = local;
  o.log = [](s4db::log_level, std::string_view) {};
  s4db::basic_db<s4db::fs_store> db{s4db::fs_store{tmp.path / "bucket"}, o};
  for (int i = 0; i < 20000; i += 7) BOOST_REQUIRE(db.get("pre-" + std::to_string(i)) == std::to_string(i));
}

BOOST_AUTO_TEST_SUITE_END()
