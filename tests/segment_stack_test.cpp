// Format 3's reads across index segments (engine/segment_stack.hpp) against a std::map
// model: segments of random puts and tombstones, stacked oldest first, with block sizes
// from tiny to the default; every lookup, and every scan of a random span forward and
// backward, agrees with the model that applied the same changes in the same order.
#include <map>
#include <random>
#include <s4db/engine/segment_stack.hpp>

#include "support.hpp"

namespace format = s4db::format;
using s4db::location;

BOOST_AUTO_TEST_SUITE(segment_stack)

BOOST_AUTO_TEST_CASE(lookups_and_scans_across_segments_match_the_model) {
  std::mt19937 rng(20);
  auto below = [&](unsigned n) { return static_cast<unsigned>(rng() % n); };
  for (int trial = 0; trial < 200; ++trial) {
    s4db::engine::segment_stack stack;
    std::map<std::string, std::optional<location>> model;  // nullopt: erased
    const unsigned segments = 1 + below(6);
    for (unsigned s = 0; s < segments; ++s) {
      std::map<std::string, std::optional<location>> changes;
      for (unsigned i = below(200); i > 0; --i) {
        const std::string key = "k" + std::to_string(below(300));
        if (below(4) == 0)
          changes[key] = std::nullopt;
        else
          changes[key] = location{rng(), rng(), 1 + below(100)};
      }
      format::segment_builder builder(trial % 4 == 0 ? format::segment_block_size : 32 + below(200));
      for (const auto& [k, v] : changes)
        builder.add({k, v ? format::segment_kind::put : format::segment_kind::tombstone, v.value_or(location{}), {}});
      stack.push(std::make_shared<const std::string>(builder.finish()), "segment " + std::to_string(s));
      for (const auto& [k, v] : changes) model[k] = v;
    }
    BOOST_TEST(stack.size() == segments);
    for (int q = 0; q < 20; ++q) {
      s4db::scan_options how{.from = below(3) ? "k" + std::to_string(below(300)) : "", .reverse = below(2) == 1};
      if (below(2)) how.to = "k" + std::to_string(below(300));
      if (below(3) == 0) how.prefix = "k" + std::to_string(below(10));
      const auto span = s4db::engine::key_span::of(how);
      std::vector<std::pair<std::string, location>> want, got;
      for (const auto& [k, v] : model)
        if (v && span.contains(k)) want.emplace_back(k, *v);
      if (how.reverse) std::reverse(want.begin(), want.end());
      for (auto c = stack.scan(span, how.reverse); c.valid(); c.next()) got.emplace_back(c.entry().key, c.entry().loc);
      BOOST_TEST((got == want), "trial " << trial << ": from " << how.from << " to " << how.to.value_or("(end)")
                                         << " prefix " << how.prefix << " reverse " << how.reverse);
    }
    for (int i = 0; i < 300; ++i) {
      const std::string key = "k" + std::to_string(i);
      const auto hit = stack.find(key);
      const auto it = model.find(key);
      if (it == model.end())
        BOOST_TEST(!hit, key);
      else if (!it->second)
        BOOST_TEST((hit && !hit->live()), key << " was erased: a tombstone answers");
      else
        BOOST_TEST((hit && hit->live() && hit->loc == *it->second), key);
    }
  }
}

// A cursor keeps the segments it reads: pushing more leaves it valid and unchanged.
BOOST_AUTO_TEST_CASE(a_cursor_outlives_later_pushes) {
  s4db::engine::segment_stack stack;
  auto segment_of = [](std::initializer_list<std::pair<const char*, bool>> entries) {
    format::segment_builder b(32);
    for (const auto& [k, live] : entries)
      b.add({k, live ? format::segment_kind::put : format::segment_kind::tombstone, {1, 2, 3}, {}});
    return std::make_shared<const std::string>(b.finish());
  };
  stack.push(segment_of({{"a", true}, {"b", true}, {"c", true}}), "one");
  auto c = stack.scan({}, false);
  for (int i = 0; i < 100; ++i) stack.push(segment_of({{"b", false}}), "more");
  std::string seen;
  for (; c.valid(); c.next()) seen += c.entry().key;
  BOOST_TEST(seen == "abc");
  std::string now;
  for (auto d = stack.scan({}, true); d.valid(); d.next()) now += d.entry().key;
  BOOST_TEST(now == "ca");  // the tombstones above hide b
}

// A damaged segment is refused when pushed, and the stack stays as it was.
BOOST_AUTO_TEST_CASE(a_damaged_segment_is_refused_and_changes_nothing) {
  s4db::engine::segment_stack stack;
  format::segment_builder b;
  b.add({"a", format::segment_kind::put, {1, 2, 3}, {}});
  auto bytes = b.finish();
  stack.push(std::make_shared<const std::string>(bytes), "good");
  bytes[bytes.size() - 20] ^= 1;
  BOOST_CHECK_THROW(stack.push(std::make_shared<const std::string>(bytes), "bad"), s4db::corruption_error);
  BOOST_TEST(stack.size() == 1u);
  BOOST_TEST(stack.find("a").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
