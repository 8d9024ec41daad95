// The fault-injection suite (SPEC section 6): one sequence of every public operation
// (open, put, erase, flush, upload, compact, reopen, download, rebuild) runs once per store
// call it makes, with a fault injected at that call, in each of three kinds: the call
// fails before taking effect, it takes effect and its response is lost, or the process is
// killed right after it took effect. After each run:
//   - a fresh reader of the store reads every published key with its published value (the
//     database as the last finished publish left it, or as the interrupted one would);
//   - reopening the working copy finds every acknowledged write with its value;
//   - the reopened copy can publish, and the store then reads exactly what it holds.
// It prints how many injection points it covered. Each test runs on format 2 and on format
// 3, whose scenario also merges segments and takes a checkpoint (which must open and read
// after any fault, if its pin was committed).
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <iostream>

#include "faulty_store.hpp"
#include "support.hpp"

using namespace s4db_test;

namespace {

using model = std::map<std::string, std::string>;

// The format the suite's dbs write: 2, or 3 for the same tests on format 3.
int suite_format = 2;
struct on_format {
  explicit on_format(int f) : saved(std::exchange(suite_format, f)) {}
  ~on_format() { suite_format = saved; }
  int saved;
};

template <class Store>
struct run_context {
  using db_type = s4db::basic_db<faulty_store<Store>>;
  faulty_store<Store> store;
  fs::path root;
  std::unique_ptr<db_type> a, b;

