#pragma once

// The translation from bps errors to HTTP responses, in one place. No Beast here:
// the server (a later issue) calls these.

#include <optional>
#include <string>
#include <string_view>

#include "bps/error.hpp"

namespace bps::http {

/// The HTTP status for a bps error code: 4xx for what the client can fix, 503 for
/// a Kafka that is briefly unavailable, 500 only for what is our fault.
int status_for(ec code) noexcept;

/// The JSON error body `{"error": {"code", "message", "field"?}}`.
std::string error_body(std::string_view code, std::string_view message,
                       const std::optional<std::string>& field = std::nullopt);

} // namespace bps::http
