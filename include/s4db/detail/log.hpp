// Sends a line to the user's log sink, or warnings and errors to std::cerr without one.
#pragma once

#include <iostream>
#include <string_view>

#include "../options.hpp"

namespace s4db {
inline namespace v0 {
namespace detail {

inline void log(const log_sink& sink, log_level level, std::string_view line) noexcept {
  try {
    if (sink) {
      sink(level, line);
    } else if (level >= log_level::warning) {
      std::cerr << "s4db " << (level == log_level::warning ? "warning" : "error") << ": " << line << '\n';
    }
  } catch (...) {  // logging must never turn into a failure of the operation it reports
  }
}

}  // namespace detail
}  // namespace v0
}  // namespace s4db
