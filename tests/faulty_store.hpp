// A real store with faults in front: every call is numbered and shown to a rule, which may
// let it through, fail it before it reaches the store, let it take effect and then fail
// (a lost response), or end the process right after it took effect (a kill). Copies
// share the rule and the count, as memory_store copies share a bucket. Used by the
// fault-injection suite, the regression tests and the api_model fuzz target.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <s4db/s4db.hpp>
#include <span>
#include <string>
#include <vector>

namespace s4db_test {

// after_conflict: takes effect, then reports a lost condition (conflict_error), as a store
// does that retries a conditional PUT whose first attempt took effect but timed out.
enum class fault { none, before, after, after_conflict, kill };

inline const char* describe(fault f) {
  switch (f) {
    case fault::none:
      return "none";
    case fault::before:
      return "fails before taking effect";
    case fault::after:
      return "takes effect, then fails (lost response)";
    case fault::after_conflict:
      return "takes effect, then reports a lost condition (412 on a retry)";
    case fault::kill:
      return "takes effect, then the process dies";
  }
  return "?";
}

// One store call as the rule sees it: its number (from 0), operation and object key.
struct store_call {
  std::size_t number;
  std::string_view op;  // get, get_range, get_file, put, put_file, head, remove, list
  std::string_view key;
};

template <class Store>
class faulty_store {
 public:
  using rule = std::function<fault(const store_call&)>;
  static constexpr int killed_exit_code = 42;

  explicit faulty_store(Store inner, rule r = {}) : inner_(std::move(inner)), shared_(std::make_shared<state>()) {
    shared_->decide = std::move(r);
  }

  // Replaces the rule; counting starts again from 0.
  void set_rule(rule r) {
    std::lock_guard lock(shared_->mutex);
    shared_->decide = std::move(r);
    shared_->calls = 0;
  }
  std::size_t calls() const { return shared_->calls; }
  Store& inner() { return inner_; }

  std::optional<s4db::object> get(const std::string& k) {
    return run("get", k, [&] { return inner_.get(k); });
  }
  std::string get_range(const std::string& k, std::uint64_t o, std::uint64_t n) {
    return run("get_range", k, [&] { return inner_.get_range(k, o, n); });
  }
  bool get_file(const std::string& k, const std::filesystem::path& p) {
    return run("get_file", k, [&] { return inner_.get_file(k, p); });
  }
  std::string put(const std::string& k, std::string_view d, const s4db::put_condition& c) {
    return run("put", k, [&] { return inner_.put(k, d, c); });
  }
  std::string put_file(const std::string& k, const std::filesystem::path& p, const s4db::put_condition& c) {
    return run("put_file", k, [&] { return inner_.put_file(k, p, c); });
  }
  std::optional<s4db::object_info> head(const std::string& k) {
    return run("head", k, [&] { return inner_.head(k); });
  }
  void remove(std::span<const std::string> keys) {
    run("remove", keys.empty() ? std::string() : keys.front(), [&] {
      inner_.remove(keys);
      return 0;
    });
  }
  std::vector<s4db::object_info> list(const std::string& p) {
    return run("list", p, [&] { return inner_.list(p); });
  }

 private:
  struct state {
    std::mutex mutex;
    rule decide;
    std::size_t calls = 0;
  };

  template <class Call>
  auto run(std::string_view op, const std::string& key, Call&& call) {
    rule decide;
    std::size_t number = 0;
    {
      std::lock_guard lock(shared_->mutex);
      number = shared_->calls++;
      decide = shared_->decide;
    }
    // Outside the lock: a rule may itself call the store (to run an operation between
    // two calls of another).
    const fault f = decide ? decide(store_call{number, op, key}) : fault::none;
    if (f == fault::before)
      throw s4db::store_error("injected fault: " + std::string(op) + " '" + key + "' failed before taking effect", 503,
                              true, false);
    auto result = call();
    if (f == fault::after)
      throw s4db::store_error(
          "injected fault: " + std::string(op) + " '" + key + "' took effect, then its response was lost", 0, true,
          true);
    if (f == fault::after_conflict)
      s4db::detail::throw_conflict("injected fault: " + std::string(op) + " '" + key +
                                   "' took effect, then a retry of it found the condition lost (412)");
    if (f == fault::kill) ::_exit(killed_exit_code);
    return result;
  }

  Store inner_;
  std::shared_ptr<state> shared_;
};

}  // namespace s4db_test
