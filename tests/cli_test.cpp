// The s4db command-line tool, driven as a user would: the built binary, real files, real
// exit codes (docs/cli.md).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "fault_proxy.hpp"
#include "support.hpp"

using namespace s4db_test;

namespace {

struct outcome {
  int code = -1;
  std::string out, err;
};

std::string quoted(const std::string& arg) {
  std::string q = "'";
  for (char c : arg) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs the tool in `dir` with these arguments, this standard input and these extra
// environment variables ("NAME=value ...").
outcome s4db_cli(const fs::path& dir, const std::vector<std::string>& args, const std::string& input = "",
                 const std::string& env = "") {
  temp_dir io;
  write_bytes(io.path / "in", input);
  std::string command = "cd " + quoted(dir.string()) + " && env " + env + " " + quoted(S4DB_TOOL);
  for (const auto& a : args) command += " " + quoted(a);
  command += " < " + quoted((io.path / "in").string()) + " > " + quoted((io.path / "out").string()) + " 2> " +
             quoted((io.path / "err").string());
  const int status = std::system(command.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_bytes(io.path / "out"), read_bytes(io.path / "err")};
}

// The tool running in the background, as a shell would start it: in `dir`, with extra
// environment variables, its stdin a pipe this test writes to, stdout and stderr to files.
class running_cli {
 public:
  running_cli(const fs::path& dir, const std::vector<std::string>& args,
              const std::vector<std::pair<std::string, std::string>>& env) {
    int in[2];
    BOOST_REQUIRE(::pipe(in) == 0);
    const std::string out = (io_.path / "out").string(), err = (io_.path / "err").string();
    child_.emplace([&](int) {
      ::dup2(in[0], 0);
      ::close(in[0]);
      ::close(in[1]);
      if (!::freopen(out.c_str(), "w", stdout) || !::freopen(err.c_str(), "w", stderr)) ::_exit(126);
      for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
      if (::chdir(dir.c_str()) != 0) ::_exit(126);
      std::vector<char*> argv{const_cast<char*>(S4DB_TOOL)};
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(S4DB_TOOL, argv.data());
      ::_exit(127);
    });
    ::close(in[0]);
    stdin_ = in[1];
  }
  running_cli(const running_cli&) = delete;
  running_cli& operator=(const running_cli&) = delete;
  ~running_cli() {
    if (stdin_ >= 0) ::close(stdin_);
  }  // then child_ is killed, if still running, and reaped

  // Returns once the tool has read all but what the pipe holds (64 KiB).
  void write_stdin(const std::string& bytes) {
    for (std::size_t done = 0; done < bytes.size();) {
      const auto n = ::write(stdin_, bytes.data() + done, bytes.size() - done);
      BOOST_REQUIRE(n > 0);
      done += static_cast<std::size_t>(n);
    }
  }
  void close_stdin() { ::close(std::exchange(stdin_, -1)); }
  // Sends `signal` (SIGINT: a Ctrl-C) and returns the exit code, -1 if a signal ended the tool.
  int interrupt_and_wait(int signal = SIGINT) {
    const int status = child_->signal_and_wait(signal);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string err() const { return read_bytes(io_.path / "err"); }

 private:
  temp_dir io_;
  int stdin_ = -1;
  std::optional<child_process> child_;
};

// Polls `ready` for up to 60 s.
template <class Ready>
bool eventually(Ready&& ready) {
  for (int i = 0; i < 6000; ++i) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

std::size_t entries_in(const fs::path& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

std::size_t lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// The tool's cached working copies (cached_copy in tools/s4db.cpp) go in a directory of
// this test run, not in the user's ~/.cache.
struct tool_cache_of_this_run {
  tool_cache_of_this_run() { ::setenv("S4DB_CACHE_DIR", dir.path.c_str(), 1); }
  temp_dir dir;
};
BOOST_TEST_GLOBAL_FIXTURE(tool_cache_of_this_run);

std::vector<fs::path> data_files_under(const fs::path& dir) {
  std::vector<fs::path> out;
  if (fs::exists(dir))
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.path().extension() == ".s4db") out.push_back(e.path());
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(command_line_tool)

BOOST_AUTO_TEST_CASE(put_get_del_and_keys_on_the_default_local_directory) {
  temp_dir db;
  BOOST_TEST(s4db_cli(db.path, {"put", "hello", "world"}).code == 0);
  const auto got = s4db_cli(db.path, {"get", "hello"});
  BOOST_TEST(got.code == 0);
  BOOST_TEST(got.out == "world");
  BOOST_TEST(fs::exists(db.path / "index.idx"));  // published into the directory
  BOOST_TEST(s4db_cli(db.path, {"put", "help", "me"}).code == 0);
  BOOST_TEST(s4db_cli(db.path, {"keys"}).out == "hello\nhelp\n");
  BOOST_TEST(s4db_cli(db.path, {"keys", "--prefix", "hell"}).out == "hello\n");
  BOOST_TEST(s4db_cli(db.path, {"del", "hello", "absent"}).code == 0);
  const auto missing = s4db_cli(db.path, {"get", "hello"});
  BOOST_TEST(missing.code == 1);
  BOOST_TEST(missing.out.empty());
  BOOST_TEST(missing.err == "s4db: key not found: hello\n");
}

// Format 3 from the tool: its format read from the store, merge, checkpoints opened with
// --checkpoint (read-only), and convert both ways.
BOOST_AUTO_TEST_CASE(format_3_merge_checkpoints_and_convert) {
  temp_dir db;
  BOOST_TEST(s4db_cli(db.path, {"--format-version", "3", "put", "--create", "a", "1"}).code == 0);
  for (const char* key : {"b", "c", "d", "e"}) BOOST_TEST(s4db_cli(db.path, {"put", key, "2"}).code == 0);
  BOOST_TEST(fs::exists(db.path / "manifest.s4m"));  // no --format-version: read from the store
  BOOST_TEST(s4db_cli(db.path, {"stat"}).out.find("format            3: 5 index segments") != std::string::npos);
  const auto merged = s4db_cli(db.path, {"merge"});
  BOOST_TEST(merged.code == 0);
  BOOST_TEST(merged.out == "merged 5 segments in 1 merges; 1 segments now (5 before)\n");
  BOOST_TEST(s4db_cli(db.path, {"checkpoint", "before"}).code == 0);
  BOOST_TEST(s4db_cli(db.path, {"put", "a", "changed"}).code == 0);
  BOOST_TEST(s4db_cli(db.path, {"--checkpoint", "before", "get", "a"}).out == "1");
  BOOST_TEST(s4db_cli(db.path, {"get", "a"}).out == "changed");
  const auto refused = s4db_cli(db.path, {"--checkpoint", "before", "put", "a", "3"});
  BOOST_TEST(refused.code == 2);
  BOOST_TEST(refused.err.find("read-only") != std::string::npos);
  BOOST_TEST(s4db_cli(db.path, {"stat", "--json"}).out.find("\"checkpoints\":[\"before\"]") != std::string::npos);
  BOOST_TEST(s4db_cli(db.path, {"checkpoint", "before"}).code == 2);  // taken
  // compact without --local-dir on format 3: a merge and a rewrite, not a writer. The first
  // data file (a's first value) holds nothing live now: it goes to gc.
  const auto compacted = s4db_cli(db.path, {"compact"});
  BOOST_TEST(compacted.code == 0);
  BOOST_TEST(compacted.out ==
             "merged 0 segments (2 now); moved 0 live entries out of 0 sparse data files (24 bytes for gc)\n");
  BOOST_TEST(s4db_cli(db.path, {"--checkpoint", "before", "get", "a"}).out == "1");  // the pin keeps it
  BOOST_TEST(s4db_cli(db.path, {"convert", "--format", "2"}).code == 2);             // a checkpoint is pinned
  BOOST_TEST(s4db_cli(db.path, {"drop-checkpoint", "before"}).code == 0);
  BOOST_TEST(s4db_cli(db.path, {"drop-checkpoint", "before"}).code == 1);
  const auto to_2 = s4db_cli(db.path, {"convert", "--format", "2"});
  BOOST_TEST(to_2.out == "converted format 3 to 2 (5 keys)\n");
  BOOST_TEST(!fs::exists(db.path / "manifest.s4m"));
  BOOST_TEST(s4db_cli(db.path, {"keys"}).out == "a\nb\nc\nd\ne\n");
  BOOST_TEST(s4db_cli(db.path, {"merge"}).code == 2);  // format 2 has no segments
  BOOST_TEST(s4db_cli(db.path, {"convert", "--format", "3"}).out == "converted format 2 to 3 (5 keys)\n");
  BOOST_TEST(s4db_cli(db.path, {"get", "a"}).out == "changed");
  BOOST_TEST(s4db_cli(db.path, {"convert", "--format", "3"}).code == 2);
}

// keys, dump and del over a span of keys (db.scan(), erase_range(), erase_prefix()).
BOOST_AUTO_TEST_CASE(keys_dump_and_del_take_a_span_of_keys) {
  temp_dir db;
  BOOST_TEST(s4db_cli(db.path, {"put", "--create", "-"}, "a\t1\nb\t2\nc\t3\ntmp/x\t4\ntmp/y\t5\nu\t6\n").code == 0);
  BOOST_TEST(s4db_cli(db.path, {"keys", "--reverse"}).out == "u\ntmp/y\ntmp/x\nc\nb\na\n");
  BOOST_TEST(s4db_cli(db.path, {"keys", "--from", "b", "--to", "tmp/y"}).out == "b\nc\ntmp/x\n");
  BOOST_TEST(s4db_cli(db.path, {"keys", "--prefix", "tmp/", "--reverse", "--limit", "1"}).out == "tmp/y\n");
  BOOST_TEST(
      s4db_cli(db.path, {"dump", "--from", "c", "--to", "u", "--reverse"}).out ==
      "{\"key\":\"tmp/y\",\"value\":\"5\"}\n{\"key\":\"tmp/x\",\"value\":\"4\"}\n{\"key\":\"c\",\"value\":\"3\"}\n");
  const auto prefix = s4db_cli(db.path, {"del", "--prefix", "tmp/"});
  BOOST_TEST(prefix.code == 0);
  BOOST_TEST(prefix.err == "s4db: erased 2 keys\n");
  BOOST_TEST(s4db_cli(db.path, {"del", "--from", "b", "--to", "c"}).err == "s4db: erased 1 key\n");
  BOOST_TEST(s4db_cli(db.path, {"keys"}).out == "a\nc\nu\n");  // published: a new process reads it
  const auto backwards = s4db_cli(db.path, {"del", "--from", "z", "--to", "a"});
  BOOST_TEST(backwards.code == 2);
  BOOST_TEST(backwards.err.find("below the start") != std::string::npos, backwards.err);
  BOOST_TEST(s4db_cli(db.path, {"del"}).code == 2);
  BOOST_TEST(s4db_cli(db.path, {"del", "a", "--prefix", "c"}).code == 2);
  BOOST_TEST(s4db_cli(db.path, {"dump", "--from", "a", "--salvage"}).code == 2);
  BOOST_TEST(s4db_cli(db.path, {"del", "--from", "c"}).err == "s4db: erased 2 keys\n");
  BOOST_TEST(s4db_cli(db.path, {"keys"}).out == "a\n");
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_2_with_one_line) {
  temp_dir db;
  for (const auto& args : std::vector<std::vector<std::string>>{{},
                                                                {"get"},
                                                                {"frobnicate"},
                                                                {"--dir", ".", "--s3", "s3://b/p", "keys"},
                                                                {"--s3", "b/p", "keys"},
                                                                {"put", "a", "b", "c"}}) {
    const auto r = s4db_cli(db.path, args);
    BOOST_TEST(r.code == 2);
    BOOST_TEST(lines(r.err) == 1u, r.err);
    BOOST_TEST(r.err.starts_with("s4db: "), r.err);
  }
  const auto bad_stdin = s4db_cli(db.path, {"put", "-"}, "no tab here\n");
  BOOST_TEST(bad_stdin.code == 2);
  BOOST_TEST(bad_stdin.err.find("line 1") != std::string::npos);
  const auto wrong_type = s4db_cli(db.path, {"put", "-"}, "a\t1\n{\"key\": 1, \"value\": \"x\"}\n");
  BOOST_TEST(wrong_type.code == 2);
  BOOST_TEST(wrong_type.err == "s4db: stdin line 2: \"key\" must be a string\n");
  BOOST_TEST(s4db_cli(db.path, {"--help"}).code == 0);
}

BOOST_AUTO_TEST_CASE(version_unknown_commands_and_flags_after_the_command) {
  temp_dir cwd;
  const auto version = s4db_cli(cwd.path, {"--version"});
  BOOST_TEST(version.code == 0);
  BOOST_TEST(version.out.starts_with("s4db " + std::to_string(s4db::version_major) + "."), version.out);
  const auto unknown = s4db_cli(cwd.path, {"--dir", "x", "frob"});
  BOOST_TEST(unknown.code == 2);
  BOOST_TEST(unknown.err.find("unknown command 'frob'") != std::string::npos, unknown.err);
  BOOST_TEST(unknown.err.find("get, put, del, keys") != std::string::npos, unknown.err);
  fs::create_directories(cwd.path / "db");
  BOOST_TEST(s4db_cli(cwd.path, {"put", "k", "v", "--dir", "db"}).code == 0);  // global flag after the command
  BOOST_TEST(s4db_cli(cwd.path, {"keys", "--dir", "db"}).out == "k\n");
}

BOOST_AUTO_TEST_CASE(a_missing_database_is_exit_2_not_an_empty_one) {
  temp_dir cwd;
  for (const auto& command : std::vector<std::vector<std::string>>{
           {"keys"}, {"get", "k"}, {"dump"}, {"stat"}, {"verify"}, {"compact"}, {"put", "k", "v"}}) {
    auto args = command;
    args.insert(args.begin(), {"--dir", "typo"});
    const auto r = s4db_cli(cwd.path, args);
    BOOST_TEST(r.code == 2, command[0]);
    BOOST_TEST(r.err.find("no database at typo (no typo/index.idx and no data files there)") != std::string::npos,
               r.err);
  }
  BOOST_TEST(!fs::exists(cwd.path / "typo"));  // nothing was made
  write_bytes(cwd.path / "notes/readme.txt", "not a database");
  BOOST_TEST(s4db_cli(cwd.path, {"--dir", "notes", "put", "k", "v"}).code == 2);
  BOOST_TEST(s4db_cli(cwd.path, {"--dir", "notes", "put", "--create", "k", "v"}).code == 0);
  BOOST_TEST(s4db_cli(cwd.path, {"--dir", "notes", "get", "k"}).out == "v");
  BOOST_TEST(s4db_cli(cwd.path, {"--dir", "new", "put", "--create", "k", "v"}).code == 0);
  fs::create_directories(cwd.path / "empty");
  BOOST_TEST(s4db_cli(cwd.path, {"--dir", "empty", "put", "k", "v"}).code == 0);  // an empty directory will do
}

BOOST_AUTO_TEST_CASE(a_lost_index_is_reported_and_compact_and_gc_refuse) {
  temp_dir db;
  BOOST_TEST(s4db_cli(db.path, {"put", "a", "1"}).code == 0);
  BOOST_TEST(s4db_cli(db.path, {"put", "b", "2"}).code == 0);
  fs::remove(db.path / "index.idx");
  const auto files = data_files_in(db.path);
  BOOST_TEST(files.size() == 2u);
  const auto verify = s4db_cli(db.path, {"verify"});
  BOOST_TEST(verify.code == 3);
  BOOST_TEST(verify.out.find("index.idx at offset 0: missing: 2 data files") != std::string::npos, verify.out);
  const auto stat = s4db_cli(db.path, {"stat"});
  BOOST_TEST(stat.out.find("index             none: ") != std::string::npos, stat.out);
  BOOST_TEST(stat.out.find("compact reclaims") == std::string::npos, stat.out);
  for (const auto& command : std::vector<std::vector<std::string>>{{"compact"}, {"gc", "--grace", "0"}}) {
    const auto r = s4db_cli(db.path, command);
    BOOST_TEST(r.code == 2, command[0]);
    BOOST_TEST(r.err.find("2 data objects but no index.idx names them; nothing was changed") != std::string::npos,
               r.err);
    BOOST_TEST(data_files_in(db.path) == files);
    BOOST_TEST(!fs::exists(db.path / "index.idx"));
  }
  BOOST_TEST(s4db_cli(db.path, {"rebuild-index"}).code == 0);
  BOOST_TEST(s4db_cli(db.path, {"keys"}).out == "a\nb\n");
  // With an index, a data file it does not name (here: the index before "c" came) is a
  // note, not a failure.
  const auto before = read_bytes(db.path / "index.idx");
  BOOST_TEST(s4db_cli(db.path, {"put", "c", "3"}).code == 0);
  write_bytes(db.path / "index.idx", before);
  const auto noted = s4db_cli(db.path, {"verify"});
  BOOST_TEST(noted.code == 0, noted.out);
  BOOST_TEST(noted.out.find("note: 1 data files") != std::string::npos, noted.out);
}

BOOST_AUTO_TEST_CASE(values_from_a_file_or_stdin_and_json_output_are_binary_safe) {
  temp_dir db, elsewhere;
  const std::string bytes("line one\n\0\xff\r\nend", 16);
  const std::string file = (elsewhere.path / "value.bin").string();
  write_bytes(file, bytes);
  BOOST_TEST(s4db_cli(db.path, {"put", "from-file", "--file", file}).code == 0);
  BOOST_TEST(s4db_cli(db.path, {"put", "from-stdin", "--stdin"}, bytes).code == 0);
  BOOST_TEST(s4db_cli(db.path, {"get", "from-file"}).out == bytes);
  BOOST_TEST(s4db_cli(db.path, {"get", "from-stdin"}).out == bytes);
  BOOST_TEST(s4db_cli(db.path, {"put", "-"}, "{\"key_base64\": \"a2V5CmJyZWFr\", \"value\": \"v\"}\n").code == 0);
  BOOST_TEST(s4db_cli(db.path, {"keys", "--json"}).out ==
             "{\"key\":\"from-file\"}\n{\"key\":\"from-stdin\"}\n{\"key\":\"key\\nbreak\"}\n");
  BOOST_TEST(s4db_cli(db.path, {"get", "--json", "from-file"}).out ==
             "{\"key\":\"from-file\",\"value_base64\":\"bGluZSBvbmUKAP8NCmVuZA==\"}\n");
  for (const auto& args : std::vector<std::vector<std::string>>{{"put", "k", "v", "--stdin"},
                                                                {"put", "k", "--file", file, "--stdin"},
                                                                {"put", "-", "--stdin"},
                                                                {"put", "k", "--file", "absent.bin"}}) {
    const auto r = s4db_cli(db.path, args);
    BOOST_TEST(r.code == 2, r.err);
    BOOST_TEST(lines(r.err) == 1u, r.err);
  }
}

BOOST_AUTO_TEST_CASE(put_from_stdin_streams_in_batches) {
  temp_dir db;
  std::string input;
  const std::string value(1000, 'v');
  for (int i = 0; i < 20000; ++i) input += "key" + std::to_string(i) + "\t" + value + "\n";  // 20 MB: 3 batches
  BOOST_TEST(s4db_cli(db.path, {"put", "-"}, input).code == 0);
  BOOST_TEST(lines(s4db_cli(db.path, {"keys"}).out) == 20000u);
  BOOST_TEST(s4db_cli(db.path, {"get", "key19999"}).out == value);
  // A bad line after whole batches publishes nothing.
  BOOST_TEST(s4db_cli(db.path, {"put", "-"}, "new\tone\n" + input + "bad line\n").code == 2);
  BOOST_TEST(s4db_cli(db.path, {"get", "new"}).code == 1);
}

// Issue 18, item 8: one directory as both bucket and working copy is refused (exit 2),
// and the database still opens; an index.idx of 64 GiB (sparse) is exit 3 at once.
BOOST_AUTO_TEST_CASE(a_working_copy_in_the_bucket_is_refused_and_a_huge_index_is_exit_3) {
  temp_dir tmp;
  BOOST_TEST(s4db_cli(tmp.path, {"--dir", "db", "put", "--create", "k", "1"}).code == 0);
  for (const std::string local : {"db", "db/copy", "."}) {
    const auto r = s4db_cli(tmp.path, {"--dir", "db", "--local-dir", local, "put", "x", "2"});
    BOOST_TEST(r.code == 2);
    BOOST_TEST(r.err.find("--local-dir " + local + " ") != std::string::npos, r.err);
  }
  BOOST_TEST(s4db_cli(tmp.path, {"--dir", "db", "keys"}).out == "k\n");
  fs::resize_file(tmp.path / "db/index.idx", std::uintmax_t{64} << 30);
  const auto huge = s4db_cli(tmp.path, {"--dir", "db", "keys"});
  BOOST_TEST(huge.code == 3);
  BOOST_TEST(lines(huge.err) == 1u, huge.err);
}

BOOST_AUTO_TEST_CASE(a_conflict_names_the_flag_that_settles_it_and_a_garbage_index_is_exit_3) {
  temp_dir tmp;
  fs::create_directories(tmp.path / "db");
  BOOST_TEST(s4db_cli(tmp.path, {"--dir", "db", "put", "k", "1"}).code == 0);
  BOOST_TEST(s4db_cli(tmp.path, {"--dir", "db", "--local-dir", "mine", "--no-upload", "put", "mine", "1"}).code == 0);
  BOOST_TEST(s4db_cli(tmp.path, {"--dir", "db", "put", "theirs", "2"}).code == 0);
  const auto r = s4db_cli(tmp.path, {"--dir", "db", "--local-dir", "mine", "--on-conflict", "fail", "keys"});
  BOOST_TEST(r.code == 4);
  BOOST_TEST(r.err.find("run again with --on-conflict rebase, keep-local or take-store") != std::string::npos, r.err);
  BOOST_TEST(s4db_cli(tmp.path, {"--dir", "db", "--local-dir", "mine", "keys"}).out == "k\nmine\ntheirs\n");
  write_bytes(tmp.path / "db/index.idx", std::string("\x02\x00\x00\x00\x01\xff\xff\xff\xff", 9) + "garbage!");
  const auto garbage = s4db_cli(tmp.path, {"--dir", "db", "keys"});
  BOOST_TEST(garbage.code == 3);
  BOOST_TEST(lines(garbage.err) == 1u, garbage.err);
}

BOOST_AUTO_TEST_CASE(ctrl_c_exits_130_and_leaves_no_temporary_files_and_publishes_nothing) {
  temp_dir db, tmpdir;
  running_cli put(db.path, {"put", "-"}, {{"TMPDIR", tmpdir.path.string()}});
  put.write_stdin("a\t1\nb\t2\n");  // and stdin stays open: the tool waits for more
  BOOST_REQUIRE(eventually([&] { return entries_in(tmpdir.path) == 1u; }));  // its scratch directory
  BOOST_TEST(put.interrupt_and_wait() == 130);
  BOOST_TEST(put.err().find("s4db: interrupted") != std::string::npos, put.err());
  BOOST_TEST(entries_in(tmpdir.path) == 0u);
  BOOST_TEST(entries_in(db.path) == 0u);  // no index, no data file, no staging file
}

// Issue 18, item 9: put - reads and checks all of its input before it writes: a bad line
// after whole batches, or Ctrl-C after them, leaves the working copy as it was, and the
// next command publishes only its own write.
BOOST_AUTO_TEST_CASE(a_refused_or_interrupted_put_from_stdin_leaves_the_working_copy_as_it_was) {
  temp_dir tmp;
  const std::vector<std::string> at{"--dir", "db", "--local-dir", "copy"};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), at.begin(), at.end());
    return args;
  };
  BOOST_TEST(s4db_cli(tmp.path, with({"put", "--create", "k", "1"})).code == 0);
  std::string input;
  for (int i = 0; i < 10000; ++i) input += "load" + std::to_string(i) + "\t" + std::string(1000, 'v') + "\n";
  BOOST_TEST(s4db_cli(tmp.path, with({"put", "-"}), input + "bad line\n").code == 2);
  BOOST_TEST(s4db_cli(tmp.path, with({"put", "other", "1"})).code == 0);
  BOOST_TEST(s4db_cli(tmp.path, {"--dir", "db", "keys"}).out == "k\nother\n");
  {
    running_cli put(tmp.path, with({"put", "-"}), {});
    put.write_stdin(input);  // 10 MB, past the first batch; stdin stays open
    BOOST_TEST(put.interrupt_and_wait() == 130);
  }
  BOOST_TEST(s4db_cli(tmp.path, with({"put", "other", "2"})).code == 0);
  BOOST_TEST(s4db_cli(tmp.path, {"--dir", "db", "keys"}).out == "k\nother\n");
  BOOST_TEST(s4db_cli(tmp.path, with({"verify"})).code == 0);
}

// Issue 18, item 9: a signal that comes once the work cannot stop any more (the pairs
// are being written) stops nothing, and the exit code says so: 0, not 130.
BOOST_AUTO_TEST_CASE(a_signal_after_the_point_of_no_return_exits_with_what_happened) {
  temp_dir tmp;
  BOOST_TEST(s4db_cli(tmp.path, {"--dir", "db", "--local-dir", "copy", "put", "--create", "k", "1"}).code == 0);
  auto local_bytes = [&] {
    std::uintmax_t total = 0;
    for (const auto& f : data_files_in(tmp.path / "copy")) total += fs::file_size(tmp.path / "copy" / f);
    return total;
  };
  const auto before = local_bytes();
  std::string input;
  for (int i = 0; i < 40000; ++i) input += "load" + std::to_string(i) + "\t" + std::string(1000, 'v') + "\n";
  running_cli put(tmp.path, {"--dir", "db", "--local-dir", "copy", "put", "-"}, {});
  put.write_stdin(input);
  put.close_stdin();
  BOOST_REQUIRE(eventually([&] { return local_bytes() > before; }));  // writing has begun
  const int code = put.interrupt_and_wait(SIGTERM);
  BOOST_TEST(code == 0, put.err());
  BOOST_TEST(lines(s4db_cli(tmp.path, {"--dir", "db", "keys"}).out) == 40001u);
}

BOOST_AUTO_TEST_CASE(timeout_and_retries_bound_a_silent_endpoint) {
  // A socket that listens and never answers: connects succeed, requests stall.
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t size = sizeof address;
  BOOST_REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &size) == 0);
  BOOST_REQUIRE(::listen(listener, 16) == 0);
  temp_dir cwd;
  const auto r = s4db_cli(
      cwd.path,
      {"--s3", "s3://bucket/p", "--endpoint-url", "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)),
       "--timeout", "1", "--retries", "1", "keys"},
      "", "AWS_ACCESS_KEY_ID=id AWS_SECRET_ACCESS_KEY=secret");
  ::close(listener);
  BOOST_TEST(r.code == 4);
  BOOST_TEST(r.err.find("after 2 attempts") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(put_from_stdin_and_dump_are_binary_safe_and_round_trip) {
  temp_dir one, two;
  const std::string input =
      "tab\tseparated value\n{\"key\": \"json\", \"value\": \"line\"}\n"
      "{\"key_base64\": \"AP8B\", \"value_base64\": \"//4A\"}\n\nempty\t\n";
  BOOST_TEST(s4db_cli(one.path, {"put", "-"}, input).code == 0);
  BOOST_TEST(s4db_cli(one.path, {"get", "tab"}).out == "separated value");
  BOOST_TEST(s4db_cli(one.path, {"get", "json"}).out == "line");
  const auto dump = s4db_cli(one.path, {"dump"});
  BOOST_TEST(dump.code == 0);
  BOOST_TEST(lines(dump.out) == 4u);
  BOOST_TEST(dump.out.find("{\"key_base64\":\"AP8B\",\"value_base64\":\"//4A\"}") != std::string::npos, dump.out);
  BOOST_TEST(s4db_cli(two.path, {"put", "-"}, dump.out).code == 0);  // dump | put - copies a database
  auto sorted = [](std::string text) {
    std::vector<std::string> v;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) v.push_back(l);
    std::sort(v.begin(), v.end());
    return v;
  };
  BOOST_TEST(sorted(s4db_cli(two.path, {"dump"}).out) == sorted(dump.out));
}

BOOST_AUTO_TEST_CASE(stat_shows_dead_bytes_that_compact_reclaims) {
  temp_dir db;
  std::string input;
  for (int round = 0; round < 3; ++round)
    for (int i = 0; i < 20; ++i) input += "key" + std::to_string(i) + "\tvalue-" + std::to_string(round) + "\n";
  BOOST_TEST(s4db_cli(db.path, {"put", "-"}, input).code == 0);
  const auto before = s4db_cli(db.path, {"stat"});
  BOOST_TEST(before.code == 0);
  BOOST_TEST(before.out.find("keys              20\n") != std::string::npos, before.out);
  BOOST_TEST(before.out.find("bytes dead        0\n") == std::string::npos, before.out);
  BOOST_TEST(s4db_cli(db.path, {"compact"}).code == 0);
  const auto after = s4db_cli(db.path, {"stat"});
  BOOST_TEST(after.out.find("bytes dead        0\n") != std::string::npos, after.out);
  BOOST_TEST(s4db_cli(db.path, {"get", "key7"}).out == "value-2");
}

BOOST_AUTO_TEST_CASE(verify_names_the_file_and_offset_of_damage_and_exits_3) {
  temp_dir db;
  BOOST_TEST(s4db_cli(db.path, {"put", "-"}, "a\tfirst value\nb\tsecond value\n").code == 0);
  const auto clean = s4db_cli(db.path, {"verify"});
  BOOST_TEST(clean.code == 0);
  BOOST_TEST(clean.out.starts_with("ok"));
  const auto file = db.path / data_files_in(db.path).front();
  auto bytes = read_bytes(file);
  bytes[9 + 9 + 1] ^= 0x10;  // inside the value of the first entry, "a"
  write_bytes(file, bytes);
  const auto damaged = s4db_cli(db.path, {"verify"});
  BOOST_TEST(damaged.code == 3);
  BOOST_TEST(damaged.out.find(file.filename().string() + " at offset 9: CRC mismatch") != std::string::npos,
             damaged.out);
  const auto get = s4db_cli(db.path, {"get", "a"});
  BOOST_TEST(get.code == 3);
  BOOST_TEST(lines(get.err) == 1u);
}

// Issue 24, item 2: one flipped byte is reported once, with the one key it takes (the
// healthy entries after it are checked, not all reported "past the last whole entry"), and
// dump --salvage writes every other item, says how many it skipped, and exits 3.
BOOST_AUTO_TEST_CASE(one_damaged_entry_is_reported_once_and_dump_salvage_skips_it) {
  temp_dir db;
  std::string input;
  for (int i = 0; i < 50; ++i) input += "k" + std::to_string(100 + i) + "\tvalue " + std::to_string(i) + "\n";
  BOOST_TEST(s4db_cli(db.path, {"put", "-"}, input).code == 0);
  const auto file = db.path / data_files_in(db.path).front();
  auto bytes = read_bytes(file);
  const auto at = bytes.find("k110");
  BOOST_REQUIRE(at != std::string::npos);
  bytes[at + 6] ^= 0x10;  // inside the value of k110, the 11th entry
  write_bytes(file, bytes);
  const auto verified = s4db_cli(db.path, {"verify"});
  BOOST_TEST(verified.code == 3);
  BOOST_TEST(lines(verified.out) == 1u, verified.out);
  BOOST_TEST(verified.out.find("CRC mismatch") != std::string::npos, verified.out);
  BOOST_TEST(verified.out.find("key 'k110'") != std::string::npos, verified.out);
  BOOST_TEST(s4db_cli(db.path, {"get", "k149"}).out == "value 49");

  const auto stopped = s4db_cli(db.path, {"dump"});
  BOOST_TEST(stopped.code == 3);
  const auto salvaged = s4db_cli(db.path, {"dump", "--salvage"});
  BOOST_TEST(salvaged.code == 3);
  BOOST_TEST(lines(salvaged.out) == 49u);
  BOOST_TEST(salvaged.out.find("k110") == std::string::npos);
  BOOST_TEST(salvaged.out.find(R"({"key":"k149","value":"value 49"})") != std::string::npos);
  BOOST_TEST(salvaged.err.find("skipped 1 damaged entry of 50") != std::string::npos, salvaged.err);
}

// Issue 24, item 4: several keys to get, load, keys --limit, dump --prefix, stat --json, and
// argument errors said in the command's own words.
BOOST_AUTO_TEST_CASE(get_many_load_limit_prefix_stat_json_and_argument_errors) {
  temp_dir db;
  BOOST_TEST(s4db_cli(db.path, {"load"}, "a\t1\nb\t2\nuser:x\t3\nuser:y\t4\n").code == 0);
  const auto got = s4db_cli(db.path, {"get", "a", "missing", "user:x"});
  BOOST_TEST(got.code == 1);
  BOOST_TEST(got.out == "{\"key\":\"a\",\"value\":\"1\"}\n{\"key\":\"user:x\",\"value\":\"3\"}\n");
  BOOST_TEST(got.err == "s4db: key not found: missing\n");
  BOOST_TEST(s4db_cli(db.path, {"get", "a"}).out == "1");  // one key: its bytes, as before
  BOOST_TEST(s4db_cli(db.path, {"keys", "--limit", "2"}).out == "a\nb\n");
  BOOST_TEST(s4db_cli(db.path, {"keys", "--prefix", "user:", "--limit", "1"}).out == "user:x\n");
  const auto dumped = s4db_cli(db.path, {"dump", "--prefix", "user:"});
  BOOST_TEST(lines(dumped.out) == 2u);
  BOOST_TEST(dumped.out.find("\"a\"") == std::string::npos);
  const auto stat = s4db_cli(db.path, {"stat", "--json"});
  BOOST_TEST(stat.code == 0);
  const auto j = nlohmann::json::parse(stat.out);
  BOOST_TEST(j.at("keys").get<int>() == 4);
  BOOST_TEST(j.at("index_published").get<bool>());
  BOOST_TEST(j.at("dead_bytes").get<int>() == 0);
  const auto text = s4db_cli(db.path, {"stat"}).out;
  BOOST_TEST(text.find("conditional writes honoured by the store itself: fenced commits are safe") != std::string::npos,
             text);
  BOOST_TEST(j.at("conditional_writes").at("fenced_commits").get<bool>());
  BOOST_TEST(text.find("compact reclaims") != std::string::npos);
  BOOST_TEST(text.find("gc reclaims") != std::string::npos);
  const auto too_many = s4db_cli(db.path, {"put", "a", "b", "c"});
  BOOST_TEST(too_many.code == 2);
  BOOST_TEST(too_many.err ==
                 "s4db: put: wrong arguments; it takes KEY VALUE, KEY (with --file or --stdin), or - (pairs on stdin) "
                 "(s4db put --help)\n",
             too_many.err);
  BOOST_TEST(s4db_cli(db.path, {"get"}).err ==
             "s4db: get: missing arguments; it takes the keys to read (s4db get --help)\n");
  BOOST_TEST(s4db_cli(db.path, {"compact", "now"}).err == "s4db: compact: takes no arguments (s4db compact --help)\n");
  const auto help = s4db_cli(db.path, {"put", "--help"});
  BOOST_TEST(help.out.find("KEY VALUE, KEY (with --file or --stdin)") != std::string::npos, help.out);
}

// Issue 24, item 3: writes without --local-dir share this user's cached working copy, so
// one-off puts make one writer namespace, not one each; the cache keeps no data file,
// never holds unpublished writes between runs, and never carries a deleted database's keys
// into a new one; a second s4db at the same time writes through a temporary copy.
BOOST_AUTO_TEST_CASE(one_off_writes_share_one_writer_namespace) {
  temp_dir t;
  const fs::path db = t.path / "db", cache = t.path / "cache";
  const std::string env = "S4DB_CACHE_DIR=" + cache.string();
  auto writers = [&] {
    return nlohmann::json::parse(s4db_cli(db, {"stat", "--json"}, "", env).out).at("writers").get<int>();
  };
  fs::create_directories(db);
  BOOST_TEST(s4db_cli(db, {"put", "k0", "v0"}, "", env).code == 0);
  for (int i = 1; i < 10; ++i)
    BOOST_TEST(s4db_cli(db, {"put", "k" + std::to_string(i), "v" + std::to_string(i)}, "", env).code == 0);
  BOOST_TEST(s4db_cli(db, {"del", "k3"}, "", env).code == 0);
  BOOST_TEST(s4db_cli(db, {"load"}, "a\t1\nb\t2\n", env).code == 0);
  fs::create_directory_symlink(db, t.path / "link");  // the same database, named otherwise
  BOOST_TEST(s4db_cli(t.path, {"--dir", "link/", "put", "k9", "v9"}, "", env).code == 0);
  BOOST_TEST(writers() == 1);
  BOOST_TEST(data_files_under(db).size() == 13u);  // a data object is written once
  BOOST_TEST(data_files_under(cache).empty());     // the cache keeps the index, not the data
  BOOST_TEST(s4db_cli(db, {"keys"}, "", env).out == "a\nb\nk0\nk1\nk2\nk4\nk5\nk6\nk7\nk8\nk9\n");
  BOOST_TEST(s4db_cli(db, {"compact"}, "", env).code == 0);
  BOOST_TEST(data_files_under(cache).empty());  // the compacted file is the store's now
  BOOST_TEST(writers() == 1);
  BOOST_TEST(s4db_cli(db, {"get", "k7"}, "", env).out == "v7");
  BOOST_TEST(s4db_cli(db, {"--no-cache", "put", "x", "1"}, "", env).code == 0);
  BOOST_TEST(writers() == 2);

  {  // Another s4db holds the cached copy (a load still reading its input): this put
    // writes through a temporary copy, in a namespace of its own, and waits for nobody.
    running_cli loading(db, {"load"}, {{"S4DB_CACHE_DIR", cache.string()}});
    loading.write_stdin("slow\tload\n");
    BOOST_REQUIRE(entries_in(cache) == 1u);
    const fs::path lock = fs::directory_iterator(cache)->path() / "lock";
    BOOST_TEST(eventually([&] { return !s4db::detail::file_lock::try_lock(lock); }));
    BOOST_TEST(s4db_cli(db, {"put", "y", "2"}, "", env).code == 0);
    loading.close_stdin();
    BOOST_TEST(loading.interrupt_and_wait(0) == 0);
  }
  BOOST_TEST(writers() == 3);
  BOOST_TEST(*s4db_cli(db, {"get", "slow"}, "", env).out.data() == 'l');
  BOOST_TEST(s4db_cli(db, {"get", "y"}, "", env).out == "2");

  // --no-upload: the writes move aside with the cached copy, and are published from there.
  const auto local = s4db_cli(db, {"--no-upload", "put", "z", "3"}, "", env);
  BOOST_TEST(local.code == 0);
  const auto at = local.err.find("--local-dir ");
  BOOST_REQUIRE_MESSAGE(at != std::string::npos, local.err);
  const std::string kept = local.err.substr(at + 12, local.err.find(' ', at + 12) - at - 12);
  BOOST_TEST(s4db_cli(db, {"get", "z"}, "", env).code == 1);
  BOOST_TEST(s4db_cli(db, {"put", "after", "4"}, "", env).code == 0);  // a fresh cached copy
  BOOST_TEST(s4db_cli(db, {"get", "z"}, "", env).code == 1);
  BOOST_TEST(s4db_cli(db, {"--local-dir", kept, "upload"}, "", env).code == 0);
  BOOST_TEST(s4db_cli(db, {"get", "z"}, "", env).out == "3");
  BOOST_TEST(s4db_cli(db, {"get", "after"}, "", env).out == "4");

  // A damaged cached copy moves aside too: the store is whole, so the command goes on.
  const fs::path cached_index = fs::directory_iterator(cache)->path() / "copy" / "index.idx";
  BOOST_REQUIRE(fs::exists(cached_index));
  write_bytes(cached_index, "not an index");
  const auto damaged = s4db_cli(db, {"put", "over", "5"}, "", env);
  BOOST_TEST(damaged.code == 0, damaged.err);
  BOOST_TEST(damaged.err.find("the cached working copy does not open") != std::string::npos, damaged.err);
  BOOST_TEST(s4db_cli(db, {"get", "over"}, "", env).out == "5");
  BOOST_TEST(s4db_cli(db, {"get", "after"}, "", env).out == "4");

  // A database deleted and made again at the same place starts from nothing.
  fs::remove_all(db);
  fs::create_directories(db);
  BOOST_TEST(s4db_cli(db, {"put", "new", "1"}, "", env).code == 0);
  BOOST_TEST(s4db_cli(db, {"keys"}, "", env).out == "new\n");
}

BOOST_AUTO_TEST_CASE(rebuild_index_and_a_python_written_database) {
  temp_dir db;
  write_bytes(db.path / "data_000001.s4db", python_data_file());
  write_bytes(db.path / "index.idx", python_index());
  BOOST_TEST(s4db_cli(db.path, {"get", "hello"}).out == "world");
  BOOST_TEST(s4db_cli(db.path, {"keys"}).out == "hello\nk\nk1\n");
  BOOST_TEST(s4db_cli(db.path, {"verify"}).code == 0);
  temp_dir work;
  BOOST_TEST(s4db_cli(db.path, {"--local-dir", work.path.string(), "download"}).code == 0);
  BOOST_TEST(s4db_cli(db.path, {"--local-dir", work.path.string(), "rebuild-index"}).code == 0);
  BOOST_TEST(s4db_cli(db.path, {"get", "k1"}).out == std::string(50, 'v'));
}

// Issue 7, item 8: without --local-dir, rebuild-index published an empty index over a
// healthy database, and the next put overwrote data_000001.s4db.
BOOST_AUTO_TEST_CASE(rebuild_index_without_a_local_dir_keeps_every_key) {
  temp_dir db;
  for (int i = 0; i < 5; ++i) BOOST_TEST(s4db_cli(db.path, {"put", "k" + std::to_string(i), "v"}).code == 0);
  const auto rebuilt = s4db_cli(db.path, {"rebuild-index"});
  BOOST_TEST(rebuilt.code == 0, rebuilt.err);
  BOOST_TEST(s4db_cli(db.path, {"put", "k9", "v"}).code == 0);
  BOOST_TEST(s4db_cli(db.path, {"keys"}).out == "k0\nk1\nk2\nk3\nk4\nk9\n");
  BOOST_TEST(s4db_cli(db.path, {"verify"}).code == 0);
}

// A rebuild that would drop published keys is not uploaded without --allow-drop.
BOOST_AUTO_TEST_CASE(rebuild_index_that_drops_keys_is_not_published) {
  temp_dir db;
  BOOST_TEST(s4db_cli(db.path, {"--format-version", "1", "put", "a", "1"}).code == 0);
  BOOST_TEST(s4db_cli(db.path, {"--format-version", "1", "put", "b", "2"}).code == 0);
  for (const auto& f : data_files_in(db.path))
    if (f != "data_000001.s4db") fs::remove(db.path / f);  // b's file is lost
  const auto refused = s4db_cli(db.path, {"rebuild-index"});
  BOOST_TEST(refused.code == 2, refused.err);
  BOOST_TEST(refused.err.find("lacks 1 keys") != std::string::npos, refused.err);
  BOOST_TEST(s4db_cli(db.path, {"keys"}).out == "a\nb\n");  // the published index is untouched
}

// Issue 7, item 9: parallel writers on one working copy lost writes and corrupted the
// index. Now one db holds the copy at a time; the others fail with exit 2, and every put
// that exited 0 is there.
BOOST_AUTO_TEST_CASE(parallel_puts_on_one_working_copy_never_lose_an_acknowledged_write) {
  temp_dir db, work;
  std::vector<std::string> commands;
  std::string script;
  for (int i = 0; i < 8; ++i)
    script += "(" + quoted(S4DB_TOOL) + " --dir " + quoted(db.path.string()) + " --local-dir " +
              quoted(work.path.string()) + " --no-upload put k" + std::to_string(i) + " v" + std::to_string(i) +
              " 2>/dev/null; echo \"k" + std::to_string(i) + " $?\") & ";
  script += "wait";
  const std::string results = run_command(script);
  std::istringstream in(results);
  int ok = 0;
  for (std::string key, code; in >> key >> code;) {
    BOOST_TEST((code == "0" || code == "2"), key << " exited " << code);
    if (code != "0") continue;
    ++ok;
    BOOST_TEST(s4db_cli(db.path, {"--local-dir", work.path.string(), "get", key}).out == "v" + key.substr(1));
  }
  BOOST_TEST(ok >= 1);
  BOOST_TEST(s4db_cli(db.path, {"--local-dir", work.path.string(), "verify"}).code == 0);
}

BOOST_AUTO_TEST_CASE(a_dead_store_is_exit_4_with_one_line) {
  temp_dir db;
  const auto r = s4db_cli(db.path, {"--s3", "s3://bucket/prefix", "--endpoint", "http://127.0.0.1:9", "keys"}, "",
                          "AWS_ACCESS_KEY_ID=id AWS_SECRET_ACCESS_KEY=secret");
  BOOST_TEST(r.code == 4);
  BOOST_TEST(lines(r.err) == 1u, r.err);
  BOOST_TEST(r.err.find("s3://bucket/prefix/index.idx") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(progress_is_drawn_on_a_terminal_only) {
  temp_dir db, work;
  std::string input;
  for (int i = 0; i < 2000; ++i) input += "key" + std::to_string(i) + "\t" + std::string(100, 'x') + "\n";
  const auto quiet_put = s4db_cli(db.path, {"put", "-"}, input);
  BOOST_TEST(quiet_put.code == 0);
  BOOST_TEST(quiet_put.err.empty(), quiet_put.err);
  const auto quiet = s4db_cli(db.path, {"--local-dir", work.path.string(), "download"});
  BOOST_TEST(quiet.code == 0);
  BOOST_TEST(quiet.err.empty(), quiet.err);
  // `script` gives the tool a pseudo-terminal, as an interactive user has.
  temp_dir work2;
  const std::string command = "cd " + quoted(db.path.string()) + " && script -qec " +
                              quoted(std::string(S4DB_TOOL) + " --local-dir " + work2.path.string() + " verify") +
                              " /dev/null";
  const std::string seen = run_command(command);
  BOOST_TEST(seen.find("verify    [") != std::string::npos, seen);
  BOOST_TEST(seen.find("100%") != std::string::npos, seen);
  BOOST_TEST(seen.find("MB/s") != std::string::npos, seen);
  // put - counts the pairs it has written.
  temp_dir inputs;
  write_bytes(inputs.path / "more.tsv", input);
  const std::string counted = run_command(
      "cd " + quoted(db.path.string()) + " && script -qec " +
      quoted(std::string(S4DB_TOOL) + " put - < " + quoted((inputs.path / "more.tsv").string())) + " /dev/null");
  BOOST_TEST(counted.find("put       2000 pairs") != std::string::npos, counted);
}

// Issue 8: two working copies on one database, refresh, gc and stat's writers.
BOOST_AUTO_TEST_CASE(two_writers_refresh_gc_and_stat) {
  temp_dir db, a, b;
  BOOST_TEST(s4db_cli(db.path, {"--local-dir", a.path.string(), "--no-upload", "put", "from-a", "1"}).code == 0);
  BOOST_TEST(s4db_cli(db.path, {"--local-dir", b.path.string(), "put", "from-b", "2"}).code == 0);
  const auto refreshed = s4db_cli(db.path, {"--local-dir", a.path.string(), "refresh"});
  BOOST_TEST(refreshed.out == "adopted the newer published index (on opening)\n", refreshed.err);
  BOOST_TEST(s4db_cli(db.path, {"--local-dir", a.path.string(), "refresh"}).out == "up to date\n");
  BOOST_TEST(s4db_cli(db.path, {"--local-dir", a.path.string(), "get", "from-b"}).out == "2");
  BOOST_TEST(s4db_cli(db.path, {"--local-dir", a.path.string(), "upload"}).code == 0);
  BOOST_TEST(s4db_cli(db.path, {"keys"}).out == "from-a\nfrom-b\n");
  // b's copy, with nothing unpublished, takes a's commit when it opens.
  BOOST_TEST(s4db_cli(db.path, {"--local-dir", b.path.string(), "refresh"}).out ==
             "adopted the newer published index (on opening)\n");
  const auto stat = s4db_cli(db.path, {"stat"}).out;
  BOOST_TEST(stat.find("writers           2 ") != std::string::npos, stat);
  write_bytes(db.path / "data_0000dead_000001.s4db", "S4DB\x02orphan");
  BOOST_TEST(s4db_cli(db.path, {"gc"}).out == "");  // younger than a day
  BOOST_TEST(s4db_cli(db.path, {"gc", "--grace", "0"}).out == "data_0000dead_000001.s4db\n");
  BOOST_TEST(s4db_cli(db.path, {"keys"}).out == "from-a\nfrom-b\n");
  BOOST_TEST(s4db_cli(db.path, {"--format-version", "3", "keys"}).code == 2);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(s3_command_line_tool, *boost::unit_test::precondition(s3_server_given))

// The tool's words for where the database is, and --no-fence where the server does not fence.
std::vector<std::string> s3_location(const std::string& url, const std::string& endpoint) {
  std::vector<std::string> where{"--s3", url, "--endpoint", endpoint};
  if (!test_server_fencing().fences()) where.push_back("--no-fence");
  return where;
}

BOOST_AUTO_TEST_CASE(the_tool_works_on_an_s3_database) {
  temp_dir cwd;
  const std::string url = "s3://" + test_s3_config().bucket + "/" + unique_prefix("cli");
  const auto where = s3_location(url, test_s3_config().endpoint.value());
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), where.begin(), where.end());
    return args;
  };
  BOOST_TEST(s4db_cli(cwd.path, with({"keys"})).code == 2);  // nothing there yet
  BOOST_TEST(s4db_cli(cwd.path, with({"put", "a", "1"})).code == 2);
  BOOST_TEST(s4db_cli(cwd.path, with({"put", "--create", "-"}), "a\t1\nb\t2\nc\t3\n").code == 0);
  BOOST_TEST(s4db_cli(cwd.path, with({"put", "a", "one"})).code == 0);
  BOOST_TEST(s4db_cli(cwd.path, with({"get", "a"})).out == "one");
  BOOST_TEST(s4db_cli(cwd.path, with({"keys"})).out == "a\nb\nc\n");
  BOOST_TEST(s4db_cli(cwd.path, with({"verify"})).code == 0);
  BOOST_TEST(s4db_cli(cwd.path, with({"compact"})).code == 0);
  // The old objects stay for gc (another writer may still read them), which deletes them.
  const auto compacted = s4db_cli(cwd.path, with({"stat"}));
  BOOST_TEST(compacted.out.find("in 2 files (objects the index does not name") != std::string::npos, compacted.out);
  BOOST_TEST(lines(s4db_cli(cwd.path, with({"gc", "--grace", "0"})).out) == 2u);
  const auto stat = s4db_cli(cwd.path, with({"stat"}));
  BOOST_TEST(stat.out.find("data files        1 (0 local)") != std::string::npos, stat.out);
  temp_dir mirror;
  BOOST_TEST(s4db_cli(cwd.path, with({"--local-dir", mirror.path.string(), "download"})).code == 0);
  BOOST_TEST(data_files_in(mirror.path).size() == 1u);
  BOOST_TEST(s4db_cli(cwd.path, with({"get", "zzz"})).code == 1);
}

// Issue 23: stat says what the server's conditional writes are worth; where they are not
// honoured, a write without --no-fence is refused before anything is written (exit 2).
BOOST_AUTO_TEST_CASE(the_tool_says_whether_the_server_fences_and_refuses_an_unfenced_commit) {
  temp_dir cwd;
  const auto report = test_server_fencing();
  const std::string url = "s3://" + test_s3_config().bucket + "/" + unique_prefix("cli-fence");
  const std::vector<std::string> where{"--s3", url, "--endpoint", test_s3_config().endpoint.value()};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), where.begin(), where.end());
    return args;
  };
  const auto put = s4db_cli(cwd.path, with({"put", "--create", "k", "v"}));
  if (report.fences()) {
    BOOST_TEST(put.code == 0, put.err);
  } else {
    BOOST_TEST(put.code == 2);
    BOOST_TEST(put.err.find("does not honour conditional writes") != std::string::npos, put.err);
    BOOST_TEST(put.err.find("--no-fence") != std::string::npos, put.err);
    BOOST_TEST(s4db::s3_store{test_s3_config()}.list(url.substr(url.find('/', 5) + 1)).empty());
    BOOST_TEST(s4db_cli(cwd.path, with({"--no-fence", "put", "--create", "k", "v"})).code == 0);
  }
  const auto stat = s4db_cli(cwd.path, with({"stat"}));
  BOOST_TEST(stat.out.find("conditional writes " + report.summary()) != std::string::npos, stat.out);
  BOOST_TEST(stat.out.find(report.fences() ? "fenced commits are safe" : "use --no-fence") != std::string::npos,
             stat.out);
  const auto json = nlohmann::json::parse(s4db_cli(cwd.path, with({"stat", "--json"})).out);
  BOOST_TEST(json["conditional_writes"]["fenced_commits"].get<bool>() == report.fences());
  BOOST_TEST(json["conditional_writes"]["multipart"].get<bool>() == report.multipart);
}

