#define CAF_SUITE cli.progress
#include <caf/test/unit_test.hpp>

#include "progress.hpp"

using namespace bps::cli;

CAF_TEST(the rate is offsets read per second and the time to go follows from it) {
  read_progress p{250, 1000, 5.0};
  CAF_CHECK_EQUAL(rate_of(p), 50.0);
  auto eta = eta_of(p);
  CAF_REQUIRE(eta.has_value());
  CAF_CHECK_EQUAL(*eta, 15.0); // 750 offsets to go at 50 per second
}

CAF_TEST(before any time has passed the time to go is not known rather than zero) {
  read_progress p{0, 1000, 0.0};
  CAF_CHECK_EQUAL(rate_of(p), 0.0);
  CAF_CHECK(!eta_of(p).has_value());
  CAF_CHECK_EQUAL(progress_line(p),
                  "replay: 0% (0 of 1,000 offsets), 0 offsets/s, time to go not known yet");
}

CAF_TEST(in the first second the time to go is not guessed) {
  read_progress early{1, 605924, 0.25};
  CAF_CHECK(!eta_of(early).has_value());
  CAF_CHECK_EQUAL(progress_bar(early, 3), "replay [...]   0% 1/605,924 4/s ETA ?");
}

CAF_TEST(durations read as minutes and seconds or hours minutes and seconds rounded up) {
  CAF_CHECK_EQUAL(clock_text(0), "0:00");
  CAF_CHECK_EQUAL(clock_text(0.2), "0:01");
  CAF_CHECK_EQUAL(clock_text(65), "1:05");
  CAF_CHECK_EQUAL(clock_text(3599), "59:59");
  CAF_CHECK_EQUAL(clock_text(43207), "12:00:07");
  CAF_CHECK_EQUAL(clock_text(-3), "0:00");
}

CAF_TEST(the line for a log groups digits and says how long is left) {
  read_progress p{1234567, 2743482, 12.5};
  CAF_CHECK_EQUAL(
    progress_line(p),
    "replay: 45% (1,234,567 of 2,743,482 offsets), 98,765 offsets/s, about 0:16 to go");
}

CAF_TEST(the percentage stays below 100 until the last offset is read) {
  read_progress almost{999999, 1000000, 10.0};
  CAF_CHECK_EQUAL(progress_line(almost).substr(0, 12), "replay: 99% ");
  read_progress done{1000000, 1000000, 10.0};
  CAF_CHECK_EQUAL(
    progress_line(done),
    "replay: 100% (1,000,000 of 1,000,000 offsets), 100,000 offsets/s, about 0:00 to go");
}

CAF_TEST(more offsets read than counted at the start never shows above the total) {
  // Records appended while replay reads: the total was taken before reading.
  read_progress over{1200, 1000, 2.0};
  CAF_CHECK_EQUAL(progress_bar(over, 10), "replay [##########] 100% 1,000/1,000 600/s ETA 0:00");
}

CAF_TEST(the bar for a terminal fills in proportion to the offsets read) {
  read_progress p{300, 1000, 3.0};
  CAF_CHECK_EQUAL(progress_bar(p, 10), "replay [###.......]  30% 300/1,000 100/s ETA 0:07");
  read_progress empty_logs{0, 0, 0.5};
  CAF_CHECK_EQUAL(progress_bar(empty_logs, 4), "replay [####] 100% 0/0 0/s ETA 0:00");
}
