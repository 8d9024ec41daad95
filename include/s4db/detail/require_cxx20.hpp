// Every public header includes this first: an older language gets one clear line, not
// hundreds of errors from the C++20 code that follows.
#pragma once

#if __cplusplus < 202002L
#error "s4db needs C++20 or later: compile with -std=c++20 (g++ 12 defaults to C++17; CMake's s4db targets and pkg-config's s4db module set it)"
// A missing header is a fatal error: the compiler stops here instead of going on.
#include <s4db-stops-here-because-it-needs-cxx20>
#endif