BOOST_AUTO_TEST_CASE(ctrl_c_aborts_an_unfinished_multipart_upload) {
  const auto config = test_s3_config();
  s4db_test::fault_proxy proxy(config.endpoint.value());
  proxy.delay_requests(std::chrono::milliseconds(200));
  temp_dir cwd, tmpdir;
  const std::string prefix = unique_prefix("cli-interrupt");
  std::string value(70 << 20, '\0');  // above the 64 MiB multipart threshold, and incompressible
  std::mt19937_64 rng(7);
  for (std::size_t i = 0; i + 8 <= value.size(); i += 8) {
    const auto word = rng();
    std::memcpy(value.data() + i, &word, 8);
  }
  write_bytes(cwd.path / "big.bin", value);
  // --no-fence: a conditional upload stays one PUT on a server whose multipart completion does
  // not fence (Ceph RGW 16); unconditional, it goes in parts everywhere.
  const std::vector<std::string> args{"--s3",       "s3://" + config.bucket + "/" + prefix,
                                      "--endpoint", proxy.endpoint(),
                                      "--no-fence", "put",
                                      "--create",   "big",
                                      "--file",     "big.bin"};
  running_cli put(cwd.path, args, {{"TMPDIR", tmpdir.path.string()}});
  auto requests_with = [&](const std::string& text) {
    std::size_t n = 0;
    for (const auto& request : proxy.requests()) n += request.find(text) != std::string::npos;
    return n;
  };
  BOOST_REQUIRE(eventually([&] { return requests_with("partNumber=1&") > 0; }));
  BOOST_TEST(put.interrupt_and_wait() == 130);
  BOOST_TEST(put.err().find("s4db: interrupted") != std::string::npos, put.err());
  BOOST_TEST(requests_with("DELETE ") == 1u);  // the multipart upload was aborted
  BOOST_TEST(requests_with("uploadId=") >= 2u);
  BOOST_TEST(entries_in(tmpdir.path) == 0u);
  BOOST_TEST(s4db::s3_store{config}.list(prefix).empty());  // nothing published
}

BOOST_AUTO_TEST_CASE(dump_on_s3_fetches_files_not_one_request_per_key) {
  const auto config = test_s3_config();
  s4db_test::fault_proxy proxy(config.endpoint.value());
  temp_dir cwd;
  const std::string url = "s3://" + config.bucket + "/" + unique_prefix("cli-dump");
  const auto where = s3_location(url, proxy.endpoint());
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), where.begin(), where.end());
    return args;
  };
  std::string input;
  for (int i = 0; i < 200; ++i) input += "k" + std::to_string(i) + "\tvalue " + std::to_string(i) + "\n";
  BOOST_TEST(s4db_cli(cwd.path, with({"put", "--create", "-"}), input).code == 0);
  proxy.clear();
  const auto dump = s4db_cli(cwd.path, with({"dump"}));
  BOOST_TEST(dump.code == 0, dump.err);
  BOOST_TEST(lines(dump.out) == 200u);
  std::size_t gets = 0;
  for (const auto& request : proxy.requests()) gets += request.starts_with("GET ");
  BOOST_TEST(gets <= 5u, gets << " GETs for 200 keys in one data file");
}

BOOST_AUTO_TEST_SUITE_END()
