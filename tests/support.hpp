// Shared by the tests: a temporary directory per test, the policy combinations every
// behaviour test runs over, and helpers to look at real files and real store objects.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <s4db/s4db.hpp>
#include <s4db/store/s3.hpp>
#include <string>
#include <vector>

namespace s4db_test {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed when the test ends.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "s4db-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = pattern;
  }
  ~temp_dir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

inline std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// How many keys a working copy's saved index holds: a checkpoint or a published-format index.
inline std::size_t saved_keys(const fs::path& index) {
  const auto bytes = read_bytes(index);
  if (auto checkpoint = s4db::detail::compact_map<s4db::location>::from_checkpoint(bytes)) return checkpoint->size();
  std::size_t keys = 0;
  s4db::format::decode_index(bytes, index.string(), [&](auto, auto) { ++keys; });
  return keys;
}

inline void write_bytes(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string unhex(std::string_view hex) {
  std::string out;
  int high = -1;
  for (char c : hex) {
    if (c == ' ') continue;
    const int v = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<char>(high * 16 + v));
      high = -1;
    }
  }
  return out;
}

// Runs a shell command; returns what it printed on stdout. It must succeed.
inline std::string run_command(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  BOOST_REQUIRE_MESSAGE(pipe, "cannot run: " << command);
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  BOOST_REQUIRE_MESSAGE(::pclose(pipe) == 0, "command failed: " << command);
  return out;
}

// A child process running body(ack_fd): the child reports progress by writing to ack_fd
// and ends by _exit or by being killed; the parent reads the reports once it is gone.
class child_process {
 public:
  template <class Body>
  explicit child_process(Body&& body) {
    std::cout.flush();  // else the child may print the parent's buffered output again
    std::fflush(nullptr);
    int fds[2];
    BOOST_REQUIRE(::pipe(fds) == 0);
    pid_ = ::fork();
    BOOST_REQUIRE(pid_ >= 0);
    if (pid_ == 0) {  // nothing may leave the child but _exit: not even an exception
      ::close(fds[0]);
      // Boost.Test's handlers would longjmp a crashing child back into the parent's test
      // run; with the defaults a crash ends the child and its wait status names the signal.
      for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS}) ::signal(sig, SIG_DFL);
      try {
        body(fds[1]);
      } catch (...) {
        ::_exit(99);
      }
      ::_exit(0);
    }
    ::close(fds[1]);
    acks_ = fds[0];
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() {
    if (pid_ > 0) kill_and_wait();
    ::close(acks_);
  }

  // Waits for the child to end; returns its wait status.
  int wait() {
    int status = 0;
    ::waitpid(std::exchange(pid_, -1), &status, 0);
    return status;
  }
  int kill_and_wait() { return signal_and_wait(SIGKILL); }
  int signal_and_wait(int signal) {
    ::kill(pid_, signal);
    return wait();
  }
  // A wait status in words: "exit 0", "exit 99", "signal 11 (Segmentation fault)".
  static std::string describe(int status) {
    if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
      return "signal " + std::to_string(WTERMSIG(status)) + " (" + ::strsignal(WTERMSIG(status)) + ")";
    return "wait status " + std::to_string(status);
  }
  // Everything the child wrote to its ack_fd (call after it ended).
  std::string acknowledged() {
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(acks_, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }

 private:
  pid_t pid_ = -1;
  int acks_ = -1;
};

// The data file names in a directory, sorted.
inline std::vector<std::string> data_files_in(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (s4db::format::parse_data_file_name(e.path().filename().string())) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// The data file names the store holds under prefix, sorted.
template <class Store>
std::vector<std::string> data_objects_in(Store& store, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& o : store.list(prefix)) {
    auto name = o.key.substr(prefix.size());
    if (s4db::format::parse_data_file_name(name)) out.push_back(name);
  }
  return out;
}

// A real store with a tally in front: counts the calls that reach it.
template <class Store>
class counting_store {
 public:
  struct tally {
    std::atomic<int> gets{0}, ranges{0}, puts{0}, put_files{0}, get_files{0}, heads{0}, removes{0}, lists{0};
    std::atomic<std::uint64_t> bytes_down{0}, bytes_up{0};
    int requests() const { return gets + ranges + puts + put_files + get_files + heads + removes + lists; }
    std::mutex mutex;
    std::vector<std::string> writes;  // "put KEY", "remove KEY", in the order they reached the store
    void record(std::string what) {
      std::lock_guard lock(mutex);
      writes.push_back(std::move(what));
    }
  };
  explicit counting_store(Store inner) : inner_(std::move(inner)) {}
  std::optional<s4db::object> get(const std::string& k) {
    ++calls_->gets;
    auto o = inner_.get(k);
    if (o) calls_->bytes_down += o->data.size();
    return o;
  }
  std::string get_range(const std::string& k, std::uint64_t o, std::uint64_t n) {
    ++calls_->ranges;
    auto bytes = inner_.get_range(k, o, n);
    calls_->bytes_down += bytes.size();
    return bytes;
  }
  bool get_file(const std::string& k, const fs::path& p) { return ++calls_->get_files, inner_.get_file(k, p); }
  std::string put(const std::string& k, std::string_view d, const s4db::put_condition& c) {
    ++calls_->puts;
    calls_->bytes_up += d.size();
    auto etag = inner_.put(k, d, c);
    calls_->record("put " + k);
    return etag;
  }
  std::string put_file(const std::string& k, const fs::path& p, const s4db::put_condition& c) {
    ++calls_->put_files;
    calls_->bytes_up += fs::file_size(p);
    auto etag = inner_.put_file(k, p, c);
    calls_->record("put " + k);
    return etag;
  }
  std::optional<s4db::object_info> head(const std::string& k) { return ++calls_->heads, inner_.head(k); }
  void remove(std::span<const std::string> keys) {
    ++calls_->removes;
    for (const auto& k : keys) calls_->record("remove " + k);
    inner_.remove(keys);
  }
  std::vector<s4db::object_info> list(const std::string& p) { return ++calls_->lists, inner_.list(p); }
  tally& calls() { return *calls_; }
  Store& inner() { return inner_; }

