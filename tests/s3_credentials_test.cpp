// Credentials found the way the AWS SDKs find them, where no keys are configured: EC2
// instance metadata (IMDSv2) and the container endpoint, served on 127.0.0.1 by the small
// servers in tests/s3/loopback_servers.hpp; web identity and assume role through STS on
// moto; and the keys they give signing requests a real server checks.
#include "s3/loopback_servers.hpp"
#include "support.hpp"

using namespace s4db_test;

namespace {

// A store with nothing configured but the bucket (and the test server's endpoint).
s4db::s3_store bucket_only() {
  s4db::s3_config c;
  c.bucket = test_s3_config().bucket;
  if (const char* endpoint = std::getenv("S4DB_TEST_S3_ENDPOINT")) c.endpoint = endpoint;
  c.retry_base_delay = std::chrono::milliseconds(20);
  return s4db::s3_store{c};
}

void round_trip(s4db::s3_store& store) {
  const auto key = unique_prefix("credentials") + "k";
  store.put(key, "value", {});
  BOOST_TEST(store.get(key).value().data == "value");
  const std::vector<std::string> doomed{key};
  store.remove(doomed);
}

std::string env_or_empty(const char* name) { return std::getenv(name) ? std::getenv(name) : ""; }

}  // namespace

BOOST_AUTO_TEST_SUITE(credential_sources)

