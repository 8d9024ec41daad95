// compact_index: the default index. An open-addressing hash map laid out for memory and for
// a fast reopen: the keys live in one arena, each element is a fixed-size record (its value
// packed, where the key sits in the arena) in one array, and the table is an array of 8-byte
// slots (32 bits of the key's hash, the record's number) probed linearly. About 28 bytes per
// key for a location record plus 10 to 13.3 for the table, plus the key bytes; growing never
// hashes a key again (the slot keeps its hash). Erasing moves the last record into the hole,
// so iteration is a walk over one array, in no particular order. The table grows
// incrementally (as Redis's dict does): the old one stays beside the new, each insert moves a
// few of its slots across, and a lookup not answered by the new table asks the old one, so
// no insert waits for every key to move (at 10M keys a whole rehash took 200 ms).
//
// Its checkpoint is that memory written out as it is (docs/format.md, "Checkpoint"): loading
// one is three reads and a bounds check, no parsing and no hashing.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../concepts.hpp"
#include "../detail/buffer.hpp"
#include "../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line

namespace s4db {
inline namespace v0 {
namespace detail {

// How a value is packed into a record: its bytes as they are, or for a location only the
// 20 bytes that carry data (the struct has 4 bytes of padding).
template <class Value>
struct packed {
  static constexpr std::size_t size = sizeof(Value);
  static void store(unsigned char* to, const Value& v) { std::memcpy(to, &v, size); }
  static Value load(const unsigned char* from) {
    Value v;
    std::memcpy(&v, from, size);
    return v;
  }
};

template <>
struct packed<location> {
  static constexpr std::size_t size = 20;
  static void store(unsigned char* to, const location& v) {
    std::memcpy(to, &v.file, 8);
    std::memcpy(to + 8, &v.offset, 8);
    std::memcpy(to + 16, &v.length, 4);
  }
  static location load(const unsigned char* from) {
    location v;
    std::memcpy(&v.file, from, 8);
    std::memcpy(&v.offset, from + 8, 8);
    std::memcpy(&v.length, from + 16, 4);
    return v;
  }
};

template <class Value>
class compact_map {
  static_assert(std::is_trivially_copyable_v<Value> && std::is_default_constructible_v<Value>);

  // A record: the packed value, then the key's place in the arena (offset << 16 | length).
  static constexpr std::size_t value_size = packed<Value>::size;
  static constexpr std::size_t record_size = value_size + 8;

  struct slot {
    std::uint32_t hash;    // the high 32 bits of the key's hash; its home slot derives from it
    std::uint32_t record;  // the record's number + 1; 0 is an empty slot (slot{} is empty)
  };
  // In the old table while it is moved across: a slot already moved (or erased), which a
  // probe passes over as it would an occupied one. Never in the new table or a checkpoint.
  static constexpr std::uint32_t moved = 0xffffffff;
  // Old slots moved across per insert: the old table has about 0.7 of the new one's slots,
  // and the new one takes 0.25 of its size in inserts before it is full, so at least 3.
  static constexpr std::size_t moves_per_insert = 8;

  // The table is grown (or sized by reserve) to fill_load, and grows past max_load; a
  // checkpoint saves it at no less than saved_load, so a reopened map is at its smallest.
  static constexpr double fill_load = 0.6;
  static constexpr double saved_load = 0.8;
  static constexpr double max_load = 0.85;

 public:
  using key_type = std::string;
  using mapped_type = Value;

  struct element {
    std::string_view first;
    Value second;
  };

  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = element;
    using difference_type = std::ptrdiff_t;
    using reference = element;
    struct arrow {
      element e;
      const element* operator->() const { return &e; }
    };

    iterator() = default;
    element operator*() const { return map_->element_at(i_); }
    arrow operator->() const { return {**this}; }
    iterator& operator++() {
      ++i_;
      return *this;
    }
    iterator operator++(int) {
      auto old = *this;
      ++i_;
      return old;
    }
    friend bool operator==(const iterator& a, const iterator& b) { return a.i_ == b.i_; }

   private:
    friend class compact_map;
    iterator(const compact_map* map, std::size_t i) : map_(map), i_(i) {}
    const compact_map* map_ = nullptr;
    std::size_t i_ = 0;
  };
  using const_iterator = iterator;

  compact_map() = default;

  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  iterator begin() const { return {this, 0}; }
  iterator end() const { return {this, count_}; }

  void clear() {
    records_ = {};
    arena_ = {};
    slots_ = {};
    old_ = {};
    moved_ = 0;
    count_ = 0;
    garbage_ = 0;
  }

  // Room for n elements (and key_bytes of keys) without growing.
  void reserve(std::size_t n, std::size_t key_bytes = 0) {
    if (records_.size() < n * record_size) records_.resize(n * record_size);
    arena_.reserve(key_bytes);
    if (static_cast<double>(n) > static_cast<double>(slots_.size()) * max_load) rehash(table_size_for(n));
  }

  iterator find(std::string_view key) const {
    if (count_ == 0) return end();
    const auto tag = static_cast<std::uint32_t>(hash_of(key) >> 32);
    if (const auto at = find_in(slots_, key, tag); at.second) return {this, at.second - 1};
    if (const auto at = find_in(old_, key, tag); at.second) return {this, at.second - 1};
    return end();
  }

  bool contains(std::string_view key) const { return find(key) != end(); }

  // Starts loading the key's home slot into the cache: a bulk load prefetches a few keys
  // ahead of their inserts, so the table's cache misses overlap.
  void prefetch(std::string_view key) const {
    if (!slots_.size()) return;
    __builtin_prefetch(slots_.data() + home(static_cast<std::uint32_t>(hash_of(key) >> 32)));
  }

  void insert_or_assign(std::string_view key, const Value& value) {
    move_across(moves_per_insert);
    if (static_cast<double>(count_ + 1) > static_cast<double>(slots_.size()) * max_load)
      start_growth(table_size_for(count_ + 1));
    const auto tag = static_cast<std::uint32_t>(hash_of(key) >> 32);
    auto [i, found] = find_in(slots_, key, tag);  // i: the empty slot ending the probe when not found
    if (!found) found = find_in(old_, key, tag).second;
    if (found) {
      packed<Value>::store(record(found - 1), value);
      return;
    }
    append_record(key, value);
    slots_[i] = {tag, static_cast<std::uint32_t>(count_)};
  }

  void insert_or_assign(const std::string& key, const Value& value) { insert_or_assign(std::string_view(key), value); }
  void insert_or_assign(const char* key, const Value& value) { insert_or_assign(std::string_view(key), value); }

  // Removes the element; the last one takes its place, so the returned iterator (the same
  // position) is the next element not yet visited in a walk from begin().
  iterator erase(iterator it) {
    const std::size_t victim = it.i_;
    const std::size_t last = count_ - 1;
    garbage_ += key_at(victim).size();
    if (auto [table, i] = slot_of(victim); table == &old_)
      old_[i].record = moved;  // no shift in the old table: its slots after the cursor stay after it
    else
      remove_slot(i);
    if (victim != last) {
      const auto [table, i] = slot_of(last);
      (*table)[i].record = static_cast<std::uint32_t>(victim + 1);
      std::memcpy(record(victim), record(last), record_size);
    }
    --count_;
    if (garbage_ > (1u << 20) && garbage_ * 2 > arena_.size()) compact_arena();
    return {this, victim};
  }

  std::size_t erase(std::string_view key) {
    const auto it = find(key);
    if (it == end()) return 0;
    erase(it);
    return 1;
  }

  // The key's hash, part of the checkpoint's format (so not std::hash, which differs between
  // standard libraries): 8-byte little-endian words, the last one zero-padded, each mixed
  // in with multiplications, then the whole avalanched (docs/format.md, "Checkpoint").
  static std::uint64_t hash_of(std::string_view key) {
    constexpr std::uint64_t k1 = 0x9e3779b97f4a7c15ull, k2 = 0xbf58476d1ce4e5b9ull, k3 = 0x94d049bb133111ebull;
    std::uint64_t h = k1 ^ (key.size() * k3);
    for (std::size_t i = 0; i < key.size(); i += 8) {
      std::uint64_t w = 0;
      if (key.size() - i >= 8) {
        std::memcpy(&w, key.data() + i, 8);
        if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
      } else {
        for (std::size_t b = 0; i + b < key.size(); ++b)
          w |= std::uint64_t{static_cast<unsigned char>(key[i + b])} << (8 * b);
      }
      w *= k2;
      h = (h ^ (w ^ (w >> 31))) * k1;
    }
    h ^= h >> 30;
    h *= k2;
    h ^= h >> 27;
    h *= k3;
    return h ^ (h >> 31);
  }

  // ------------------------------------------------------------------ checkpoint

  // The checkpoint: a 40-byte header ("S4DBCKP1", then the element count, the table size,
  // the arena's size and the record size as 64-bit integers), then the records, the arena,
  // zeros up to a multiple of 8 bytes, and the table, as they are in memory, in the
  // machine's byte order: a checkpoint is a
  // local file (one from a machine of the other byte order fails the record size check).
  // docs/format.md, "Checkpoint".
  static constexpr std::string_view checkpoint_magic = "S4DBCKP1";
  static constexpr std::size_t checkpoint_header_size = 40;

  static bool is_checkpoint(std::string_view bytes) { return bytes.starts_with(checkpoint_magic); }

  // The checkpoint as views of the map's own arrays (valid until the map changes), to be
  // written out one after another: nothing is copied.
  struct image {
    std::string header;
    std::string_view records, arena, padding, table;
    std::array<std::string_view, 5> pieces() const { return {header, records, arena, padding, table}; }
  };

  image checkpoint_image() {
    move_across(old_.size());
    if (garbage_ > 0) compact_arena();
    if (const auto tight = table_size_for(count_, saved_load); slots_.size() > tight) rehash(tight);
    image out;
    out.header = checkpoint_magic;
    for (std::uint64_t n : {std::uint64_t{count_}, std::uint64_t{slots_.size()}, std::uint64_t{arena_.size()},
                            std::uint64_t{record_size}})
      out.header.append(reinterpret_cast<const char*>(&n), 8);
    out.records = {reinterpret_cast<const char*>(records_.data()), count_ * record_size};
    out.arena = {arena_.data(), arena_.size()};
    out.padding = std::string_view(
        zeros, table_at(count_, arena_.size()) - (checkpoint_header_size + count_ * record_size + arena_.size()));
    out.table = {reinterpret_cast<const char*>(slots_.data()), slots_.size() * sizeof(slot)};
    return out;
  }

  // The checkpoint as one string.
  std::string checkpoint() {
    std::string out;
    const auto whole = checkpoint_image();  // a range-for would drop it before the loop
    for (auto piece : whole.pieces()) out += piece;
    return out;
  }

  // The map a checkpoint holds, or nullopt when the bytes are not a whole, consistent one
  // (a size or a reference out of bounds, a table with no empty slot, a record named by no
  // slot or by two). With `writable`, the
  // bytes are memory the map may keep and write (a private mapping that `writable` keeps
  // alive): the arrays are used in place, not copied.
  // `visit(value)` sees each element's value in the pass that checks its key (a caller
  // needing one pass over the values has it for free).
  template <class Visit = void (*)(const Value&)>
  static std::optional<compact_map> from_checkpoint(
      std::string_view bytes, std::shared_ptr<const void> writable = nullptr, Visit&& visit = [](const Value&) {}) {
    if (!is_checkpoint(bytes) || bytes.size() < checkpoint_header_size) return std::nullopt;
    const std::uint64_t count = header_field(bytes, 0);
    const std::uint64_t table = header_field(bytes, 1);
    const std::uint64_t arena = header_field(bytes, 2);
    const std::uint64_t rsize = header_field(bytes, 3);
    const std::uint64_t room = bytes.size() - checkpoint_header_size;
    if (rsize != record_size || table > (1ull << 32) || (count > 0 && count >= table) || count > room / record_size ||
        arena > room - count * record_size)
      return std::nullopt;
    const std::uint64_t at = table_at(count, arena);
    if (at > bytes.size() || table * sizeof(slot) != bytes.size() - at) return std::nullopt;
    char* const base = const_cast<char*>(bytes.data());  // written only when `writable`
    const bool in_place = writable && reinterpret_cast<std::uintptr_t>(base + at) % alignof(slot) == 0;
    auto lend = [&]<class T>(buffer<T>& into, std::uint64_t offset, std::uint64_t n) {
      if (in_place) {
        into = buffer<T>(reinterpret_cast<T*>(base + offset), n, writable);
      } else {
        into.resize(n);  // default-initialised: copied over right away
        if (n > 0) std::memcpy(into.data(), bytes.data() + offset, n * sizeof(T));
      }
    };
    compact_map m;
    m.count_ = static_cast<std::size_t>(count);
    lend(m.records_, checkpoint_header_size, count * record_size);
    lend(m.arena_, checkpoint_header_size + count * record_size, arena);
    lend(m.slots_, at, table);
    std::vector<bool> named(static_cast<std::size_t>(count));  // each record by exactly one slot
    for (const slot& s : m.slots_) {
      if (s.record == 0) continue;
      if (s.record > count || named[s.record - 1]) return std::nullopt;
      named[s.record - 1] = true;
    }
    if (std::find(named.begin(), named.end(), false) != named.end()) return std::nullopt;
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint64_t ref = m.key_ref(i);
      if ((ref >> 16) + (ref & 0xffff) > arena) return std::nullopt;
      visit(packed<Value>::load(m.record(i)));
    }
    return m;
  }

 private:
  static constexpr char zeros[8] = {};

  // Where the table starts: after the records and the arena, on a multiple of 8.
  static std::uint64_t table_at(std::uint64_t count, std::uint64_t arena) {
    return (checkpoint_header_size + count * record_size + arena + 7) / 8 * 8;
  }

  static std::uint64_t header_field(std::string_view bytes, std::size_t i) {
    std::uint64_t v;
    std::memcpy(&v, bytes.data() + 8 + 8 * i, 8);
    return v;
  }

  static std::size_t home(std::uint32_t tag, std::size_t table_size) {
    return static_cast<std::size_t>((std::uint64_t{tag} * table_size) >> 32);
  }
  static std::size_t next(std::size_t i, std::size_t table_size) { return i + 1 == table_size ? 0 : i + 1; }
  std::size_t home(std::uint32_t tag) const { return home(tag, slots_.size()); }
  std::size_t next(std::size_t i) const { return next(i, slots_.size()); }

  // Probes `table` for key: (the slot where the probe ended, the record's number + 1, or 0
  // when the key is not there, the slot then being the empty one the probe stopped at).
  std::pair<std::size_t, std::uint32_t> find_in(const buffer<slot>& table, std::string_view key,
                                                std::uint32_t tag) const {
    const std::size_t n = table.size();
    if (n == 0) return {0, 0};
    for (std::size_t i = home(tag, n);; i = next(i, n)) {
      const slot s = table[i];
      if (s.record == 0) return {i, 0};
      if (s.record != moved && s.hash == tag && key_at(s.record - 1) == key) return {i, s.record};
    }
  }

  // Makes a new table of `size` slots the one inserts go to; the current one becomes the old
  // one, moved across a few slots per insert (one still being moved is finished first).
  void start_growth(std::size_t size) {
    move_across(old_.size());
    old_ = std::move(slots_);
    moved_ = 0;
    slots_.assign_zeros(size);
  }

  // Moves up to n more slots of the old table across; frees it when all are.
  void move_across(std::size_t n) {
    if (old_.size() == 0) return;
    for (const std::size_t stop = std::min(old_.size(), moved_ + n); moved_ < stop; ++moved_) {
      slot& s = old_[moved_];
      if (s.record == 0 || s.record == moved) continue;
      std::size_t i = home(s.hash);
      while (slots_[i].record != 0) i = next(i);
      slots_[i] = s;
      s.record = moved;
    }
    if (moved_ == old_.size()) {
      old_ = {};
      moved_ = 0;
    }
  }

  static std::size_t table_size_for(std::size_t n, double load = fill_load) {
    return std::max<std::size_t>(16, static_cast<std::size_t>(static_cast<double>(n) / load) + 1);
  }

  unsigned char* record(std::size_t i) { return records_.data() + i * record_size; }
  const unsigned char* record(std::size_t i) const { return records_.data() + i * record_size; }

  std::uint64_t key_ref(std::size_t i) const {
    std::uint64_t ref;
    std::memcpy(&ref, record(i) + value_size, 8);
    return ref;
  }

  std::string_view key_at(std::size_t i) const {
    const std::uint64_t ref = key_ref(i);
    return {arena_.data() + (ref >> 16), static_cast<std::size_t>(ref & 0xffff)};
  }

  element element_at(std::size_t i) const { return {key_at(i), packed<Value>::load(record(i))}; }

  // Grows the arrays by half when full (not by doubling: memory is the point here).
  template <class Vector>
  static void make_room(Vector& v, std::size_t needed) {
    if (v.capacity() < needed) v.reserve(std::max(needed, v.capacity() + v.capacity() / 2));
  }

  void append_record(std::string_view key, const Value& value) {
    if (key.size() > 0xffff) throw std::length_error("s4db: a key over 65,535 bytes");
    const std::uint64_t ref = std::uint64_t{arena_.size()} << 16 | key.size();
    make_room(arena_, arena_.size() + key.size());
    arena_.append(key.data(), key.size());
    if (records_.size() < (count_ + 1) * record_size) {
      make_room(records_, (count_ + 1) * record_size);
      records_.resize(records_.capacity());
    }
    packed<Value>::store(record(count_), value);
    std::memcpy(record(count_) + value_size, &ref, 8);
    ++count_;
  }

  // The slot that points at record i: (its table, its index there). Found along the key's
  // probe; a checkpoint from elsewhere may hold a slot off it (its hash not its key's, which
  // from_checkpoint cannot tell without hashing every key), so then by a walk of both tables.
  std::pair<buffer<slot>*, std::size_t> slot_of(std::size_t i) {
    const auto tag = static_cast<std::uint32_t>(hash_of(key_at(i)) >> 32);
    const auto record = static_cast<std::uint32_t>(i + 1);
    for (auto* table : {&slots_, &old_}) {
      const std::size_t n = table->size();
      if (n == 0) continue;
      for (std::size_t s = home(tag, n); (*table)[s].record != 0; s = next(s, n))
        if ((*table)[s].record == record) return {table, s};
    }
    for (auto* table : {&slots_, &old_})
      for (std::size_t s = 0; s < table->size(); ++s)
        if ((*table)[s].record == record) return {table, s};
    std::abort();  // every record has a slot (from_checkpoint checks it, and every change keeps it)
  }

  // Empties slot i and moves later slots of the same run back (no tombstones).
  void remove_slot(std::size_t i) {
    for (std::size_t j = next(i);; j = next(j)) {
      const slot s = slots_[j];
      if (s.record == 0) break;
      const std::size_t h = home(s.hash);
      // s may fill the hole at i when i lies cyclically in [h, j).
      const bool movable = i <= j ? (h <= i || h > j) : (h <= i && h > j);
      if (movable) {
        slots_[i] = s;
        i = j;
      }
    }
    slots_[i] = {};
  }

  void rehash(std::size_t size) {
    move_across(old_.size());
    buffer<slot> old = std::move(slots_);
    slots_.assign_zeros(size);
    for (const slot& s : old) {
      if (s.record == 0) continue;
      std::size_t i = home(s.hash);
      while (slots_[i].record != 0) i = next(i);
      slots_[i] = s;
    }
  }

  // Rewrites the arena with the live keys only, in record order.
  void compact_arena() {
    buffer<char> fresh;
    fresh.reserve(arena_.size() - garbage_);
    for (std::size_t i = 0; i < count_; ++i) {
      const auto key = key_at(i);
      const std::uint64_t ref = std::uint64_t{fresh.size()} << 16 | key.size();
      fresh.append(key.data(), key.size());
      std::memcpy(record(i) + value_size, &ref, 8);
    }
    arena_ = std::move(fresh);
    garbage_ = 0;
  }

  buffer<unsigned char> records_;  // record i at i * record_size; only the first count_ are live
  buffer<char> arena_;             // the keys
  buffer<slot> slots_;
  buffer<slot> old_;       // the table before the last growth, while its slots move across
  std::size_t moved_ = 0;  // old_'s slots before this one have moved
  std::size_t count_ = 0;
  std::size_t garbage_ = 0;  // arena bytes of erased keys
};

}  // namespace detail

struct compact_index {
  template <class Value>
  using map_type = detail::compact_map<Value>;
};

static_assert(index<compact_index>);

}  // namespace v0
}  // namespace s4db