  std::unique_ptr<db_type> open(const std::string& name) {
    s4db::options o;
    o.prefix = "db/";
    o.local_dir = root / name;
    o.format_version = suite_format;
    o.max_file_size = 120;  // several data files
    o.concurrency = 1;      // store calls in a fixed order, so each run hits the call it names
    o.log = [](s4db::log_level, std::string_view) {};
    return std::make_unique<db_type>(store, o);
  }
};

template <class Store>
struct step {
  std::string name;
  bool publishes;
  std::function<void(run_context<Store>&)> run;
  std::function<void(model&)> apply{};  // what it does to the data; empty: nothing
};

template <class Store>
std::vector<step<Store>> scenario() {
  using ctx = run_context<Store>;
  std::vector<step<Store>> steps{
      {"open", false, [](ctx& c) { c.a = c.open("a"); }},
      {"put a batch", false,
       [](ctx& c) {
         std::vector<std::pair<std::string, std::string>> batch;
         for (int i = 0; i < 8; ++i) batch.emplace_back("k" + std::to_string(i), "first-" + std::to_string(i));
         c.a->put(batch);
       },
       [](model& m) {
         for (int i = 0; i < 8; ++i) m["k" + std::to_string(i)] = "first-" + std::to_string(i);
       }},
      {"put", false, [](ctx& c) { c.a->put("k8", "second"); }, [](model& m) { m["k8"] = "second"; }},
      {"upload", true, [](ctx& c) { c.a->upload(); }},
      {"put and erase", false,
       [](ctx& c) {
         c.a->put("k0", "fourth");
         c.a->erase("k1");
       },
       [](model& m) {
         m["k0"] = "fourth";
         m.erase("k1");
       }},
      {"flush", false, [](ctx& c) { c.a->flush(); }},
      {"upload", true, [](ctx& c) { c.a->upload(); }},
      {"compact", true, [](ctx& c) { c.a->compact(); }},
      {"put", false, [](ctx& c) { c.a->put("k2", "eighth"); }, [](model& m) { m["k2"] = "eighth"; }},
      {"reopen", false,
       [](ctx& c) {
         c.a.reset();
         c.a = c.open("a");
       }},
      {"upload", true, [](ctx& c) { c.a->upload(); }},
      {"download into a second copy", false,
       [](ctx& c) {
         c.b = c.open("b");
         c.b->download();
         for (auto&& item : c.b->items()) (void)item;
       }},
      {"erase, put, rebuild_index", false,
       [](ctx& c) {
         c.a->erase("k3");
         c.a->put("k9", "twelfth");
         c.a->rebuild_index();
       },
       [](model& m) {
         m.erase("k3");
         m["k9"] = "twelfth";
       }},
      {"upload", true, [](ctx& c) { c.a->upload(); }},
      {"compact", true, [](ctx& c) { c.a->compact(); }},
      {"download", false, [](ctx& c) { c.a->download(); }},
  };
  if (suite_format == 3) {
    // Before the last upload: a checkpoint of what is published, and a merge.
    const auto at = steps.end() - 3;
    steps.insert(at, {{"checkpoint", false, [](ctx& c) { c.a->checkpoint("pinned"); }},
                      {"put", false, [](ctx& c) { c.a->put("k4", "merged"); }, [](model& m) { m["k4"] = "merged"; }},
                      {"upload", true, [](ctx& c) { c.a->upload(); }},
                      {"merge_segments", false, [](ctx& c) { c.a->merge_segments(); }},
                      {"rewrite_sparse_files", false, [](ctx& c) {
                         s4db::options o;
                         o.prefix = "db/";
                         o.format_version = 3;
                         o.log = [](s4db::log_level, std::string_view) {};
                         s4db::rewrite_sparse_files(c.store, o);
                       }}});
  }
  return steps;
}

template <class Store>
s4db::basic_db<Store> plain_db(Store store, const std::optional<fs::path>& local) {
  s4db::options o;
  o.prefix = "db/";
  o.local_dir = local;
  o.format_version = suite_format;
  o.log = [](s4db::log_level, std::string_view) {};
  return s4db::basic_db<Store>(std::move(store), o);
}

template <class Db>
model contents(Db& db) {
  model out;
  for (auto&& [k, v] : db.items()) out[k] = v;
  return out;
}

std::string show(const model& m) {
  std::string out = "{";
  for (const auto& [k, v] : m) out += " " + k + "=" + v;
  return out + " }";
}

// Checks the invariants after a run whose step `failed` did not finish (steps before it
// did); `what` names the run in messages.
template <class Store>
void check_invariants(Store bucket, const fs::path& root, std::size_t failed, const std::string& what) {
  const auto steps = scenario<Store>();
  model acked, published_done;
  for (std::size_t i = 0; i < failed && i < steps.size(); ++i) {
    if (steps[i].apply) steps[i].apply(acked);
    if (steps[i].publishes) published_done = acked;
  }
  model attempted = acked;  // what the interrupted step would have made
  if (failed < steps.size() && steps[failed].apply) steps[failed].apply(attempted);
  const bool interrupted_publish = failed < steps.size() && steps[failed].publishes;

  // A fresh reader of the store: the last finished publish, or the interrupted one.
  {
    auto reader = plain_db(bucket, std::nullopt);
    model seen;
    try {
      seen = contents(reader);
    } catch (const std::exception& e) {
      BOOST_ERROR(what << ": a fresh reader failed: " << e.what());
      return;
    }
    const bool ok = seen == published_done || (interrupted_publish && seen == acked);
    BOOST_CHECK_MESSAGE(ok, what << ": the store reads " << show(seen) << ", published was " << show(published_done)
                                 << (interrupted_publish ? " or " + show(acked) : std::string()));
  }
  // Format 3: a checkpoint whose pin was committed opens and reads.
  if (suite_format == 3) try {
      if (const auto m = bucket.get("db/manifest.s4m"))
        for (const auto& pin : s4db::format::decode_manifest(m->data, "manifest").pins) {
          s4db::options o;
          o.prefix = "db/";
          o.format_version = 3;
          o.checkpoint = pin.name;
          o.log = [](s4db::log_level, std::string_view) {};
          s4db::basic_db<Store> at(bucket, o);
          (void)contents(at);
        }
    } catch (const std::exception& e) {
      BOOST_ERROR(what << ": a checkpoint does not read: " << e.what());
    }
  // The working copy, reopened: every acknowledged write.
  try {
    auto reopened = plain_db(bucket, root / "a");
    const model got = contents(reopened);
    std::set<std::string> keys;
    for (const auto& m : {acked, attempted, got})
      for (const auto& [k, v] : m) keys.insert(k);
    for (const auto& k : keys) {
      auto value = [&](const model& m) { return m.contains(k) ? m.at(k) : std::string("(absent)"); };
      BOOST_CHECK_MESSAGE(
          value(got) == value(acked) || value(got) == value(attempted),
          what << ": reopened, key " << k << " reads " << value(got) << ", acknowledged " << value(acked));
    }
    reopened.upload();
    auto reader = plain_db(bucket, std::nullopt);
    BOOST_CHECK_MESSAGE(contents(reader) == got, what << ": after the reopened copy uploaded, the store differs");
  } catch (const std::exception& e) {
    BOOST_ERROR(what << ": reopening the working copy failed: " << e.what());
  }
}

// The scenario's store calls, in order: whether each is a write (put or put_file).
template <class Store>
std::vector<bool> store_calls_of_the_scenario(Store bucket, const fs::path& root) {
  run_context<Store> c{faulty_store<Store>(bucket), root, {}, {}};
  std::mutex m;  // transfers run in parallel
  std::vector<bool> writes;
  c.store.set_rule([&](const store_call& call) {
    std::lock_guard lock(m);
    writes.resize(std::max(writes.size(), call.number + 1));
    writes[call.number] = call.op == "put" || call.op == "put_file";
    return fault::none;
  });
  for (const auto& s : scenario<Store>()) s.run(c);
  return writes;
}

template <class Store>
std::size_t count_store_calls(Store bucket, const fs::path& root) {
  return store_calls_of_the_scenario(std::move(bucket), root).size();
}

// Runs the scenario with a fault at call k; returns the step that failed, or
// steps.size() when every step finished (the fault was absorbed: a retry or a read-back
// settled it, or a failed cleanup was only logged).
template <class Store>
std::size_t run_with_fault(Store bucket, const fs::path& root, std::size_t k, fault kind) {
  run_context<Store> c{faulty_store<Store>(bucket), root, {}, {}};
  const auto steps = scenario<Store>();
  c.store.set_rule([&](const store_call& call) {
    if (call.number != k) return fault::none;
    // A lost condition is what a retried conditional write meets; other calls have none.
    if (kind == fault::after_conflict && call.op != "put" && call.op != "put_file") return fault::none;
    return kind;
  });
  for (std::size_t i = 0; i < steps.size(); ++i) {
    try {
      steps[i].run(c);
    } catch (const s4db::error&) {
      c.store.set_rule({});
      c.a.reset();
      c.b.reset();
      return i;
    }
  }
  return steps.size();
}

void every_store_call_failing_before_or_after_it_took_effect() {
  std::size_t runs = 0, calls = 0;
  std::vector<bool> is_write;
  {
    temp_dir tmp;
    is_write = store_calls_of_the_scenario(s4db::memory_store{}, tmp.path);
    calls = is_write.size();
  }
  std::size_t absorbed = 0;
  const auto steps = scenario<s4db::memory_store>();
  std::size_t writes = 0;
  for (fault kind : {fault::before, fault::after, fault::after_conflict}) {
    for (std::size_t k = 0; k < calls; ++k) {
      if (kind == fault::after_conflict && !is_write[k]) continue;
      writes += kind == fault::after_conflict;
      temp_dir tmp;
      s4db::memory_store bucket;
      const std::size_t failed = run_with_fault(bucket, tmp.path, k, kind);
      ++runs;
      absorbed += failed == steps.size();
      check_invariants(bucket, tmp.path, failed,
                       "call " + std::to_string(k) + " " + describe(kind) + ", in step '" +
                           (failed < steps.size() ? steps[failed].name : std::string("(absorbed)")) + "'");
    }
  }
  std::cout << "fault injection, format " << suite_format << ": " << calls
            << " store calls x 2 kinds (fails before / lost response) and " << writes
            << " writes applied then answered 412: " << runs << " runs (" << absorbed
            << " faults absorbed without an error), invariants checked after each\n";
  BOOST_TEST(runs == 2 * calls + writes);
  BOOST_TEST(writes > 0u);
}

void the_process_killed_right_after_every_store_call() {
  std::size_t runs = 0, calls = 0;
  {
    temp_dir tmp;
    calls = count_store_calls(s4db::fs_store{tmp.path / "bucket"}, tmp.path);
  }
  for (std::size_t k = 0; k < calls; ++k) {
    temp_dir tmp;
    s4db::fs_store bucket{tmp.path / "bucket"};
    child_process child([&](int ack) {
      run_context<s4db::fs_store> c{faulty_store<s4db::fs_store>(bucket), tmp.path, {}, {}};
      c.store.set_rule([&](const store_call& call) { return call.number == k ? fault::kill : fault::none; });
      try {
        for (const auto& s : scenario<s4db::fs_store>()) {
          s.run(c);
          const char done = 1;
          if (::write(ack, &done, 1) != 1) ::_exit(3);
        }
      } catch (...) {
        ::_exit(4);
      }
    });
    const int status = child.wait();
    const std::size_t finished = child.acknowledged().size();
    BOOST_REQUIRE_MESSAGE(WIFEXITED(status) && WEXITSTATUS(status) != 4 && WEXITSTATUS(status) != 3,
                          "the writer failed unexpectedly at call " << k);
    if (WEXITSTATUS(status) != faulty_store<s4db::fs_store>::killed_exit_code) continue;
    ++runs;
    check_invariants(
        bucket, tmp.path, finished,
        "killed after call " + std::to_string(k) + ", in step '" + scenario<s4db::fs_store>()[finished].name + "'");
  }
  std::cout << "fault injection, format " << suite_format << ": " << calls
            << " store calls, process killed after each: " << runs << " runs, invariants checked after each\n";
  BOOST_TEST(runs >= calls - 1);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fault_injection)

BOOST_AUTO_TEST_CASE(every_store_call_failing_before_or_after_it_took_effect_on_format_2) {
  every_store_call_failing_before_or_after_it_took_effect();
}

BOOST_AUTO_TEST_CASE(the_process_killed_right_after_every_store_call_on_format_2) {
  the_process_killed_right_after_every_store_call();
}

BOOST_AUTO_TEST_CASE(every_store_call_failing_before_or_after_it_took_effect_on_format_3) {
  on_format three(3);
  every_store_call_failing_before_or_after_it_took_effect();
}

BOOST_AUTO_TEST_CASE(the_process_killed_right_after_every_store_call_on_format_3) {
  on_format three(3);
  the_process_killed_right_after_every_store_call();
}

BOOST_AUTO_TEST_SUITE_END()
