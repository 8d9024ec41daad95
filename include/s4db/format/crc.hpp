// CRC-32 (IEEE, zlib's crc32()), the checksum of every entry and of a version 2 index.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <string_view>

#include "../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line

namespace s4db {
inline namespace v0 {
namespace format {

inline std::uint32_t crc32_of(std::string_view bytes) {
  // zlib takes uInt lengths; entries and indexes are bounded below 4 GiB by the format's u32s.
  return static_cast<std::uint32_t>(
      ::crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

}  // namespace format
}  // namespace v0
}  // namespace s4db
