// Fuzz target: format 3 manifest bytes (format/manifest.hpp). Decoding must never crash,
// hang, read out of bounds or allocate past what the bytes hold; what decodes must
// re-encode to exactly the input.
#include <cstdint>
#include <cstdlib>
#include <s4db/format/manifest.hpp>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto m = s4db::format::decode_manifest(bytes, "fuzz");
    if (s4db::format::encode_manifest(m) != bytes) std::abort();
  } catch (const s4db::corruption_error&) {
  }
  return 0;
}
