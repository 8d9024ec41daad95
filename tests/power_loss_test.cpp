// Power loss, per sync_mode: a writer in a child process records every fsync the library
// makes (detail::sync_probe), acknowledges each put and each flush() through a pipe, and is
// killed at a random moment. The test then drops every byte of the data files that no
// fsync covered (a file never synced keeps its name and loses its bytes, as after a power
// cut once its directory was synced) and reopens:
//   - every_write: every acknowledged put is there;
//   - flush: every put acknowledged before the last acknowledged flush() is there;
//   - none: opening either works or throws corruption_error; never a wrong value.
// In every mode, any key that is there reads a value that was written for it. The same runs
// on format 3, whose writer also uploads every 40 puts.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "support.hpp"

using namespace s4db_test;

namespace {

int power_format = 2;  // the format the writer writes
int probe_log = -1;    // in the child: where sync_probe writes "path size" lines

void record_sync(const std::string& path, std::int64_t size) {
  const std::string line = path + " " + std::to_string(size) + "\n";
  if (::write(probe_log, line.data(), line.size()) < 0) ::_exit(5);
}

std::string value_for(int i) {
  return "value-" + std::to_string(i) + std::string(static_cast<std::size_t>(i % 50), 'p');
}

s4db::options options_for(const fs::path& local, s4db::sync_mode mode) {
  s4db::options o;
  o.local_dir = local;
  o.sync = mode;
  o.max_file_size = 4096;            // rollovers
  o.index_save_interval = 2 * 1024;  // periodic saves
  o.format_version = power_format;
  o.log = [](s4db::log_level, std::string_view) {};
  return o;
}

// Child: puts keys, acknowledging each ("p" + number) and each flush ("f" + number of the
// last put before it) on the pipe.
[[noreturn]] void writer(const fs::path& root, s4db::sync_mode mode, int ack) {
  probe_log = ::open((root / "synced").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  s4db::detail::sync_probe = &record_sync;
  s4db::basic_db<s4db::fs_store> db{s4db::fs_store{root / "bucket"}, options_for(root / "local", mode)};
  for (int i = 0;; ++i) {
    if (power_format == 3 && i % 40 == 39) db.upload();
    db.put("key-" + std::to_string(i), value_for(i));
    const std::string p = "p" + std::to_string(i) + "\n";
    if (::write(ack, p.data(), p.size()) < 0) ::_exit(3);
    if (i % 25 == 24) {
      db.flush();
      const std::string f = "f" + std::to_string(i) + "\n";
      if (::write(ack, f.data(), f.size()) < 0) ::_exit(3);
    }
  }
}

// Cuts every data file back to what its last fsync covered.
void drop_unsynced_bytes(const fs::path& root) {
  std::map<std::string, std::int64_t> synced;
  std::istringstream log(read_bytes(root / "synced"));
  for (std::string path, size; log >> path >> size;) synced[path] = std::stoll(size);
  for (const auto& name : data_files_in(root / "local")) {
    const auto path = root / "local" / name;
    const auto it = synced.find(path.string());
    const std::uint64_t keep = it == synced.end() ? 0 : static_cast<std::uint64_t>(it->second);
    if (fs::file_size(path) > keep) fs::resize_file(path, keep);
  }
}

const char* name_of(s4db::sync_mode mode) {
  switch (mode) {
    case s4db::sync_mode::none:
      return "none";
    case s4db::sync_mode::flush:
      return "flush";
    case s4db::sync_mode::every_write:
      return "every_write";
  }
  return "?";
}

struct round_result {
  bool opened = false;
};

round_result one_round(s4db::sync_mode mode, std::mt19937& rng) {
  temp_dir tmp;
  child_process child([&](int ack) { writer(tmp.path, mode, ack); });
  std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(20, 150)(rng)));
  child.kill_and_wait();
  const std::string acks = child.acknowledged();
  int last_put = -1, last_flush = -1;
  std::istringstream lines(acks);
  for (std::string line; std::getline(lines, line);)
    (line[0] == 'p' ? last_put : last_flush) = std::stoi(line.substr(1));

  drop_unsynced_bytes(tmp.path);
  round_result r;
  try {
    s4db::basic_db<s4db::fs_store> db{s4db::fs_store{tmp.path / "bucket"}, options_for(tmp.path / "local", mode)};
    r.opened = true;
    const int must_have = mode == s4db::sync_mode::every_write ? last_put
                          : mode == s4db::sync_mode::flush     ? last_flush
                                                               : -1;
    for (int i = 0; i <= std::max(last_put + 1, must_have); ++i) {
      const auto value = db.get("key-" + std::to_string(i));
      if (i <= must_have)
        BOOST_REQUIRE_MESSAGE(value, "lost acknowledged put " << i << " (sync mode " << name_of(mode) << ")");
      if (value) BOOST_REQUIRE(*value == value_for(i));
    }
    for (const auto& key : db.keys()) BOOST_REQUIRE(*db.get(key) == value_for(std::stoi(key.substr(4))));
  } catch (const s4db::corruption_error& e) {
    BOOST_REQUIRE_MESSAGE(mode == s4db::sync_mode::none,
                          "sync mode " << name_of(mode) << " did not reopen: " << e.what());
  }
  return r;
}

void power_cut_rounds() {
  std::mt19937 rng(std::random_device{}());
  const int rounds = std::getenv("S4DB_POWER_LOSS_ROUNDS") ? std::atoi(std::getenv("S4DB_POWER_LOSS_ROUNDS")) : 8;
  for (auto mode : {s4db::sync_mode::every_write, s4db::sync_mode::flush, s4db::sync_mode::none}) {
    int opened = 0;
    for (int round = 0; round < rounds; ++round) opened += one_round(mode, rng).opened;
    std::cout << "power loss, format " << power_format << ", sync mode " << name_of(mode) << ": " << rounds
              << " rounds, " << opened << " reopened, the rest refused with corruption_error\n";
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(power_loss)

BOOST_AUTO_TEST_CASE(each_sync_mode_keeps_what_it_promises) { power_cut_rounds(); }

BOOST_AUTO_TEST_CASE(each_sync_mode_keeps_what_it_promises_on_format_3) {
  power_format = 3;
  power_cut_rounds();
  power_format = 2;
}

BOOST_AUTO_TEST_SUITE_END()
