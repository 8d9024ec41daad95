// The behaviour suite again, over s3_store against a real S3-compatible server: run by
// CTest through tests/s3/run-with-server.sh (s3rver, moto, or an endpoint from the
// environment); without a server the suite is reported as skipped.
#include <algorithm>
#include <map>
#include <set>

#include "support.hpp"

using namespace s4db_test;
namespace format = s4db::format;

BOOST_AUTO_TEST_SUITE(s3_behaviour, *boost::unit_test::precondition(s3_server_given))
using behaviour_combos = s3_combos;
#include "behaviour_cases.inc"
BOOST_AUTO_TEST_SUITE_END()
