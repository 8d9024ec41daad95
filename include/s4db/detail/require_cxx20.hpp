// Every public header includes this: an older language gets one clear line, not hundreds
// of errors from the C++20 code (the header sorts among the includes, and the first s4db
// header any file includes reaches it before any C++20 code).
#pragma once

#if __cplusplus < 202002L
#error "s4db needs C++20: compile with -std=c++20 (g++ 12 defaults to C++17; the s4db CMake targets set it)"
// A missing header is a fatal error: the compiler stops here instead of going on.
#include <s4db-stops-here-because-it-needs-cxx20>
#endif
