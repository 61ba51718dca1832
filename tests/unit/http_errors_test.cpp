#define CAF_SUITE http.errors
#include <caf/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "bps/http/errors.hpp"

using bps::ec;
using bps::http::error_body;
using bps::http::status_for;

CAF_TEST(each error code maps to the status a client can act on) {
  const std::pair<ec, int> rows[] = {
    {ec::invalid_argument, 400}, {ec::malformed, 400},       {ec::timeout, 504},
    {ec::kafka_retriable, 503},  {ec::kafka_abortable, 503}, {ec::kafka_fatal, 503},
    {ec::kafka_error, 503},      {ec::topic_mismatch, 500},  {ec::internal, 500},
  };
  for (auto [code, status] : rows) {
    CAF_MESSAGE(bps::to_string(code));
    CAF_CHECK_EQUAL(status_for(code), status);
  }
}

CAF_TEST(an error body is JSON with code and message and the field when there is one) {
  auto body = nlohmann::json::parse(
    error_body("invalid_quantity", "quantity must be > 0", std::string{"quantity"}));
  CAF_CHECK_EQUAL(body["error"]["code"].get<std::string>(), "invalid_quantity");
  CAF_CHECK_EQUAL(body["error"]["message"].get<std::string>(), "quantity must be > 0");
  CAF_CHECK_EQUAL(body["error"]["field"].get<std::string>(), "quantity");
  auto plain = nlohmann::json::parse(error_body("not_found", "no such route"));
  CAF_CHECK(!plain["error"].contains("field"));
}

CAF_TEST(an error body quoting invalid UTF - 8 is still valid JSON) {
  auto body = error_body("malformed", std::string{"bad byte \xff here"});
  CAF_CHECK(nlohmann::json::accept(body));
}
