// compact_index, the default index container, against std::map as the model: random
// inserts, overwrites and erases (by key and while walking), growth, arena compaction, and
// its checkpoint: a round trip gives the same map, and a damaged or hostile one is refused.
#include "support.hpp"

using namespace s4db_test;
using compact = s4db::detail::compact_map<s4db::location>;

namespace {

void require_same(const compact& m, const std::map<std::string, s4db::location>& model) {
  BOOST_REQUIRE_EQUAL(m.size(), model.size());
  std::map<std::string, s4db::location> walked;
  for (const auto& element : m) BOOST_REQUIRE(walked.emplace(std::string(element.first), element.second).second);
  BOOST_REQUIRE(walked == model);
  for (const auto& [key, loc] : model) {
    const auto it = m.find(key);
    BOOST_REQUIRE(it != m.end());
    BOOST_REQUIRE(it->second == loc);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(compact_index_container)

BOOST_AUTO_TEST_CASE(behaves_as_a_map_through_growth_erases_and_checkpoints) {
  std::mt19937 rng(20261123);
  compact m;
  std::map<std::string, s4db::location> model;
  auto random_key = [&] {
    // Mostly short keys from a small space (overwrites and erases hit), some long ones.
    std::string key = "k" + std::to_string(rng() % 5000);
    if (rng() % 10 == 0) key += std::string(rng() % 300, static_cast<char>('a' + rng() % 26));
    return key;
  };
  for (int step = 0; step < 60000; ++step) {
    const auto op = rng() % 10;
    const std::string key = random_key();
    if (op < 6) {
      const s4db::location loc{rng(), rng() * 7ull, static_cast<std::uint32_t>(rng())};
      m.insert_or_assign(key, loc);
      model[key] = loc;
    } else if (op < 9) {
      BOOST_REQUIRE_EQUAL(m.erase(key), model.erase(key));
      BOOST_REQUIRE(m.find(key) == m.end());
    } else {
      BOOST_REQUIRE_EQUAL(m.find(key) != m.end(), model.contains(key));
    }
    if (step % 15000 == 14999) {
      require_same(m, model);
      auto loaded = compact::from_checkpoint(m.checkpoint());
      BOOST_REQUIRE(loaded);
      require_same(*loaded, model);
      m = std::move(*loaded);  // and carries on from the loaded one
    }
  }
  // Erasing while walking, as std::erase_if does: every element is visited once.
  for (auto it = m.begin(); it != m.end();) {
    if ((*it).second.length % 2) {
      model.erase(std::string((*it).first));
      it = m.erase(it);
    } else {
      ++it;
    }
  }
  require_same(m, model);
  m.clear();
  BOOST_TEST(m.size() == 0u);
  BOOST_TEST((m.find("k1") == m.end()));
  BOOST_REQUIRE(compact::from_checkpoint(m.checkpoint()));
}

// The table grows incrementally: while the old table's slots move across, lookups,
// overwrites, erases (by key and while walking, which move the last record into the hole)
// and checkpoints see every key once, through several growths.
BOOST_AUTO_TEST_CASE(growing_incrementally_loses_and_duplicates_nothing) {
  std::mt19937_64 rng(20261207);
  compact m;
  std::map<std::string, s4db::location> model;
  std::vector<std::string> keys;
  for (std::uint64_t step = 0; step < 200000; ++step) {
    const std::string key = "g" + std::to_string(step);
    const s4db::location loc{step, step * 3, static_cast<std::uint32_t>(step % 1000)};
    m.insert_or_assign(key, loc);
    model[key] = loc;
    keys.push_back(key);
    const auto& some = keys[rng() % keys.size()];
    switch (rng() % 8) {
      case 0:
        BOOST_REQUIRE_EQUAL(m.erase(some), model.erase(some));
        break;
      case 1: {
        const s4db::location again{rng(), 1, 2};
        m.insert_or_assign(some, again);
        model[some] = again;
        break;
      }
      default: {
        const auto it = m.find(some);
        BOOST_REQUIRE_EQUAL(it != m.end(), model.contains(some));
        if (it != m.end()) BOOST_REQUIRE(it->second == model.at(some));
      }
    }
    if (step % 9973 == 0) {  // erasing while walking, somewhere in a growth
      std::size_t walked = 0;
      for (auto it = m.begin(); it != m.end(); ++walked) {
        if (walked % 97 == 0) {
          model.erase(std::string((*it).first));
          it = m.erase(it);
        } else {
          ++it;
        }
      }
      BOOST_REQUIRE_EQUAL(m.size(), model.size());
    }
    if (step % 49999 == 0) {
      require_same(m, model);
      auto copy = compact::from_checkpoint(m.checkpoint());
      BOOST_REQUIRE(copy);
      require_same(*copy, model);
    }
  }
  require_same(m, model);
}

BOOST_AUTO_TEST_CASE(a_damaged_or_hostile_checkpoint_is_refused_not_trusted) {
  compact m;
  for (int i = 0; i < 100; ++i)
    m.insert_or_assign("key" + std::to_string(i), s4db::location{1, 9u * static_cast<unsigned>(i), 9});
  const std::string good = m.checkpoint();
  BOOST_REQUIRE(compact::from_checkpoint(good));
  BOOST_TEST(!compact::from_checkpoint(good.substr(0, good.size() - 1)));  // cut short
  BOOST_TEST(!compact::from_checkpoint(good + "x"));                       // trailing bytes
  BOOST_TEST(!compact::from_checkpoint(""));
  BOOST_TEST(!compact::from_checkpoint("S4DBCKP1"));
  auto with_field = [&](std::size_t field, std::uint64_t value) {
    std::string bad = good;
    std::memcpy(bad.data() + 8 + 8 * field, &value, 8);
    return bad;
  };
  BOOST_TEST(!compact::from_checkpoint(with_field(0, 1ull << 62)));  // a count no file holds
  BOOST_TEST(!compact::from_checkpoint(with_field(1, 100)));         // a table with no empty slot
  BOOST_TEST(!compact::from_checkpoint(with_field(2, 1)));           // an arena shorter than its keys
  BOOST_TEST(!compact::from_checkpoint(with_field(3, 32)));          // another record layout
  std::string bad_ref = good;                                        // the first record's key reaches past the arena
  const std::uint64_t ref = std::uint64_t{1} << 40 | 4;
  std::memcpy(bad_ref.data() + 40 + 20, &ref, 8);
  BOOST_TEST(!compact::from_checkpoint(bad_ref));
}

// The hash places keys in a checkpoint's table, so it is part of the format: these values
// were computed from docs/format.md's description by an independent Python script.
BOOST_AUTO_TEST_CASE(the_key_hash_is_the_one_docs_format_md_specifies) {
  BOOST_TEST(compact::hash_of("") == 0xe220a8397b1dcdafull);
  BOOST_TEST(compact::hash_of("a") == 0xfa18e15eccfa9675ull);
  BOOST_TEST(compact::hash_of("0123456789abcdef") == 0x5f6ec00437ccda8aull);
  BOOST_TEST(compact::hash_of("a key of 17 bytes") == 0xfde05188abe0c340ull);
}

// Reopening uses a checkpoint's arrays where they lie, in a private mapping: writes to the
// map change the mapping's pages, never the file, and growing copies the arrays out.
BOOST_AUTO_TEST_CASE(a_map_used_in_place_never_writes_its_checkpoint_file) {
  temp_dir tmp;
  compact m;
  std::map<std::string, s4db::location> model;
  for (int i = 0; i < 5000; ++i) {
    m.insert_or_assign("key" + std::to_string(i), s4db::location{1, 10u * static_cast<unsigned>(i), 10});
    model["key" + std::to_string(i)] = s4db::location{1, 10u * static_cast<unsigned>(i), 10};
  }
  const std::string saved = m.checkpoint();
  write_bytes(tmp.path / "index.idx", saved);
  auto mapping = std::make_shared<const s4db::detail::mapped_file>(
      *s4db::detail::file::open_existing(tmp.path / "index.idx"), s4db::detail::mapped_file::mode::private_copy);
  BOOST_REQUIRE(mapping->covers(0, saved.size()));
  auto loaded = compact::from_checkpoint(mapping->view(0, saved.size()), mapping);
  BOOST_REQUIRE(loaded);
  mapping.reset();  // the map keeps it
  for (int i = 0; i < 5000; i += 7) {
    loaded->insert_or_assign("key" + std::to_string(i), s4db::location{2, 1, 1});
    model["key" + std::to_string(i)] = s4db::location{2, 1, 1};
  }
  for (int i = 1; i < 5000; i += 5) {
    loaded->erase("key" + std::to_string(i));
    model.erase("key" + std::to_string(i));
  }
  require_same(*loaded, model);
  BOOST_TEST((read_bytes(tmp.path / "index.idx") == saved));
  for (int i = 5000; i < 20000; ++i) {  // past its capacity: copied out
    loaded->insert_or_assign("key" + std::to_string(i), s4db::location{3, 1, 1});
    model["key" + std::to_string(i)] = s4db::location{3, 1, 1};
  }
  require_same(*loaded, model);
  BOOST_TEST((read_bytes(tmp.path / "index.idx") == saved));
}

// The digest of a checkpoint is taken over its pieces as written; it must equal the digest
// of the file read back whole, whatever the pieces' sizes (empty ones with a null pointer
// included: zlib's crc32 starts over when given one).
BOOST_AUTO_TEST_CASE(a_digest_in_pieces_equals_the_digest_of_the_whole) {
  std::mt19937 rng(5);
  std::string whole(100000, '\0');
  for (auto& c : whole) c = static_cast<char>(rng());
  for (int trial = 0; trial < 50; ++trial) {
    s4db::detail::digest::builder pieces;
    std::size_t at = 0;
    while (at < whole.size()) {
      const std::size_t n = std::min<std::size_t>(whole.size() - at, rng() % 3 == 0 ? 0 : rng() % 70000);
      pieces.add(n == 0 ? std::string_view() : std::string_view(whole).substr(at, n));
      at += n;
    }
    BOOST_REQUIRE((pieces.done() == s4db::detail::digest::of(whole)));
  }
  BOOST_TEST(s4db::detail::digest::of(whole).matches(whole));
}

BOOST_AUTO_TEST_SUITE_END()
