// Must not compile: this store has no get_range. basic_db names the missing member.
#include <s4db/s4db.hpp>

struct broken_store {
  std::optional<s4db::object> get(const std::string&) { return std::nullopt; }
  bool get_file(const std::string&, const std::filesystem::path&) { return false; }
  std::string put(const std::string&, std::string_view, const s4db::put_condition&) { return {}; }
  std::string put_file(const std::string&, const std::filesystem::path&, const s4db::put_condition&) { return {}; }
  std::optional<s4db::object_info> head(const std::string&) { return std::nullopt; }
  void remove(std::span<const std::string>) {}
  std::vector<s4db::object_info> list(const std::string&) { return {}; }
};

int main() { s4db::basic_db<broken_store> db{broken_store{}}; }
