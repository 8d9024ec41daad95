// The AWS shared files, read the way the SDKs read them: the credentials file
// (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials; sections [NAME]) and the config
// file (AWS_CONFIG_FILE, else ~/.aws/config; sections [default] and [profile NAME]).
// Keys are case-insensitive; an indented line under a key with no value belongs to that
// key's sub-section ("s3 =" then "  addressing_style = path", read as "s3.addressing_style").
// A profile's values come from the credentials file first, then the config file.
#pragma once

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include "../../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line

namespace s4db {
inline namespace v0 {
namespace s3 {

inline std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

inline std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  const auto e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

inline std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "~" and "~/x" name the home directory, as in the SDKs.
inline std::filesystem::path expand_home(const std::string& path) {
  if (path == "~" || path.starts_with("~/")) {
    if (auto home = env("HOME")) return std::filesystem::path(*home + path.substr(1));
  }
  return path;
}

// One profile: lower-cased keys, sub-section keys as "section.key".
using profile_values = std::map<std::string, std::string>;

// All profiles of one file, by name ("[profile x]" in the config file names x); empty
// when the file is absent.
inline std::map<std::string, profile_values> read_profiles(const std::filesystem::path& path, bool config_file) {
  std::map<std::string, profile_values> out;
  std::ifstream in(path);
  std::string raw, section, parent;
  bool in_section = false;
  while (std::getline(in, raw)) {
    const std::string line = trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = trim(line.substr(1, line.size() - 2));
      in_section = true;
      if (config_file) {
        if (section.starts_with("profile ") || section.starts_with("profile\t"))
          section = trim(section.substr(8));
        else if (section != "default")
          in_section = false;  // [sso-session x], [services x]: not profiles
      }
      parent.clear();
      if (in_section) out[section];
      continue;
    }
    if (!in_section) continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = lower(trim(line.substr(0, eq)));
    const std::string value = trim(line.substr(eq + 1));
    const bool indented = !raw.empty() && (raw[0] == ' ' || raw[0] == '\t');
    if (indented && !parent.empty()) {
      out[section][parent + "." + key] = value;
    } else {
      parent = value.empty() ? key : "";
      if (!value.empty()) out[section][key] = value;
    }
  }
  return out;
}

// Where the two files are, and the profile in use.
struct shared_files {
  std::filesystem::path credentials_file, config_file;
  std::string profile_name;
  std::map<std::string, profile_values> credentials, config;

  // The named profile's values, credentials file first.
  std::optional<std::string> get(const std::string& name, const std::string& key) const {
    for (const auto* file : {&credentials, &config}) {
      if (auto p = file->find(name); p != file->end())
        if (auto v = p->second.find(key); v != p->second.end()) return v->second;
    }
    return std::nullopt;
  }
  std::optional<std::string> get(const std::string& key) const { return get(profile_name, key); }
  bool has_profile(const std::string& name) const { return credentials.count(name) || config.count(name); }
};

inline shared_files load_shared_files(const std::optional<std::filesystem::path>& credentials_file,
                                      const std::optional<std::filesystem::path>& config_file,
                                      const std::optional<std::string>& profile_name) {
  shared_files f;
  f.profile_name =
      profile_name ? *profile_name : env("AWS_PROFILE").value_or(env("AWS_DEFAULT_PROFILE").value_or("default"));
  // The given path, else the variable's, else ~/.aws/NAME ("" without a home).
  const auto locate = [](const std::optional<std::filesystem::path>& given, const char* variable,
                         const char* name) -> std::filesystem::path {
    if (given) return expand_home(given->string());
    if (auto p = env(variable)) return expand_home(*p);
    if (auto home = env("HOME")) return std::filesystem::path(*home) / ".aws" / name;
    return {};
  };
  f.credentials_file = locate(credentials_file, "AWS_SHARED_CREDENTIALS_FILE", "credentials");
  f.config_file = locate(config_file, "AWS_CONFIG_FILE", "config");
  if (!f.credentials_file.empty()) f.credentials = read_profiles(f.credentials_file, false);
  if (!f.config_file.empty()) f.config = read_profiles(f.config_file, true);
  return f;
}

}  // namespace s3
}  // namespace v0
}  // namespace s4db
