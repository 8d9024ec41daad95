// s3_config resolves like the AWS SDKs: explicit values, then the environment, then the
// shared credentials and config files; no server needed (tests/s3_credentials_test.cpp has
// the sources that answer over HTTP).
#include <cstdlib>

#include "support.hpp"

using namespace s4db_test;

BOOST_AUTO_TEST_SUITE(s3_config_resolution)

BOOST_AUTO_TEST_CASE(defaults_are_aws_us_east_1_virtual_hosted) {
  env_guard e(clean_aws_environment);
  env_guard creds{{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "env-secret"}};
  const auto s = s4db::s3::resolve({.bucket = "my-bucket"});
  BOOST_TEST(s.region == "us-east-1");
  BOOST_TEST(s.endpoint == "https://s3.us-east-1.amazonaws.com");
  BOOST_TEST(!s.path_style);
  BOOST_TEST(s.credentials->current().access_key_id == "AKIDENV");
  BOOST_TEST(s.credentials->source() == "environment");
}

BOOST_AUTO_TEST_CASE(region_and_endpoint_come_from_the_environment_in_sdk_order) {
  env_guard e(clean_aws_environment);
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
  env_guard e(clean_aws_environment);
  temp_dir tmp;
  write_bytes(tmp.path / "credentials",
              "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file-secret\n\n"
              "# a comment\n[work]\naws_access_key_id=AKIDWORK\naws_secret_access_key=work-secret\n"
              "aws_session_token = work-token\n");
  env_guard file{{"AWS_SHARED_CREDENTIALS_FILE", (tmp.path / "credentials").c_str()}};
  auto s = s4db::s3::resolve({.bucket = "b"});
  BOOST_TEST(s.credentials->current().access_key_id == "AKIDFILE");
  BOOST_TEST(s.credentials->current().secret_access_key == "file-secret");
  {
    env_guard profile{{"AWS_PROFILE", "work"}};
    s = s4db::s3::resolve({.bucket = "b"});
    BOOST_TEST(s.credentials->current().access_key_id == "AKIDWORK");
    BOOST_TEST(s.credentials->current().session_token == "work-token");
  }
  env_guard envcreds{
      {"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "env-secret"}, {"AWS_SESSION_TOKEN", "env-token"}};
  s = s4db::s3::resolve({.bucket = "b"});
  BOOST_TEST(s.credentials->current().access_key_id == "AKIDENV");
  BOOST_TEST(s.credentials->current().session_token == "env-token");
  s4db::s3_config explicit_config;
  explicit_config.bucket = "b";
  explicit_config.access_key_id = "AKIDEXPLICIT";
  explicit_config.secret_access_key = "explicit-secret";
  s = s4db::s3::resolve(explicit_config);
  BOOST_TEST(s.credentials->current().access_key_id == "AKIDEXPLICIT");
  BOOST_TEST(s.credentials->current().session_token.empty());
  BOOST_TEST(s.describe().find("explicit-secret") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_config_file_gives_region_endpoint_addressing_retries_and_ca) {
  // What `aws configure` writes, read as the SDKs read it: [default] and [profile NAME]
  // sections, keys in any case, an "s3 =" sub-section, "~" for the home directory.
  env_guard e(clean_aws_environment);
  temp_dir tmp;
  env_guard home{{"HOME", tmp.path.c_str()}};
  fs::create_directories(tmp.path / ".aws");
  write_bytes(tmp.path / ".aws" / "config",
              "[default]\nRegion = eu-central-1\nmax_attempts = 7\nretry_mode = legacy\nca_bundle = ~/ca.pem\n"
              "s3 =\n  addressing_style = path\n\n[profile dev]\nregion=ap-northeast-1\n"
              "endpoint_url = http://minio.internal:80/\n[sso-session x]\nregion = nowhere-1\n");
  write_bytes(tmp.path / ".aws" / "credentials",
              "[default]\nAWS_Access_Key_ID = AKIDCASE\nAWS_SECRET_ACCESS_KEY = s\n");
  write_bytes(tmp.path / "ca.pem", "not read until a TLS connection\n");
  auto s = s4db::s3::resolve({.bucket = "b"});
  BOOST_TEST(s.region == "eu-central-1");
  BOOST_TEST(s.endpoint == "https://s3.eu-central-1.amazonaws.com");
  BOOST_TEST(s.path_style);  // addressing_style = path
  BOOST_TEST(s.max_attempts == 7);
  BOOST_TEST(s.retry_mode == "legacy");
  BOOST_TEST(s.ca_file == (tmp.path / "ca.pem").string());
  BOOST_TEST(s.credentials->current().access_key_id == "AKIDCASE");
  {
    env_guard overrides{{"AWS_MAX_ATTEMPTS", "2"}, {"AWS_RETRY_MODE", "standard"}, {"AWS_REGION", "us-west-1"}};
    s = s4db::s3::resolve({.bucket = "b"});
    BOOST_TEST(s.max_attempts == 2);
    BOOST_TEST(s.retry_mode == "standard");
    BOOST_TEST(s.region == "us-west-1");
  }
  write_bytes(tmp.path / ".aws" / "credentials", "[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = s\n");
  env_guard dev{{"AWS_PROFILE", "dev"}, {"AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"}};
  s = s4db::s3::resolve({.bucket = "b"});
  BOOST_TEST(s.region == "ap-northeast-1");
  BOOST_TEST(s.endpoint == "http://minio.internal");  // the default port dropped
  BOOST_TEST(s.path_style);
  BOOST_TEST(s.max_attempts == 3);  // [default]'s settings do not leak into [profile dev]
  BOOST_TEST(s.credentials->current().access_key_id == "AKIDDEV");
  BOOST_TEST(s.credentials->source().find(tmp.path.string()) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(aws_hosts_for_ports_dotted_buckets_china_fips_and_dual_stack) {
  env_guard e(clean_aws_environment);
  env_guard creds{{"AWS_ACCESS_KEY_ID", "A"}, {"AWS_SECRET_ACCESS_KEY", "S"}};
  auto resolve = [](s4db::s3_config c) { return s4db::s3::resolve(c); };
  BOOST_TEST(resolve({.bucket = "b", .endpoint = "http://h:80"}).endpoint == "http://h");
  BOOST_TEST(resolve({.bucket = "b", .endpoint = "https://h:443/"}).endpoint == "https://h");
  BOOST_TEST(resolve({.bucket = "b", .endpoint = "https://h:80"}).endpoint == "https://h:80");
  BOOST_TEST(resolve({.bucket = "b", .endpoint = "http://[::1]:80"}).endpoint == "http://[::1]");
  // A dotted bucket cannot be a host name under the wildcard certificate: path style.
  BOOST_TEST(!resolve({.bucket = "plain-bucket"}).path_style);
  BOOST_TEST(resolve({.bucket = "my.dotted.bucket"}).path_style);
  BOOST_TEST(resolve({.bucket = "Upper_Case"}).path_style);
  BOOST_TEST(resolve({.bucket = "b", .region = "cn-north-1"}).endpoint == "https://s3.cn-north-1.amazonaws.com.cn");
  BOOST_TEST(resolve({.bucket = "b", .region = "us-gov-west-1", .use_fips_endpoint = true}).endpoint ==
             "https://s3-fips.us-gov-west-1.amazonaws.com");
  BOOST_TEST(resolve({.bucket = "b", .region = "eu-west-1", .use_dualstack_endpoint = true}).endpoint ==
             "https://s3.dualstack.eu-west-1.amazonaws.com");
  env_guard both{{"AWS_USE_FIPS_ENDPOINT", "true"}, {"AWS_USE_DUALSTACK_ENDPOINT", "true"}};
  BOOST_TEST(resolve({.bucket = "b"}).endpoint == "https://s3-fips.dualstack.us-east-1.amazonaws.com");
  // A custom endpoint is taken as given.
  BOOST_TEST(resolve({.bucket = "b", .endpoint = "http://minio:9000"}).endpoint == "http://minio:9000");
}

BOOST_AUTO_TEST_CASE(sizes_encryption_and_headers_that_cannot_work_are_usage_errors_before_any_request) {
  env_guard e(clean_aws_environment);
  env_guard creds{{"AWS_ACCESS_KEY_ID", "A"}, {"AWS_SECRET_ACCESS_KEY", "S"}};
  auto refused = [](s4db::s3_config c, const std::string& says) {
    c.bucket = "b";
    c.endpoint = "http://127.0.0.1:9";  // nothing listens: a request would be a store_error
    try {
      s4db::s3_store store{c};
      BOOST_ERROR("accepted; expected a usage_error saying " << says);
    } catch (const s4db::usage_error& error) {
      BOOST_TEST(std::string(error.what()).find(says) != std::string::npos, error.what());
    }
  };
  refused({.part_size = 0}, "5 MiB to 5 GiB");
  refused({.part_size = 1}, "5 MiB to 5 GiB");
  refused({.part_size = 6ull << 30}, "5 MiB to 5 GiB");
  refused({.server_side_encryption = "aes"}, "AES256, aws:kms");
  refused({.sse_kms_key_id = "key"}, "needs server_side_encryption");
  refused({.extra_headers = {{"Authorization", "x"}}}, "set by s4db itself");
  refused({.extra_headers = {{"x-bad\r\nname", "x"}}}, "not a header name");
  refused({.max_attempts = 0}, "at least 1");
  refused({.retry_mode = "eager"}, "standard, legacy or adaptive");
  refused({.ca_file = "/nonexistent/ca.pem"}, "not a file");
  {
    env_guard bad{{"AWS_MAX_ATTEMPTS", "three"}};
    refused({}, "not a number");
  }
  // More than 10,000 parts: refused by put_file before the upload starts.
  temp_dir tmp;
  const auto big = tmp.path / "big";
  { std::ofstream(big).close(); }
  fs::resize_file(big, 10'001ull * (5ull << 20) + 1);
  s4db::s3_config c{.bucket = "b", .endpoint = "http://127.0.0.1:9", .part_size = 5ull << 20};
  s4db::s3_store store{c};
  BOOST_CHECK_EXCEPTION(store.put_file("k", big), s4db::usage_error, [](const auto& error) {
    return std::string(error.what()).find("10,000") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(credential_process_and_profile_errors) {
  env_guard e(clean_aws_environment);
  temp_dir tmp;
  const auto script = tmp.path / "creds.sh";
  write_bytes(script,
              "#!/bin/sh\necho \"$@\" >> \"$(dirname \"$0\")/calls\"\n"
              "printf '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\", \"SecretAccessKey\": \"proc-secret\", "
              "\"SessionToken\": \"proc-token\", \"Expiration\": \"2099-01-01T00:00:00Z\"}'\n");
  fs::permissions(script, fs::perms::owner_all);
  write_bytes(tmp.path / "config", "[profile proc]\ncredential_process = " + script.string() +
                                       " --role reader\n[profile broken]\nrole_arn = arn:aws:iam::1:role/r\n");
  env_guard files{{"AWS_CONFIG_FILE", (tmp.path / "config").c_str()}, {"AWS_PROFILE", "proc"}};
  const auto s = s4db::s3::resolve({.bucket = "b"});
  BOOST_TEST(!fs::exists(tmp.path / "calls"));  // run when keys are first needed
  const auto c = s.credentials->current();
  BOOST_TEST(c.access_key_id == "AKIDPROC");
  BOOST_TEST(c.session_token == "proc-token");
  s.credentials->current();  // not expiring: not run again
  BOOST_TEST(read_bytes(tmp.path / "calls") == "--role reader\n");
  BOOST_TEST(s.describe().find("proc-secret") == std::string::npos);

  // Issue 18, item 7: "Version": "1" (a string) is the command's mistake: usage_error, saying what came.
  const auto wrong = tmp.path / "wrong.sh";
  write_bytes(wrong, "#!/bin/sh\nprintf '{\"Version\": \"1\", \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"S\"}'\n");
  fs::permissions(wrong, fs::perms::owner_all);
  write_bytes(tmp.path / "config", "[profile proc]\ncredential_process = " + wrong.string() +
                                       "\n[profile broken]\nrole_arn = arn:aws:iam::1:role/r\n");
  BOOST_CHECK_EXCEPTION(
      s4db::s3::resolve({.bucket = "b"}).credentials->current(), s4db::usage_error,
      [](const auto& error) { return std::string(error.what()).find("\"Version\": \"1\"") != std::string::npos; });

  BOOST_CHECK_EXCEPTION(
      s4db::s3::resolve({.bucket = "b", .profile = "missing"}), s4db::usage_error,
      [](const auto& error) { return std::string(error.what()).find("[missing]") != std::string::npos; });
  BOOST_CHECK_EXCEPTION(
      s4db::s3::resolve({.bucket = "b", .profile = "broken"}), s4db::usage_error,
      [](const auto& error) { return std::string(error.what()).find("no source_profile") != std::string::npos; });
}

BOOST_AUTO_TEST_CASE(a_user_provider_is_asked_again_before_its_keys_expire) {
  env_guard e(clean_aws_environment);
  int calls = 0;
  auto lifetime = std::chrono::minutes(60);
  s4db::s3_config c{.bucket = "b"};
  c.credentials_provider = [&] {
    ++calls;
    return s4db::aws_credentials{"AKID" + std::to_string(calls), "secret", "token",
                                 std::chrono::system_clock::now() + lifetime};
  };
  const auto s = s4db::s3::resolve(c);
  BOOST_TEST(calls == 0);
  BOOST_TEST(s.credentials->current().access_key_id == "AKID1");
  BOOST_TEST(s.credentials->current().access_key_id == "AKID1");  // an hour left: kept
  s.credentials->expire();                                        // what an ExpiredToken answer does
  lifetime = std::chrono::minutes(4);                             // inside the five-minute margin
  BOOST_TEST(s.credentials->current().access_key_id == "AKID2");
  BOOST_TEST(s.credentials->current().access_key_id == "AKID3");  // so asked again each time
  BOOST_TEST(s.credentials->source() == "credentials_provider");
  c.access_key_id = "A";
  c.secret_access_key = "S";
  BOOST_CHECK_THROW(s4db::s3::resolve(c), s4db::usage_error);  // both: ambiguous
}

BOOST_AUTO_TEST_CASE(no_credentials_is_a_usage_error_that_says_where_it_looked) {
  env_guard e(clean_aws_environment);
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
