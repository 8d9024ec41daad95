// Must compile: the same harness with a complete user-written store, so the failures
// above are caused by the missing members and nothing else.
#include <s4db/s4db.hpp>

struct my_store {
  s4db::memory_store inner;
  std::optional<s4db::object> get(const std::string& k) { return inner.get(k); }
  std::string get_range(const std::string& k, std::uint64_t o, std::uint64_t n) { return inner.get_range(k, o, n); }
  bool get_file(const std::string& k, const std::filesystem::path& p) { return inner.get_file(k, p); }
  std::string put(const std::string& k, std::string_view d, const s4db::put_condition& c) { return inner.put(k, d, c); }
  std::string put_file(const std::string& k, const std::filesystem::path& p, const s4db::put_condition& c) {
    return inner.put_file(k, p, c);
  }
  std::optional<s4db::object_info> head(const std::string& k) { return inner.head(k); }
  void remove(std::span<const std::string> keys) { inner.remove(keys); }
  std::vector<s4db::object_info> list(const std::string& p) { return inner.list(p); }
};

int main() {
  s4db::basic_db<my_store> db{my_store{}};
  db.put("k", "v");
  return db.get("k") == "v" ? 0 : 1;
}
