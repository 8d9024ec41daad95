// The behaviour suite over every local store x codec x index combination.
#include <algorithm>
#include <map>
#include <set>

#include "support.hpp"

using namespace s4db_test;
namespace format = s4db::format;

BOOST_AUTO_TEST_SUITE(behaviour)
using behaviour_combos = all_combos;
#include "behaviour_cases.inc"
BOOST_AUTO_TEST_SUITE_END()
