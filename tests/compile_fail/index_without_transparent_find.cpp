// Must not compile: std::unordered_map without a transparent hash cannot find by
// std::string_view. basic_db says so.
#include <s4db/s4db.hpp>
#include <unordered_map>

struct broken_index {
  template <class Value>
  using map_type = std::unordered_map<std::string, Value>;
};

int main() { s4db::basic_db<s4db::memory_store, s4db::snappy_codec, broken_index> db{s4db::memory_store{}}; }
