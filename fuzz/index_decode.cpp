// Fuzz target: index.idx bytes. Decoding must never crash or read out of bounds; what
// decodes must re-encode to exactly the input.
#include <cstdint>
#include <cstdlib>
#include <s4db/format/index_file.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::vector<std::pair<std::string, s4db::location>> entries;
  try {
    const auto header = s4db::format::decode_index(
        bytes, "fuzz", [&](std::string_view key, s4db::location loc) { entries.emplace_back(key, loc); });
    if (s4db::format::encode_index(header.version, header.next_file, entries.size(), entries) != bytes) std::abort();
  } catch (const s4db::corruption_error&) {
  }
  return 0;
}
