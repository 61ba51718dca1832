#include "bps/http/errors.hpp"

#include <nlohmann/json.hpp>

namespace bps::http {

int status_for(ec code) noexcept {
  switch (code) {
    case ec::none: return 200;
    case ec::invalid_argument:
    case ec::malformed: return 400;
    case ec::topic_mismatch:
    case ec::internal: return 500;
    case ec::timeout: return 504;
    case ec::kafka_retriable:
    case ec::kafka_abortable:
    case ec::kafka_fatal:
    case ec::kafka_error: return 503;
  }
  return 500;
}

std::string error_body(std::string_view code, std::string_view message,
                       const std::optional<std::string>& field) {
  nlohmann::json err{{"code", code}, {"message", message}};
  if (field)
    err["field"] = *field;
  // dump() with replace: a message quoting bad input may hold invalid UTF-8.
  return nlohmann::json{{"error", std::move(err)}}.dump(-1, ' ', false,
                                                        nlohmann::json::error_handler_t::replace);
}

} // namespace bps::http
