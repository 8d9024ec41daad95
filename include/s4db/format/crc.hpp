// CRC-32 (IEEE, the one of zlib's crc32() and gzip), the checksum of every entry and of a
// version 2 index. Computed by ISA-L (Intel's storage library, Debian's libisal-dev): with
// carry-less multiplication it runs at memory speed, about 10 GB/s on a large buffer and 5 ns
// for a 75-byte entry, where zlib's table-driven crc32() takes 30 ms over 54 MB and 90 ns.
#pragma once

#include <isa-l/crc.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <cstdint>
#include <string_view>

#include "../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line

namespace s4db {
inline namespace v0 {
namespace format {

#if defined(__x86_64__)
// ISA-L's AVX-512 CRC returns with the upper halves of the vector registers in use, and
// until a vzeroupper every SSE instruction of the (SSE-compiled) caller pays for merging
// them: iterating 1M entries took 150 ms instead of 12. Only where AVX is (the instruction
// faults elsewhere, and there ISA-L uses no AVX).
[[gnu::target("avx")]] inline void clear_upper_vector_state() { _mm256_zeroupper(); }
#endif

// The CRC of `bytes` continuing one over the bytes before them (crc32_of(a + b) is
// crc32_of(b, crc32_of(a))), as zlib's crc32(crc, ...) chains.
inline std::uint32_t crc32_of(std::string_view bytes, std::uint32_t before = 0) {
  const auto crc = ::crc32_gzip_refl(before, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
#if defined(__x86_64__)
  static const bool avx = __builtin_cpu_supports("avx");
  if (avx) clear_upper_vector_state();
#endif
  return crc;
}

}  // namespace format
}  // namespace v0
}  // namespace s4db
