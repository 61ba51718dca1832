// The one source that includes CAF's test runner implementation (it defines main).
// Runner flags: -s SUITE, -t REGEX, -r SECONDS (watchdog).
#include <caf/test/unit_test_impl.hpp>
