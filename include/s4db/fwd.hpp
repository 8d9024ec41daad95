// Declarations only: basic_db with its defaulted policies and the shipped policy names,
// for headers that mention s4db types without needing their definitions.
#pragma once

#include "detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line

namespace s4db {
inline namespace v0 {

struct options;
struct items_options;

class memory_store;
class fs_store;
class s3_store;

struct snappy_codec;
struct identity_codec;

struct compact_index;
struct unordered_index;
struct ordered_index;
struct flat_index;

template <class Store, class Codec = snappy_codec, class Index = compact_index>
class basic_db;

}  // namespace v0
}  // namespace s4db
