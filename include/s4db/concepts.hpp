// The three policies of basic_db, each a C++20 concept made of small named requirements.
// basic_db asserts every requirement separately, so a type that misses one member fails
// with a message naming that member (docs/policies.md has the tables and examples).
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "format/index_file.hpp"

namespace s4db {
inline namespace v0 {

// ---------------------------------------------------------------------------- store
// An object store: flat keys to immutable byte strings, as S3 has them. Keys arrive
// already prefixed (prefix + "index.idx"). Failures throw store_error; a key the store
// cannot hold throws usage_error. Every member may be called from several threads at once.

struct object_info {
  std::string key;
  std::uint64_t size = 0;
  std::string etag;  // changes whenever the object is rewritten
  // When it was last written; list() fills it in (gc() spares younger objects).
  std::chrono::system_clock::time_point last_modified{};
};

struct object {
  std::string data;
  std::string etag;
};

// A conditional write, for fencing writers: S3's If-None-Match: * and If-Match: <etag>.
// A lost condition throws conflict_error.
struct put_condition {
  bool if_absent = false;
  std::optional<std::string> if_match{};

  static put_condition when_absent() { return {true, std::nullopt}; }
  static put_condition when_matching(std::string etag) { return {false, std::move(etag)}; }
};

// get(key): the whole object, or nullopt when there is none.
template <class S>
concept store_gets_objects = requires(S& s, const std::string& key) {
  { s.get(key) } -> std::same_as<std::optional<object>>;
};

// get_range(key, offset, length): exactly those bytes (fewer only if the object is shorter);
// one request, no HEAD first. A missing object is a store_error.
template <class S>
concept store_gets_ranges = requires(S& s, const std::string& key, std::uint64_t n) {
  { s.get_range(key, n, n) } -> std::same_as<std::string>;
};

// get_file(key, path): writes the object to path (replacing it); false when missing.
template <class S>
concept store_gets_files = requires(S& s, const std::string& key, const std::filesystem::path& p) {
  { s.get_file(key, p) } -> std::same_as<bool>;
};

// put(key, bytes, condition): stores the whole object atomically; returns its new ETag.
template <class S>
concept store_puts_objects = requires(S& s, const std::string& key, std::string_view data, const put_condition& c) {
  { s.put(key, data, c) } -> std::same_as<std::string>;
};

// put_file(key, path, condition): the same with the body streamed from a local file.
template <class S>
concept store_puts_files = requires(S& s, const std::string& key, const std::filesystem::path& p,
                                    const put_condition& c) {
  { s.put_file(key, p, c) } -> std::same_as<std::string>;
};

// head(key): size and ETag, or nullopt when missing.
template <class S>
concept store_heads_objects = requires(S& s, const std::string& key) {
  { s.head(key) } -> std::same_as<std::optional<object_info>>;
};

// remove(keys): deletes them; keys already gone are not an error.
template <class S>
concept store_removes_objects = requires(S& s, std::span<const std::string> keys) {
  { s.remove(keys) } -> std::same_as<void>;
};

// list(prefix): every object whose key starts with prefix, all pages, sorted by key.
template <class S>
concept store_lists_objects = requires(S& s, const std::string& prefix) {
  { s.list(prefix) } -> std::same_as<std::vector<object_info>>;
};

template <class S>
concept store =
    std::movable<S> && store_gets_objects<S> && store_gets_ranges<S> && store_gets_files<S> && store_puts_objects<S> &&
    store_puts_files<S> && store_heads_objects<S> && store_removes_objects<S> && store_lists_objects<S>;

// What a store's conditional writes are worth, as a probe found them (a server may ignore
// the headers, or read them otherwise than AWS does).
struct fencing_report {
  std::string server;          // the endpoint and bucket probed
  bool if_absent = true;       // If-None-Match: * over an existing object is refused
  bool if_match = true;        // If-Match with a wrong ETag is refused, with the right one accepted
  bool multipart = true;       // a multipart upload's completion honours both as well
  bool unquoted_etag = false;  // If-Match matches only the ETag without its quotes (Ceph RGW 16)
  bool probed = true;          // false: the store honours them by construction (fs, memory)

  // Whether fenced commits are safe there (multipart or not: an unfenced multipart
  // completion only keeps conditional writes to single PUTs).
  bool fences() const noexcept { return if_absent && if_match; }

  std::string summary() const {
    if (!probed) return "honoured by the store itself";
    auto yes = [](bool b) { return b ? "honoured" : "IGNORED"; };
    return std::string("If-None-Match: * ") + yes(if_absent) + ", If-Match " + yes(if_match) +
           (if_match ? unquoted_etag ? " (the ETag unquoted)" : " (the ETag quoted)" : "") +
           ", on multipart completion " + yes(multipart);
  }
};

// Optional. fencing(prefix, cache_file): probes, once, whether the store honours
// conditional writes, with a scratch object under prefix; the answer is kept in memory and,
// given a cache_file, there. Stores without it honour them by construction (fs, memory).
template <class S>
concept store_probes_fencing = requires(S& s, const std::string& prefix,
                                        const std::optional<std::filesystem::path>& cache_file) {
  { s.fencing(prefix, cache_file) } -> std::same_as<fencing_report>;
};

// ---------------------------------------------------------------------------- codec
// How values are stored. A codec is recorded in every entry's flags byte, so a db opened
// with the wrong codec reports corruption_error instead of returning garbage.

// C::flag: the flags byte of its put entries (0x00 is Snappy, 0x01 is the tombstone).
template <class C>
concept codec_has_flag = requires {
  { C::flag } -> std::convertible_to<std::uint8_t>;
}
&&(C::flag != 0x01);

// C::name: a short name for messages and the local state file.
template <class C>
concept codec_has_name = requires {
  { C::name } -> std::convertible_to<std::string_view>;
};

// encode(value, out): replaces out with the stored form of value.
template <class C>
concept codec_encodes = requires(const C& c, std::string_view in, std::string& out) {
  { c.encode(in, out) } -> std::same_as<void>;
};

// decode(stored, out): replaces out with the value; false when stored is undecodable.
template <class C>
concept codec_decodes = requires(const C& c, std::string_view in, std::string& out) {
  { c.decode(in, out) } -> std::same_as<bool>;
};

template <class C>
concept codec =
    std::default_initializable<C> && codec_has_flag<C> && codec_has_name<C> && codec_encodes<C> && codec_decodes<C>;

// ---------------------------------------------------------------------------- index
// The container behind the in-memory index, named as I::map_type<location>: a map from
// std::string keys that also finds by std::string_view without building a string.

template <class I>
concept index_has_map_type = requires {
  typename I::template map_type<location>;
};

template <class I>
using index_map_t = typename I::template map_type<location>;

// find(string_view) compared with end(), the found element's ->second a location.
template <class I>
concept index_finds_by_view = requires(const index_map_t<I>& m, std::string_view key) {
  { m.find(key) == m.end() } -> std::convertible_to<bool>;
  { m.find(key)->second } -> std::convertible_to<location>;
};

// insert_or_assign(std::string, location), erase(iterator), size(), clear().
template <class I>
concept index_modifies = requires(index_map_t<I>& m, std::string key, location loc) {
  m.insert_or_assign(std::move(key), loc);
  m.erase(m.find(std::string_view(key)));
  { m.size() } -> std::convertible_to<std::size_t>;
  m.clear();
};

// Iteration yields elements with .first (the key) and .second (its location).
template <class I>
concept index_iterates = requires(const index_map_t<I>& m) {
  { m.begin()->first } -> std::convertible_to<std::string_view>;
  { m.begin()->second } -> std::convertible_to<location>;
};

template <class I>
concept index = index_has_map_type<I> && std::default_initializable<index_map_t<I>> && index_finds_by_view<I> &&
    index_modifies<I> && index_iterates<I>;

}  // namespace v0
}  // namespace s4db
