#define CAF_SUITE kafka.log_origin
#include <caf/test/unit_test.hpp>

#include "bps/kafka/log_origin.hpp"

using namespace bps::kafka;

namespace {

record rec(int64_t offset, int64_t timestamp_ms, std::optional<std::string> key,
           std::optional<std::string> value) {
  record r;
  r.topic = "bps.purchases";
  r.partition = 3;
  r.offset = offset;
  r.timestamp_ms = timestamp_ms;
  r.key = std::move(key);
  r.value = std::move(value);
  return r;
}

} // namespace

CAF_TEST(an origin is written and read back as text) {
  auto o = origin_of(rec(42, 1700000000123, "book", R"({"x":1})"));
  CAF_CHECK_EQUAL(o.offset, 42);
  CAF_CHECK_EQUAL(o.timestamp_ms, 1700000000123);
  auto text = o.to_string();
  CAF_CHECK_EQUAL(text.substr(0, 17), "42 1700000000123 ");
  CAF_CHECK(log_origin::parse(text) == o);
}

CAF_TEST(text that is no origin parses to offset minus one) {
  for (const char* text : {"", "garbage", "12", "12 34", "x 1 ff"})
    CAF_CHECK_EQUAL(log_origin::parse(text).offset, -1);
}

CAF_TEST(a record at the same offset with another key value or time is another origin) {
  auto o = origin_of(rec(0, 1000, "book", "v"));
  CAF_CHECK(origin_of(rec(0, 1000, "book", "v")) == o);
  CAF_CHECK(!(origin_of(rec(0, 1000, "book", "w")) == o));
  CAF_CHECK(!(origin_of(rec(0, 1000, "pen", "v")) == o));
  CAF_CHECK(!(origin_of(rec(0, 1001, "book", "v")) == o));
  CAF_CHECK(!(origin_of(rec(1, 1000, "book", "v")) == o));
  // The separator keeps key and value apart.
  CAF_CHECK(!(origin_of(rec(0, 1000, "bo", "okv")) == o));
}
