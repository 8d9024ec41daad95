// The library version, for the preprocessor and for code.
#pragma once

#include "detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line

#define S4DB_VERSION_MAJOR 0
#define S4DB_VERSION_MINOR 1
#define S4DB_VERSION_PATCH 0
#define S4DB_STRINGIFY_(x) #x
#define S4DB_STRINGIFY(x) S4DB_STRINGIFY_(x)
#define S4DB_VERSION_STRING \
  S4DB_STRINGIFY(S4DB_VERSION_MAJOR) "." S4DB_STRINGIFY(S4DB_VERSION_MINOR) "." S4DB_STRINGIFY(S4DB_VERSION_PATCH)

namespace s4db {
inline namespace v0 {

inline constexpr int version_major = S4DB_VERSION_MAJOR;
inline constexpr int version_minor = S4DB_VERSION_MINOR;
inline constexpr int version_patch = S4DB_VERSION_PATCH;

}  // namespace v0
}  // namespace s4db
