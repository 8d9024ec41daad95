// Big-endian integer encoding, the byte order of every integer in the s4db format
// (docs/format.md). Bytes in, bytes out; no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line

namespace s4db {
inline namespace v0 {
namespace format {

template <class UInt>
void append_be(std::string& out, UInt value) {
  for (int shift = static_cast<int>(sizeof(UInt) * 8) - 8; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>(static_cast<unsigned char>(value >> shift)));
}

// Reads sizeof(UInt) bytes at `p`; the caller has checked they are there.
template <class UInt>
UInt load_be(const char* p) {
  UInt value = 0;
  for (std::size_t i = 0; i < sizeof(UInt); ++i)
    value = static_cast<UInt>((value << 8) | static_cast<unsigned char>(p[i]));
  return value;
}

}  // namespace format
}  // namespace v0
}  // namespace s4db