 private:
  Store inner_;
  std::shared_ptr<tally> calls_ = std::make_shared<tally>();
};

// One policy combination; `env` builds its store in a temp dir (fs) or in memory.
template <class Store, class Codec, class Index>
struct combo {
  using store_type = Store;
  using codec_type = Codec;
  using index_type = Index;
  using db_type = s4db::basic_db<Store, Codec, Index>;
};

using all_combos = boost::mpl::list<combo<s4db::fs_store, s4db::snappy_codec, s4db::compact_index>,
                                    combo<s4db::fs_store, s4db::snappy_codec, s4db::unordered_index>,
                                    combo<s4db::fs_store, s4db::snappy_codec, s4db::ordered_index>,
                                    combo<s4db::fs_store, s4db::snappy_codec, s4db::flat_index>,
                                    combo<s4db::fs_store, s4db::identity_codec, s4db::unordered_index>,
                                    combo<s4db::fs_store, s4db::identity_codec, s4db::ordered_index>,
                                    combo<s4db::fs_store, s4db::identity_codec, s4db::flat_index>,
                                    combo<s4db::memory_store, s4db::snappy_codec, s4db::unordered_index>,
                                    combo<s4db::memory_store, s4db::snappy_codec, s4db::ordered_index>,
                                    combo<s4db::memory_store, s4db::snappy_codec, s4db::flat_index>,
                                    combo<s4db::memory_store, s4db::identity_codec, s4db::unordered_index>,
                                    combo<s4db::memory_store, s4db::identity_codec, s4db::compact_index>,
                                    combo<s4db::memory_store, s4db::identity_codec, s4db::ordered_index>,
                                    combo<s4db::memory_store, s4db::identity_codec, s4db::flat_index>>;

// The S3 server the tests talk to, from the environment tests/s3/run-with-server.sh sets.
inline std::string s3_server() {
  const char* name = std::getenv("S4DB_TEST_S3_SERVER");
  return name ? name : "external";
}

