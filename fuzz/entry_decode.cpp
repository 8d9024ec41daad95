// Fuzz target: data-file bytes. Parsing must never crash, read out of bounds or accept an
// entry whose CRC is wrong; what parses must re-encode to the same bytes.
#include <cstdint>
#include <cstdlib>
#include <s4db/codec/snappy.hpp>
#include <s4db/format/entry.hpp>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace format = s4db::format;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    format::parse_file_header(bytes, "fuzz");
  } catch (const s4db::corruption_error&) {
  }
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const auto [status, entry] = format::parse_entry(bytes.substr(pos));
    if (status != format::parse_status::ok) break;
    std::string again;
    format::append_entry(again, entry.flags, entry.key, entry.value);
    if (again != bytes.substr(pos, entry.size)) std::abort();
    std::string value;
    (void)s4db::snappy_codec{}.decode(entry.value, value);
    pos += entry.size;
  }
  return 0;
}
