#define CAF_SUITE common.logging
#include <caf/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "bps/error.hpp"
#include "bps/logging.hpp"

CAF_TEST(a log message with quotes and control characters stays one valid JSON string) {
  std::string msg = "say \"hi\"\n\tback\\slash \x01";
  auto line = "{\"msg\":\"" + bps::json_escape(msg) + "\"}";
  CAF_REQUIRE(nlohmann::json::accept(line));
  CAF_CHECK_EQUAL(nlohmann::json::parse(line)["msg"].get<std::string>(), msg);
}

CAF_TEST(only text and json are log formats) {
  bps::log_format f{};
  CAF_CHECK(bps::parse_log_format("json", f) && f == bps::log_format::json);
  CAF_CHECK(bps::parse_log_format("text", f) && f == bps::log_format::text);
  CAF_CHECK(!bps::parse_log_format("xml", f));
}

CAF_TEST(a bps error renders as its code name and message) {
  auto err = bps::make_error(bps::ec::topic_mismatch, "topic x: setting y");
  CAF_CHECK_EQUAL(bps::describe(err), "topic_mismatch: topic x: setting y");
  CAF_CHECK(bps::code_of(err) == bps::ec::topic_mismatch);
  CAF_CHECK(bps::code_of(caf::error{}) == bps::ec::none);
  CAF_CHECK_EQUAL(bps::describe(caf::error{}), "no error");
}
