// Reading S3's XML responses with pugixml, matching element names by their local part so
// any namespace a server writes (AWS's, s3rver's, none) reads the same; and escaping text
// for the few XML bodies s4db sends; and S3's ISO 8601 timestamps (LastModified).
#pragma once

#include <time.h>

#include <chrono>
#include <cstdio>
#include <pugixml.hpp>
#include <string>
#include <string_view>

#include "../../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line

namespace s4db {
inline namespace v0 {
namespace s3 {

inline std::string_view local_name(const pugi::xml_node& node) {
  std::string_view name = node.name();
  const auto colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

// The first child element with this local name, or an empty node.
inline pugi::xml_node child(const pugi::xml_node& parent, std::string_view name) {
  for (auto c = parent.first_child(); c; c = c.next_sibling())
    if (c.type() == pugi::node_element && local_name(c) == name) return c;
  return {};
}

inline std::string child_text(const pugi::xml_node& parent, std::string_view name) {
  return child(parent, name).child_value();
}

template <class Visit>
void for_each_child(const pugi::xml_node& parent, std::string_view name, Visit&& visit) {
  for (auto c = parent.first_child(); c; c = c.next_sibling())
    if (c.type() == pugi::node_element && local_name(c) == name) visit(c);
}

// The document's root element, or an empty node when the bytes are not XML.
struct xml_reply {
  pugi::xml_document doc;
  pugi::xml_node root;
  explicit xml_reply(std::string_view bytes) {
    if (doc.load_buffer(bytes.data(), bytes.size())) root = doc.document_element();
  }
};

// "2026-11-22T23:26:39.000Z" (fractions ignored). Unreadable text reads as now: an
// object of unknown age counts as young, which gc() spares.
inline std::chrono::system_clock::time_point parse_timestamp(const std::string& text) {
  struct tm t {};
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &t.tm_year, &t.tm_mon, &t.tm_mday, &t.tm_hour, &t.tm_min,
                  &t.tm_sec) != 6)
    return std::chrono::system_clock::now();
  t.tm_year -= 1900;
  t.tm_mon -= 1;
  return std::chrono::system_clock::from_time_t(::timegm(&t));
}

inline std::string xml_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

}  // namespace s3
}  // namespace v0
}  // namespace s4db
