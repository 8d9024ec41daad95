// The keys a scan_options asks for, as one span of the key order: [low, high), where low is
// the larger of `from` and `prefix`, and high the smaller of `to` and the first key past
// every key starting with `prefix`. Keys compare as unsigned bytes (std::string's order,
// since char_traits<char> compares as unsigned char). Stateless.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../concepts.hpp"
#include "../options.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

// (key, location) pairs taken from the index under the db's lock: a scan's, a snapshot's.
using entry_list = std::vector<std::pair<std::string, location>>;

struct key_span {
  std::string low;
  std::optional<std::string> high;  // nullopt: no end

  static key_span of(const scan_options& how) {
    key_span out{std::max(how.from, how.prefix), how.to};
    if (auto past = past_prefix(how.prefix); past && (!out.high || *past < *out.high)) out.high = std::move(past);
    return out;
  }

  // The first key past every key starting with `prefix`: its last byte below 0xff
  // raised by one, what follows dropped (nullopt when there is none: no end).
  static std::optional<std::string> past_prefix(std::string_view prefix) {
    std::string out(prefix);
    while (!out.empty() && static_cast<unsigned char>(out.back()) == 0xff) out.pop_back();
    if (out.empty()) return std::nullopt;
    out.back() = static_cast<char>(static_cast<unsigned char>(out.back()) + 1);
    return out;
  }

  bool empty() const { return high && *high <= low; }
  bool contains(std::string_view key) const { return key >= low && (!high || key < *high); }
  bool below_end(std::string_view key) const { return !high || key < *high; }
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
