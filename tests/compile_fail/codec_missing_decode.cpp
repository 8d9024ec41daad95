// Must not compile: this codec cannot decode. basic_db names the missing member.
#include <s4db/s4db.hpp>

struct broken_codec {
  static constexpr std::uint8_t flag = 0x03;
  static constexpr std::string_view name = "broken";
  void encode(std::string_view in, std::string& out) const { out.assign(in); }
};

int main() { s4db::basic_db<s4db::memory_store, broken_codec> db{s4db::memory_store{}}; }
