// Format 3's chain of numbered manifests (detail/manifest_chain.hpp) on the local stores,
// with the faults of tests/faulty_store.hpp at every call: of two writers creating the same
// number one wins; a create that took effect but lost its response, or got 412 for a retry
// of itself, is ours; one that failed before taking effect is retried; the newest is found
// past a listing that lags; a manifest that is not what its name says is corruption.
#include <s4db/detail/manifest_chain.hpp>

#include "faulty_store.hpp"
#include "support.hpp"

using namespace s4db_test;
namespace format = s4db::format;

namespace {

std::string manifest_bytes(std::uint64_t n, const std::string& writer_note) {
  format::manifest m;
  m.number = n;
  m.pins = {{writer_note, n}};  // what tells two writers' manifests apart
  return format::encode_manifest(m);
}

template <class Store>
Store make(const temp_dir& tmp) {
  if constexpr (std::is_same_v<Store, s4db::fs_store>)
    return s4db::fs_store{tmp.path / "bucket"};
  else
    return Store{};
}

// A store whose listing names nothing past `visible`: a listing that lags the creates.
template <class Store>
struct lagging_store : Store {
  std::uint64_t visible = 0;
  std::vector<s4db::object_info> list(const std::string& p) {
    auto all = Store::list(p);
    std::erase_if(all, [&](const s4db::object_info& o) {
      const auto n = format::parse_manifest_name(std::string_view(o.key).substr(o.key.rfind('/') + 1));
      return n && *n > visible;
    });
    return all;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(manifest_chain)

using stores = boost::mpl::list<s4db::memory_store, s4db::fs_store>;

BOOST_AUTO_TEST_CASE_TEMPLATE(of_two_writers_creating_one_number_one_wins, S, stores) {
  temp_dir tmp;
  auto store = make<S>(tmp);
  s4db::detail::manifest_chain<S> chain(store, "db/");
  BOOST_TEST(!chain.newest());
  BOOST_TEST((chain.create(1, manifest_bytes(1, "a")) == s4db::detail::manifest_chain<S>::created::ours));
  BOOST_TEST((chain.create(1, manifest_bytes(1, "b")) == s4db::detail::manifest_chain<S>::created::lost));
  BOOST_TEST(chain.newest()->value.pins.at(0).name == "a");
  BOOST_TEST((chain.create(2, manifest_bytes(2, "b")) == s4db::detail::manifest_chain<S>::created::ours));
  BOOST_TEST(chain.newest()->value.number == 2u);
  BOOST_TEST(!chain.after(2));  // nothing new: one request
  BOOST_TEST(chain.after(1)->value.number == 2u);
  BOOST_TEST(chain.read(1)->value.pins.at(0).name == "a");
  BOOST_TEST(!chain.read(3));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(an_unknown_outcome_is_settled_by_reading_back, S, stores) {
  temp_dir tmp;
  faulty_store<S> store(make<S>(tmp));
  s4db::detail::manifest_chain<faulty_store<S>> chain(store, "db/");
  using created = typename s4db::detail::manifest_chain<faulty_store<S>>::created;
  auto on_put = [&](fault f) { store.set_rule([f](const store_call& c) { return c.op == "put" ? f : fault::none; }); };
  on_put(fault::after);  // took effect, its response lost
  BOOST_TEST((chain.create(1, manifest_bytes(1, "a")) == created::ours));
  on_put(fault::after_conflict);  // took effect, and a retry of it got 412
  BOOST_TEST((chain.create(2, manifest_bytes(2, "a")) == created::ours));
  on_put(fault::before);  // failed before taking effect: an error, nothing created
  BOOST_CHECK_THROW(chain.create(3, manifest_bytes(3, "a")), s4db::store_error);
  store.set_rule({});
  BOOST_TEST(!chain.read(3));
  // The read-back fails too: an error that may have applied, never "lost".
  store.set_rule([](const store_call& c) {
    return c.op == "put" ? fault::after : c.op == "get" ? fault::before : fault::none;
  });
  try {
    chain.create(3, manifest_bytes(3, "a"));
    BOOST_FAIL("no error");
  } catch (const s4db::conflict_error&) {
    BOOST_FAIL("a conflict_error for an outcome unknown");
  } catch (const s4db::store_error& e) {
    BOOST_TEST(e.may_have_applied());
  }
  store.set_rule({});
  BOOST_TEST(chain.newest()->value.number == 3u);  // it had taken effect
  // Another writer's bytes under the name after a failure: lost.
  store.inner().put("db/" + format::manifest_name(4), manifest_bytes(4, "b"), s4db::put_condition::when_absent());
  on_put(fault::before);
  BOOST_TEST((chain.create(4, manifest_bytes(4, "a")) == created::lost));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(the_newest_is_found_past_a_lagging_listing, S, stores) {
  temp_dir tmp;
  lagging_store<S> store{make<S>(tmp)};
  s4db::detail::manifest_chain<lagging_store<S>> chain(store, "db/");
  for (std::uint64_t n = 1; n <= 5; ++n) chain.create(n, manifest_bytes(n, "a"));
  store.visible = 0;
  BOOST_TEST(chain.newest()->value.number == 5u);
  store.visible = 3;
  BOOST_TEST(chain.newest()->value.number == 5u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_manifest_that_is_not_what_its_name_says_is_corruption, S, stores) {
  temp_dir tmp;
  auto store = make<S>(tmp);
  s4db::detail::manifest_chain<S> chain(store, "db/");
  store.put("db/" + format::manifest_name(1), manifest_bytes(7, "a"), {});
  BOOST_CHECK_THROW(chain.read(1), s4db::corruption_error);
  store.put("db/" + format::manifest_name(1), "not a manifest", {});
  BOOST_CHECK_THROW(chain.newest(), s4db::corruption_error);
}

BOOST_AUTO_TEST_SUITE_END()
