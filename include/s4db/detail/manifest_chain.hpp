// The chain of format 3's numbered manifests under a prefix (docs/format.md, "The
// manifest"): finding the newest, reading one, and creating the next with If-None-Match: *
// so that of two writers committing on top of the same manifest exactly one wins. An
// unknown outcome (a lost response, or a 412 to a retry of a create that took effect) is
// settled by reading the manifest back, never guessed. Holds a reference to the db's
// store; thread-safe as the store is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "../concepts.hpp"
#include "../error.hpp"
#include "../format/manifest.hpp"

namespace s4db {
inline namespace v0 {
namespace detail {

// A manifest as the store holds it: its bytes and what they say.
struct published_manifest {
  std::string bytes;
  format::manifest value;
};

template <class Store>
class manifest_chain {
 public:
  manifest_chain(Store& store, std::string prefix) : store_(store), prefix_(std::move(prefix)) {}

  std::string key(std::uint64_t n) const { return prefix_ + format::manifest_name(n); }

  // Manifest n, or nullopt when the store has none of that number. Throws corruption_error
  // when its bytes are not a manifest, or not manifest n.
  std::optional<published_manifest> read(std::uint64_t n) const {
    auto object = store_.get(key(n));
    if (!object) return std::nullopt;
    auto value = format::decode_manifest(object->data, key(n));
    if (value.number != n)
      throw_corruption(key(n) + ": the manifest says it is number " + std::to_string(value.number));
    return published_manifest{std::move(object->data), std::move(value)};
  }

  // The newest manifest, or nullopt when there is none: the highest number a listing
  // names, then the ones after it until one is missing (a listing may lag a create).
  std::optional<published_manifest> newest() const {
    std::uint64_t highest = 0;
    for (const auto& o : store_.list(prefix_ + std::string(format::manifest_head)))
      if (auto n = format::parse_manifest_name(std::string_view(o.key).substr(prefix_.size())))
        highest = std::max(highest, *n);
    std::optional<published_manifest> found;
    if (highest > 0) {
      found = read(highest);
      if (!found)  // deleted since the listing (gc of an old one, never of the newest): list again
        return newest_after_a_race(highest);
    }
    return follow(std::move(found));
  }

  // The manifests after `current` (the newest this copy holds) until one is missing: one
  // request when nothing changed. Returns the newest, or nullopt when there is none past it.
  std::optional<published_manifest> after(std::uint64_t current) const {
    auto next = read(current + 1);
    if (!next) return std::nullopt;
    return follow(std::move(next));
  }

  enum class created { ours, lost };

  // Creates manifest n (If-None-Match: *). `lost` when another writer created n first (the
  // store holds other bytes under its name). Any failure is settled by reading n back: our
  // bytes there mean the create took effect (`ours`). When even the read-back fails, throws
  // a store_error that may have applied (the caller keeps its note and settles it later).
  created create(std::uint64_t n, const std::string& bytes) const {
    try {
      store_.put(key(n), bytes, put_condition::when_absent());
      return created::ours;
    } catch (const error& e) {
      std::optional<object> back;
      try {
        back = store_.get(key(n));
      } catch (const store_error& read) {
        throw_store("commit of " + key(n) + ": the outcome is unknown, reading it back failed (" + read.what() +
                        "; the PUT said: " + e.what() + ")",
                    0, true, true);
      }
      if (back && back->data == bytes) return created::ours;
      if (back) return created::lost;
      throw;  // not there: the create failed before taking effect
    }
  }

 private:
  std::optional<published_manifest> follow(std::optional<published_manifest> found) const {
    for (;;) {
      auto next = read(found ? found->value.number + 1 : 1);
      if (!next) return found;
      found = std::move(next);
    }
  }

  std::optional<published_manifest> newest_after_a_race(std::uint64_t gone) const {
    for (int attempt = 0; attempt < 3; ++attempt) {
      std::uint64_t highest = 0;
      for (const auto& o : store_.list(prefix_ + std::string(format::manifest_head)))
        if (auto n = format::parse_manifest_name(std::string_view(o.key).substr(prefix_.size())))
          highest = std::max(highest, *n);
      if (highest == 0) break;
      if (auto found = read(highest)) return follow(std::move(found));
    }
    throw_store(key(gone) + ": the newest manifest the listing names keeps vanishing; try again", 404, true);
  }

  Store& store_;
  std::string prefix_;
};

}  // namespace detail
}  // namespace v0
}  // namespace s4db
