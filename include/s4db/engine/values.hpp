// Values as entries store them (SPEC section 4): the Codec policy's form, or raw (0x02)
// where format 2 stores a value the codec would not shrink, flagged binary (0x04) when it
// is not UTF-8, as Python s4db 0.9 writes them. Owns the codec; stateless otherwise.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "../concepts.hpp"
#include "../error.hpp"
#include "../format/entry.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

enum class value_status { ok, unknown_flags, tombstone, other_codec, undecodable };

template <class Codec>
class values {
 public:
  explicit values(int format_version) : format_version_(format_version) {}

  // Replaces `stored` with the stored form of `value`; returns the entry's flags. Format 2
  // stores a value raw (0x02) when the codec does not shrink it, and marks one that is
  // not UTF-8 (0x04), as Python s4db 0.9 does; format 1 writes the codec's form alone.
  // A codec of its own flag (neither Snappy's 0x00 nor raw 0x02) writes that flag alone:
  // no Python version reads it anyway.
  std::uint8_t encode(std::string_view value, std::string& stored) const {
    codec_.encode(value, stored);
    constexpr bool python_codec = Codec::flag == format::flag_put || Codec::flag == format::flag_raw;
    if (format_version_ == 1 || !python_codec) return Codec::flag;
    std::uint8_t flags = Codec::flag;
    if (Codec::flag != format::flag_raw && stored.size() >= value.size()) {
      stored.assign(value);
      flags = format::flag_raw;
    }
    if (!format::is_utf8(value)) flags |= format::flag_binary;
    return flags;
  }

  // The codec's own form of `value`, as format 1 stores every value.
  void encode_plain(std::string_view value, std::string& stored) const { codec_.encode(value, stored); }

  // The value an entry stores, by its flags: raw (0x02), or in this db's codec.
  value_status decode(const format::entry_view& entry, std::string& out) const {
    if (entry.flags & ~(format::known_flags | Codec::flag)) return value_status::unknown_flags;
    if (entry.flags == Codec::flag)
      return codec_.decode(entry.value, out) ? value_status::ok : value_status::undecodable;
    if (entry.flags & format::flag_tombstone) return value_status::tombstone;
    const auto stored_as = static_cast<std::uint8_t>(entry.flags & ~format::flag_binary);
    if (stored_as == format::flag_raw) {
      out.assign(entry.value);
      return value_status::ok;
    }
    if (stored_as != Codec::flag) return value_status::other_codec;
    return codec_.decode(entry.value, out) ? value_status::ok : value_status::undecodable;
  }

  // As decode(), but a value stored raw comes back where it lies (no copy); any other is
  // decoded into `scratch`, which `out` then views.
  value_status decode_view(const format::entry_view& entry, std::string& scratch, std::string_view& out) const {
    if (!(entry.flags & ~(format::known_flags | Codec::flag)) &&
        (entry.flags & ~format::flag_binary) == format::flag_raw) {
      out = entry.value;
      return value_status::ok;
    }
    const auto status = decode(entry, scratch);
    out = scratch;
    return status;
  }

  // The value of the entry `bytes` for `key`, found at `where`; corruption_error, saying
  // what is wrong there, when it is not a whole entry of that key in this db's codec.
  std::string decode_entry(std::string_view key, const std::string& where, std::string_view bytes) const {
    const format::entry_view entry = format::parse_exact_entry(bytes, key, where);
    std::string value;
    switch (decode(entry, value)) {
      case value_status::ok:
        return value;
      case value_status::unknown_flags:
        detail::throw_corruption(where + ": entry flags " + hex_byte(entry.flags) + " have unknown bits");
      case value_status::tombstone:
      case value_status::other_codec:
        detail::throw_corruption(where + ": entry flags " + hex_byte(entry.flags) +
                                 (entry.flags == format::flag_tombstone ? " (a tombstone)" : "") +
                                 ", but this db's codec '" + std::string(Codec::name) + "' writes " +
                                 hex_byte(Codec::flag) + ": opened with the wrong codec?");
      case value_status::undecodable:
        break;
    }
    detail::throw_corruption(where + ": the value does not decode with codec '" + std::string(Codec::name) + "'");
  }

  static std::string hex_byte(std::uint8_t b) {
    constexpr char digits[] = "0123456789abcdef";
    return {'0', 'x', digits[b >> 4], digits[b & 15]};
  }

 private:
  Codec codec_;
  int format_version_;
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
