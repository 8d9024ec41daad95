// Fuzz target: a working copy's index checkpoint (compact_index). Loading must never crash,
// read out of bounds or hang: what loads can be walked, searched, written to and saved again.
#include <cstdint>
#include <s4db/index/compact.hpp>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto loaded = s4db::detail::compact_map<s4db::location>::from_checkpoint(bytes);
  if (!loaded) return 0;
  for (const auto& element : *loaded) (void)loaded->find(element.first);
  if (loaded->size() > 0) loaded->erase(loaded->begin());
  loaded->insert_or_assign(std::string_view("fuzz"), s4db::location{1, 2, 3});
  (void)loaded->checkpoint();
  return 0;
}
