// Signature V4 against AWS's test suite (tests/data/aws-sigv4-test-suite, every case,
// header and query signing, normalisation as each case asks) and the S3 documentation's
// own vectors. The signer encodes paths once, as S3 does.
#include <nlohmann/json.hpp>
#include <s4db/store/s3/sigv4.hpp>

#include "support.hpp"

using namespace s4db_test;
namespace sigv4 = s4db::sigv4;

namespace {

const fs::path suite_dir = fs::path(S4DB_TESTS_DIR) / "data/aws-sigv4-test-suite/v4";

struct suite_case {
  sigv4::request request;
  sigv4::credentials credentials;
  std::string region, service, amz_date;
  bool normalize = false;
  bool sign_body = false;   // header signing adds x-amz-content-sha256
  bool omit_token = false;  // the token is sent but not signed: a rule S3 does not have
  long expires = 0;
};

// request.txt: "METHOD target HTTP/1.1", header lines (indented lines continue the one
// before), a blank line, the body.
suite_case load(const fs::path& dir) {
  suite_case c;
  const auto context = nlohmann::json::parse(read_bytes(dir / "context.json"));
  c.credentials = {context["credentials"]["access_key_id"], context["credentials"]["secret_access_key"],
                   context["credentials"].value("token", "")};
  c.region = context["region"];
  c.service = context["service"];
  c.normalize = context["normalize"];
  c.expires = context["expiration_in_seconds"];
  std::string ts = context["timestamp"];  // 2015-08-30T12:36:00Z
  c.amz_date = ts.substr(0, 4) + ts.substr(5, 2) + ts.substr(8, 2) + "T" + ts.substr(11, 2) + ts.substr(14, 2) +
               ts.substr(17, 2) + "Z";

  const std::string text = read_bytes(dir / "request.txt");
  const auto body_at = text.find("\n\n");
  const std::string head = text.substr(0, body_at);
  const std::string body = body_at == std::string::npos ? "" : text.substr(body_at + 2);
  std::vector<std::string> lines;
  for (std::size_t start = 0; start <= head.size();) {
    const auto end = std::min(head.find('\n', start), head.size());
    lines.push_back(head.substr(start, end - start));
    start = end + 1;
  }
  const std::string& first = lines[0];
  c.request.method = first.substr(0, first.find(' '));
  std::string target = first.substr(first.find(' ') + 1, first.rfind(' ') - first.find(' ') - 1);
  const auto q = target.find('?');
  c.request.path = target.substr(0, q);
  c.request.query = q == std::string::npos ? "" : target.substr(q + 1);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;  // the file's final newline
    if (lines[i][0] == ' ' || lines[i][0] == '\t') {
      c.request.headers.back().second += "\n" + lines[i];
    } else {
      const auto colon = lines[i].find(':');
      c.request.headers.emplace_back(lines[i].substr(0, colon), lines[i].substr(colon + 1));
    }
  }
  c.request.payload_hash = sigv4::sha256_hex(body);
  c.sign_body = context["sign_body"];
  c.omit_token = context.value("omit_session_token", false);
  return c;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// The one rule of the suite S3 does not follow: with omit_session_token the token travels
// unsigned (post-sts-header-after); S3 signs it, as post-sts-header-before checks.
bool applies_to_s3(const suite_case& c) { return !c.omit_token; }

std::vector<fs::path> suite_cases() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(suite_dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sigv4_signing)

BOOST_AUTO_TEST_CASE(the_aws_suite_has_all_its_cases) {
  BOOST_TEST(suite_cases().size() == 38u);
  std::size_t skipped = 0;
  for (const auto& dir : suite_cases()) skipped += !applies_to_s3(load(dir));
  BOOST_TEST(skipped == 1u);  // post-sts-header-after, and nothing else
}

BOOST_AUTO_TEST_CASE(every_suite_case_signs_headers_exactly) {
  for (const auto& dir : suite_cases()) {
    const auto name = dir.filename().string();
    auto c = load(dir);
    if (!applies_to_s3(c)) continue;
    if (c.sign_body) c.request.headers.emplace_back("X-Amz-Content-Sha256", c.request.payload_hash);
    auto with_date = c.request;
    with_date.headers.emplace_back("X-Amz-Date", c.amz_date);
    if (!c.credentials.session_token.empty())
      with_date.headers.emplace_back("X-Amz-Security-Token", c.credentials.session_token);
    const auto canonical = sigv4::canonical_request(with_date, c.normalize);
    BOOST_TEST(canonical == trimmed(read_bytes(dir / "header-canonical-request.txt")), name);
    const sigv4::scope scope{c.amz_date.substr(0, 8), c.region, c.service};
    const auto to_sign = sigv4::string_to_sign(c.amz_date, scope, canonical);
    BOOST_TEST(to_sign == trimmed(read_bytes(dir / "header-string-to-sign.txt")), name);
    const auto expected_signature = trimmed(read_bytes(dir / "header-signature.txt"));
    BOOST_TEST(sigv4::signature(c.credentials.secret_access_key, scope, to_sign) == expected_signature, name);

    sigv4::sign(c.request, c.credentials, c.region, c.service, c.amz_date, c.normalize);
    const auto& authorization = c.request.headers.back();
    BOOST_TEST(authorization.first == "Authorization");
    BOOST_TEST(read_bytes(dir / "header-signed-request.txt").find("Authorization:" + authorization.second) !=
                   std::string::npos,
               name << ": " << authorization.second);
  }
}

BOOST_AUTO_TEST_CASE(every_suite_case_presigns_exactly) {
  for (const auto& dir : suite_cases()) {
    const auto name = dir.filename().string();
    auto c = load(dir);
    if (!applies_to_s3(c)) continue;
    const auto query =
        sigv4::presign_query(c.request, c.credentials, c.region, c.service, c.amz_date, c.expires, c.normalize);
    const auto expected = trimmed(read_bytes(dir / "query-signature.txt"));
    BOOST_TEST(query.ends_with("X-Amz-Signature=" + expected), name << ": " << query);
    auto unsigned_request = c.request;
    unsigned_request.query = query.substr(0, query.rfind("&X-Amz-Signature="));
    BOOST_TEST(sigv4::canonical_request(unsigned_request, c.normalize) ==
                   trimmed(read_bytes(dir / "query-canonical-request.txt")),
               name);
  }
}

// From the S3 documentation ("Signature Calculations for the Authorization Header").
const sigv4::credentials s3_doc_credentials{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
const std::string empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

BOOST_AUTO_TEST_CASE(s3_documentation_ranged_get) {
  sigv4::request r{
      "GET",
      "/test.txt",
      "",
      {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"}, {"x-amz-content-sha256", empty_sha256}},
      empty_sha256};
  sigv4::sign(r, s3_doc_credentials, "us-east-1", "s3", "20130524T000000Z");
  BOOST_TEST(r.headers.back().second ==
             "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
             "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
             "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

BOOST_AUTO_TEST_CASE(s3_documentation_list_objects) {
  sigv4::request r{"GET",
                   "/",
                   "max-keys=2&prefix=J",
                   {{"Host", "examplebucket.s3.amazonaws.com"}, {"x-amz-content-sha256", empty_sha256}},
                   empty_sha256};
  sigv4::sign(r, s3_doc_credentials, "us-east-1", "s3", "20130524T000000Z");
  BOOST_TEST(
      r.headers.back().second.ends_with("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"));
}

BOOST_AUTO_TEST_CASE(s3_documentation_presigned_get) {
  sigv4::request r{"GET", "/test.txt", "", {{"Host", "examplebucket.s3.amazonaws.com"}}, "UNSIGNED-PAYLOAD"};
  const auto query = sigv4::presign_query(r, s3_doc_credentials, "us-east-1", "s3", "20130524T000000Z", 86400);
  BOOST_TEST(query.ends_with("X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"));
}

BOOST_AUTO_TEST_CASE(object_keys_are_encoded_once_and_never_normalised) {
  BOOST_TEST(sigv4::canonical_uri("/bucket/a b+c=d~é/../x", false) == "/bucket/a%20b%2Bc%3Dd~%C3%A9/../x");
  BOOST_TEST(sigv4::canonical_query("prefix=a/b&list-type=2") == "list-type=2&prefix=a%2Fb");
  BOOST_TEST(sigv4::canonical_query("uploads") == "uploads=");
}

BOOST_AUTO_TEST_SUITE_END()