BOOST_AUTO_TEST_CASE(ec2_instance_metadata_v2_when_nothing_else_is_configured) {
  instance_metadata imds("AKIDINSTANCE", "instance-secret", "instance-token");
  env_guard e(clean_aws_environment);
  env_guard on{{"AWS_EC2_METADATA_DISABLED", nullptr}, {"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.endpoint().c_str()}};
  const auto s = s4db::s3::resolve({.bucket = "bucket"});
  BOOST_TEST(s.credentials->source().find("instance metadata") != std::string::npos);
  const auto c = s.credentials->current();
  BOOST_TEST(c.access_key_id == "AKIDINSTANCE");
  BOOST_TEST(c.session_token == "instance-token");
  BOOST_TEST(imds.token_requests >= 1);  // the IMDSv2 session token first
  BOOST_TEST(imds.unauthorized == 0);
  BOOST_TEST(s.describe().find("instance-secret") == std::string::npos);

  env_guard off{{"AWS_EC2_METADATA_DISABLED", "true"}};
  BOOST_CHECK_EXCEPTION(s4db::s3::resolve({.bucket = "bucket"}), s4db::usage_error, [](const auto& error) {
    return std::string(error.what()).find("AWS_EC2_METADATA_DISABLED") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(keys_about_to_expire_are_fetched_again_and_long_lived_ones_kept) {
  instance_metadata imds("AKIDROTATING", "secret", "token");
  imds.keys.rotate = true;
  env_guard e(clean_aws_environment);
  env_guard on{{"AWS_EC2_METADATA_DISABLED", nullptr}, {"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.endpoint().c_str()}};
  const auto s = s4db::s3::resolve({.bucket = "bucket"});
  const auto first = s.credentials->current().access_key_id;
  BOOST_TEST(s.credentials->current().access_key_id == first);  // an hour left
  imds.keys.lifetime = std::chrono::seconds(120);               // inside the five-minute margin
  s.credentials->expire();
  const auto second = s.credentials->current().access_key_id;
  BOOST_TEST(second != first);
  BOOST_TEST(s.credentials->current().access_key_id != second);  // short-lived: fetched each time
}

BOOST_AUTO_TEST_CASE(container_credentials_with_a_token_file_read_at_each_fetch) {
  container_credentials endpoint("AKIDCONTAINER", "container-secret", "container-token");
  endpoint.required_authorization = "Bearer first";
  temp_dir tmp;
  write_bytes(tmp.path / "token", "Bearer first");
  env_guard e(clean_aws_environment);
  env_guard on{{"AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint.url().c_str()},
               {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", (tmp.path / "token").c_str()}};
  const auto s = s4db::s3::resolve({.bucket = "bucket"});
  BOOST_TEST(s.credentials->current().access_key_id == "AKIDCONTAINER");
  write_bytes(tmp.path / "token", "Bearer second");  // the agent rotated it
  endpoint.required_authorization = "Bearer second";
  s.credentials->expire();
  BOOST_TEST(s.credentials->current().session_token == "container-token");
  BOOST_TEST(endpoint.refused == 0);
  {
    env_guard inline_token{{"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", nullptr},
                           {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer second"}};
    BOOST_TEST(s4db::s3::resolve({.bucket = "bucket"}).credentials->current().access_key_id == "AKIDCONTAINER");
  }
  // ECS's relative URI is served at 169.254.170.2; environment keys come before it.
  env_guard relative{{"AWS_CONTAINER_CREDENTIALS_FULL_URI", nullptr},
                     {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc"}};
  BOOST_TEST(s4db::s3::resolve({.bucket = "bucket"}).credentials->source() ==
             "container endpoint http://169.254.170.2/v2/credentials/abc");
  env_guard keys{{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "s"}};
  BOOST_TEST(s4db::s3::resolve({.bucket = "bucket"}).credentials->source() == "environment");
}

BOOST_AUTO_TEST_CASE(a_dead_credentials_endpoint_is_a_store_error_naming_it) {
  container_credentials endpoint("AKID", "secret", "token");
  endpoint.required_authorization = "Bearer expected";
  env_guard e(clean_aws_environment);
  env_guard on{{"AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint.url().c_str()},
               {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer wrong"}};
  s4db::s3_store store{{.bucket = "bucket", .endpoint = "http://127.0.0.1:9"}};
  try {
    store.get("k");
    BOOST_ERROR("expected a store_error");
  } catch (const s4db::store_error& error) {
    const std::string what = error.what();
    BOOST_TEST(what.find("container endpoint") != std::string::npos, what);
    BOOST_TEST(what.find("HTTP 401") != std::string::npos, what);
    BOOST_TEST(what.find("Bearer") == std::string::npos, what);  // the token is a secret too
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(s3_credentials, *boost::unit_test::precondition(s3_server_given))

// The server's keys, handed out by instance metadata and by a container endpoint instead of
// the environment: requests signed with them pass a server that checks signatures (s3rver).
BOOST_AUTO_TEST_CASE(instance_metadata_and_container_keys_sign_requests_the_server_accepts) {
  const std::string id = env_or_empty("AWS_ACCESS_KEY_ID"), secret = env_or_empty("AWS_SECRET_ACCESS_KEY");
  if (s3_server() == "external") return;  // its keys may be anything
  instance_metadata imds(id, secret, "");
  container_credentials container(id, secret, "");
  env_guard e{{"AWS_ACCESS_KEY_ID", nullptr},          {"AWS_SECRET_ACCESS_KEY", nullptr},
              {"AWS_EC2_METADATA_DISABLED", nullptr},  {"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.endpoint().c_str()},
              {"HOME", "/nonexistent-home"},           {"AWS_CONFIG_FILE", nullptr},
              {"AWS_SHARED_CREDENTIALS_FILE", nullptr}};
  {
    auto store = bucket_only();
    BOOST_TEST(store.settings().credentials->source().find("instance metadata") != std::string::npos);
    round_trip(store);
  }
  env_guard c{{"AWS_CONTAINER_CREDENTIALS_FULL_URI", container.url().c_str()}};
  auto store = bucket_only();
  BOOST_TEST(store.settings().credentials->source().find("container endpoint") != std::string::npos);
  round_trip(store);
  BOOST_TEST(container.keys.fetches == 1);
}

// EKS: a projected token file and a role; STS (moto's) trades them for keys.
BOOST_AUTO_TEST_CASE(web_identity_through_sts) {
  if (s3_server() != "moto") {
    BOOST_WARN_MESSAGE(false, "SKIPPED on " << s3_server() << ": STS runs on moto only");
    return;
  }
  temp_dir tmp;
  write_bytes(tmp.path / "token", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzNGRiIn0.c2lnbmF0dXJl\n");
  const std::string endpoint = env_or_empty("S4DB_TEST_S3_ENDPOINT");
  env_guard e{{"AWS_ACCESS_KEY_ID", nullptr},
              {"AWS_SECRET_ACCESS_KEY", nullptr},
              {"HOME", "/nonexistent-home"},
              {"AWS_WEB_IDENTITY_TOKEN_FILE", (tmp.path / "token").c_str()},
              {"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/s4db-pod"},
              {"AWS_ROLE_SESSION_NAME", "s4db-test"},
              {"AWS_ENDPOINT_URL_STS", endpoint.c_str()}};
  auto store = bucket_only();
  BOOST_TEST(store.settings().credentials->source() == "web identity (arn:aws:iam::123456789012:role/s4db-pod)");
  round_trip(store);
  const auto keys = store.settings().credentials->current();
  BOOST_TEST(keys.access_key_id.starts_with("ASIA"), keys.access_key_id);  // STS's temporary keys
  BOOST_TEST(!keys.session_token.empty());
}

// A profile that assumes a role with another profile's keys (what `aws configure` users
// with cross-account roles have).
BOOST_AUTO_TEST_CASE(assume_role_from_a_source_profile) {
  if (s3_server() != "moto") {
    BOOST_WARN_MESSAGE(false, "SKIPPED on " << s3_server() << ": STS runs on moto only");
    return;
  }
  temp_dir tmp;
  write_bytes(tmp.path / "credentials", "[base]\naws_access_key_id = testing\naws_secret_access_key = testing\n");
  write_bytes(tmp.path / "config",
              "[profile app]\nrole_arn = arn:aws:iam::123456789012:role/s4db-app\nsource_profile = base\n"
              "role_session_name = s4db-app-session\nexternal_id = tenant-7\n");
  env_guard e{{"AWS_ACCESS_KEY_ID", nullptr},
              {"AWS_SECRET_ACCESS_KEY", nullptr},
              {"AWS_SHARED_CREDENTIALS_FILE", (tmp.path / "credentials").c_str()},
              {"AWS_CONFIG_FILE", (tmp.path / "config").c_str()},
              {"AWS_PROFILE", "app"},
              {"AWS_ENDPOINT_URL_STS", env_or_empty("S4DB_TEST_S3_ENDPOINT").c_str()}};
  auto store = bucket_only();
  BOOST_TEST(store.settings().credentials->source() ==
             "assume role arn:aws:iam::123456789012:role/s4db-app (profile [app])");
  round_trip(store);
  BOOST_TEST(store.settings().credentials->current().access_key_id.starts_with("ASIA"));
}

BOOST_AUTO_TEST_SUITE_END()
