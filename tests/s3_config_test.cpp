// s3_config resolves like the AWS SDKs: explicit values, then the environment, then the
// shared credentials file; no server needed.
#include <cstdlib>

#include "support.hpp"

using namespace s4db_test;

namespace {

// Sets (or unsets, with nullptr) environment variables for one test, restoring them after.
class env_guard {
 public:
  env_guard(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (auto [name, value] : vars) {
      const char* old = std::getenv(name);
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      value ? ::setenv(name, value, 1) : ::unsetenv(name);
    }
  }
  ~env_guard() {
    for (auto& [name, value] : saved_) value ? ::setenv(name.c_str(), value->c_str(), 1) : ::unsetenv(name.c_str());
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

const std::initializer_list<std::pair<const char*, const char*>> clean = {
    {"AWS_ACCESS_KEY_ID", nullptr},   {"AWS_SECRET_ACCESS_KEY", nullptr}, {"AWS_SESSION_TOKEN", nullptr},
    {"AWS_REGION", nullptr},          {"AWS_DEFAULT_REGION", nullptr},    {"AWS_ENDPOINT_URL", nullptr},
    {"AWS_ENDPOINT_URL_S3", nullptr}, {"AWS_PROFILE", nullptr},           {"AWS_SHARED_CREDENTIALS_FILE", nullptr},
    {"HOME", "/nonexistent-home"}};

}  // namespace

BOOST_AUTO_TEST_SUITE(s3_config_resolution)

BOOST_AUTO_TEST_CASE(defaults_are_aws_us_east_1_virtual_hosted) {
  env_guard e(clean);
  env_guard creds{{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "env-secret"}};
  const auto s = s4db::s3::resolve({.bucket = "b"});
  BOOST_TEST(s.region == "us-east-1");
  BOOST_TEST(s.endpoint == "https://s3.us-east-1.amazonaws.com");
  BOOST_TEST(!s.path_style);
  BOOST_TEST(s.credentials.access_key_id == "AKIDENV");
  BOOST_TEST(s.credentials_source == "environment");
}

BOOST_AUTO_TEST_CASE(region_and_endpoint_come_from_the_environment_in_sdk_order) {
  env_guard e(clean);
  env_guard more{{"AWS_ACCESS_KEY_ID", "A"},
                 {"AWS_SECRET_ACCESS_KEY", "S"},
                 {"AWS_DEFAULT_REGION", "eu-west-1"},
                 {"AWS_ENDPOINT_URL", "http://generic:1/"}};
  auto s = s4db::s3::resolve({.bucket = "b"});
  BOOST_TEST(s.region == "eu-west-1");
  BOOST_TEST(s.endpoint == "http://generic:1");
  BOOST_TEST(s.path_style);  // a custom endpoint means path-style
  env_guard specific{{"AWS_REGION", "ap-south-1"}, {"AWS_ENDPOINT_URL_S3", "http://s3-only:2"}};
  s = s4db::s3::resolve({.bucket = "b"});
  BOOST_TEST(s.region == "ap-south-1");
  BOOST_TEST(s.endpoint == "http://s3-only:2");
  s4db::s3_config explicit_config;
  explicit_config.bucket = "b";
  explicit_config.region = "us-west-2";
  explicit_config.endpoint = "http://mine:3";
  explicit_config.path_style = false;
  s = s4db::s3::resolve(explicit_config);
  BOOST_TEST(s.region == "us-west-2");
  BOOST_TEST(s.endpoint == "http://mine:3");
  BOOST_TEST(!s.path_style);
}

BOOST_AUTO_TEST_CASE(credentials_explicit_then_environment_then_file_and_profile) {
  env_guard e(clean);
  temp_dir tmp;
  write_bytes(tmp.path / "credentials",
              "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file-secret\n\n"
              "# a comment\n[work]\naws_access_key_id=AKIDWORK\naws_secret_access_key=work-secret\n"
              "aws_session_token = work-token\n");
  env_guard file{{"AWS_SHARED_CREDENTIALS_FILE", (tmp.path / "credentials").c_str()}};
  auto s = s4db::s3::resolve({.bucket = "b"});
  BOOST_TEST(s.credentials.access_key_id == "AKIDFILE");
  BOOST_TEST(s.credentials.secret_access_key == "file-secret");
  {
    env_guard profile{{"AWS_PROFILE", "work"}};
    s = s4db::s3::resolve({.bucket = "b"});
    BOOST_TEST(s.credentials.access_key_id == "AKIDWORK");
    BOOST_TEST(s.credentials.session_token == "work-token");
  }
  env_guard envcreds{
      {"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "env-secret"}, {"AWS_SESSION_TOKEN", "env-token"}};
  s = s4db::s3::resolve({.bucket = "b"});
  BOOST_TEST(s.credentials.access_key_id == "AKIDENV");
  BOOST_TEST(s.credentials.session_token == "env-token");
  s4db::s3_config explicit_config;
  explicit_config.bucket = "b";
  explicit_config.access_key_id = "AKIDEXPLICIT";
  explicit_config.secret_access_key = "explicit-secret";
  s = s4db::s3::resolve(explicit_config);
  BOOST_TEST(s.credentials.access_key_id == "AKIDEXPLICIT");
  BOOST_TEST(s.credentials.session_token.empty());
  BOOST_TEST(s.describe().find("explicit-secret") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(no_credentials_is_a_usage_error_that_says_where_it_looked) {
  env_guard e(clean);
  try {
    s4db::s3::resolve({.bucket = "b"});
    BOOST_FAIL("expected usage_error");
  } catch (const s4db::usage_error& error) {
    const std::string what = error.what();
    BOOST_TEST(what.find("AWS_ACCESS_KEY_ID") != std::string::npos);
    BOOST_TEST(what.find("[default]") != std::string::npos);
  }
  BOOST_CHECK_THROW(s4db::s3::resolve({}), s4db::usage_error);  // no bucket
}

BOOST_AUTO_TEST_SUITE_END()
