#include "bps/error.hpp"

#include <caf/message.hpp>

namespace bps {

const char* to_string(ec code) noexcept {
  switch (code) {
    case ec::none: return "none";
    case ec::invalid_argument: return "invalid_argument";
    case ec::kafka_retriable: return "kafka_retriable";
    case ec::kafka_abortable: return "kafka_abortable";
    case ec::kafka_fatal: return "kafka_fatal";
    case ec::kafka_error: return "kafka_error";
    case ec::topic_mismatch: return "topic_mismatch";
    case ec::timeout: return "timeout";
    case ec::malformed: return "malformed";
    case ec::internal: return "internal";
  }
  return "unknown";
}

caf::error make_error(ec code, std::string message) {
  return caf::error{static_cast<uint8_t>(code), caf::atom("bps"),
                    caf::make_message(std::move(message))};
}

ec code_of(const caf::error& err) noexcept {
  if (!err || err.category() != caf::atom("bps"))
    return ec::none;
  return static_cast<ec>(err.code());
}

std::string describe(const caf::error& err) {
  if (!err)
    return "no error";
  std::string text;
  if (err.category() == caf::atom("bps"))
    text = to_string(static_cast<ec>(err.code()));
  else
    text = caf::to_string(err.category()) + " error " + std::to_string(err.code());
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    text += ": " + ctx.get_as<std::string>(0);
  else if (!ctx.empty())
    text += ": " + caf::to_string(ctx);
  return text;
}

} // namespace bps
