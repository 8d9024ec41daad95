// The one translation unit that carries Boost.Test's implementation (header-only form,
// so sanitizer builds instrument it too).
#define BOOST_TEST_MODULE s4db
#include <boost/test/included/unit_test.hpp>