// Sets (or unsets, with nullptr) environment variables for one test, restoring them after.
class env_guard {
 public:
  env_guard(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (auto [name, value] : vars) {
      const char* old = std::getenv(name);
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      value ? ::setenv(name, value, 1) : ::unsetenv(name);
    }
  }
  ~env_guard() {
    for (auto& [name, value] : saved_) value ? ::setenv(name.c_str(), value->c_str(), 1) : ::unsetenv(name.c_str());
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// Every variable the S3 configuration reads, unset (instance metadata disabled, HOME
// pointing nowhere), so a test sees only what it sets.
inline const std::initializer_list<std::pair<const char*, const char*>> clean_aws_environment = {
    {"AWS_ACCESS_KEY_ID", nullptr},
    {"AWS_SECRET_ACCESS_KEY", nullptr},
    {"AWS_SESSION_TOKEN", nullptr},
    {"AWS_REGION", nullptr},
    {"AWS_DEFAULT_REGION", nullptr},
    {"AWS_ENDPOINT_URL", nullptr},
    {"AWS_ENDPOINT_URL_S3", nullptr},
    {"AWS_ENDPOINT_URL_STS", nullptr},
    {"AWS_PROFILE", nullptr},
    {"AWS_DEFAULT_PROFILE", nullptr},
    {"AWS_SHARED_CREDENTIALS_FILE", nullptr},
    {"AWS_CONFIG_FILE", nullptr},
    {"AWS_WEB_IDENTITY_TOKEN_FILE", nullptr},
    {"AWS_ROLE_ARN", nullptr},
    {"AWS_ROLE_SESSION_NAME", nullptr},
    {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", nullptr},
    {"AWS_CONTAINER_CREDENTIALS_FULL_URI", nullptr},
    {"AWS_CONTAINER_AUTHORIZATION_TOKEN", nullptr},
    {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", nullptr},
    {"AWS_EC2_METADATA_SERVICE_ENDPOINT", nullptr},
    {"AWS_EC2_METADATA_DISABLED", "true"},
    {"AWS_MAX_ATTEMPTS", nullptr},
    {"AWS_RETRY_MODE", nullptr},
    {"AWS_CA_BUNDLE", nullptr},
    {"AWS_USE_FIPS_ENDPOINT", nullptr},
    {"AWS_USE_DUALSTACK_ENDPOINT", nullptr},
    {"HOME", "/nonexistent-home"}};

inline s4db::s3_config test_s3_config() {
  s4db::s3_config c;
  const char* bucket = std::getenv("S4DB_TEST_S3_BUCKET");
  if (bucket == nullptr) throw std::runtime_error("S4DB_TEST_S3_BUCKET is not set");
  c.bucket = bucket;
  if (const char* endpoint = std::getenv("S4DB_TEST_S3_ENDPOINT")) c.endpoint = endpoint;
  c.retry_base_delay = std::chrono::milliseconds(20);
  return c;
}

inline boost::test_tools::assertion_result s3_server_given(boost::unit_test::test_unit_id) {
  if (std::getenv("S4DB_TEST_S3_BUCKET")) return true;
  boost::test_tools::assertion_result r(false);
  r.message() << "no S3 server: these run through tests/s3/run-with-server.sh (ctest does that)";
  return r;
}

// A fresh object-key prefix, so tests sharing one bucket never see each other's objects.
inline std::string unique_prefix(const std::string& base = "tests") {
  static std::mt19937_64 rng(std::random_device{}());
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  return base + "/" + std::to_string(rng()) + "/";
}

// What the test server's conditional writes are worth, as the library's probe finds them
// (once per process): s3rver honours none, so a db there commits unfenced, one writer at a
// time; moto and Ceph RGW fence.
inline s4db::fencing_report test_server_fencing() {
  s4db::s3_store store{test_s3_config()};
  return store.fencing(unique_prefix("probe"));
}

// Options for a db on the test server: fenced where the server fences.
inline s4db::options s3_test_options() {
  s4db::options o;
  o.fenced = test_server_fencing().fences();
  return o;
}

using s3_combos = boost::mpl::list<combo<s4db::s3_store, s4db::snappy_codec, s4db::compact_index>,
                                   combo<s4db::s3_store, s4db::identity_codec, s4db::ordered_index>>;

template <class Store>
Store make_store(const fs::path& root) {
  if constexpr (std::is_same_v<Store, s4db::fs_store>)
    return s4db::fs_store{root / "bucket"};
  else if constexpr (std::is_same_v<Store, s4db::s3_store>)
    return s4db::s3_store{test_s3_config()};
  else
    return Store{};
}

template <class Combo>
struct env {
  using db_type = typename Combo::db_type;
  temp_dir tmp;
  typename Combo::store_type store = make_store<typename Combo::store_type>(tmp.path);
  std::string prefix = unique_prefix();

  fs::path local(const std::string& name = "local") const { return tmp.path / name; }

  // The behaviour cases name data files as format 1 does (data_000001.s4db); format 2
  // (namespaces, several writers) has its own suite, several_writers_test.cpp.
  s4db::options opts(const std::string& local_name = "local") const {
    s4db::options o;
    if constexpr (std::is_same_v<typename Combo::store_type, s4db::s3_store>) o = s3_test_options();
    o.format_version = 1;
    o.prefix = prefix;
    o.local_dir = local(local_name);
    o.log = [](s4db::log_level, std::string_view) {};
    return o;
  }

  std::unique_ptr<db_type> open(s4db::options o) { return std::make_unique<db_type>(store, std::move(o)); }
  std::unique_ptr<db_type> open(const std::string& local_name = "local") { return open(opts(local_name)); }

  std::vector<std::string> local_files(const std::string& local_name = "local") const {
    return data_files_in(local(local_name));
  }
  std::vector<std::string> store_files() { return data_objects_in(store, prefix); }
};

// A database as the Python original writes it, from its golden bytes (docs/format.md).
// Data file 1 as the Python original writes it: its golden header and entries.
inline std::string python_data_file() {
  return unhex("533444420100000001") +
         unhex("00 00000005 00000007 68656c6c6f 0510776f726c64 12f8e0e8") +  // hello -> world
         unhex("00 00000001 00000001 6b 00 4a3b6203") +                      // k -> ""
         unhex("00 00000002 00000006 6b31 320076c20100 d5ea05fe");           // k1 -> 50 x v
}

// index.idx for it, next file 2: hello at 9 (25 bytes), k at 34 (15), k1 at 49 (21).
inline std::string python_index() {
  return unhex(
      "01 00000002 00000003"
      "0005 68656c6c6f 00000001 0000000000000009 00000019"
      "0001 6b 00000001 0000000000000022 0000000f"
      "0002 6b31 00000001 0000000000000031 00000015");
}

// The stored form of a value under codec C: what an entry's value bytes are.
template <class Codec>
std::string stored(std::string_view value) {
  std::string out;
  Codec{}.encode(value, out);
  return out;
}

}  // namespace s4db_test
