#pragma once

// API keys (bearer tokens) with roles. Pure: no Beast. Tokens are kept only as
// SHA-256 digests and compared in constant time.

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bps/http/api.hpp"

namespace bps::http {

using digest = std::array<unsigned char, 32>;

/// SHA-256 of some bytes.
digest sha256(std::string_view bytes);

/// Lower-case hex of the first `n` bytes of a digest.
std::string hex(const digest& d, size_t n = 32);

struct api_key {
  /// Who holds it (the principal; appears in logs, never the token).
  std::string name;
  role grants = role::client;
  digest token_hash{};
};

/// Parses "name:role:token[,name:role:token...]" (role: admin or client; token:
/// at least 16 characters, no ',' or whitespace). The error names the entry.
parsed<std::vector<api_key>> parse_api_keys(std::string_view text);

/// Who made a request.
struct principal {
  std::string name;
  role grants = role::client;
};

/// Checks an Authorization header against the keys: the principal, or a 401
/// error. Every key is compared, in constant time, whatever matches.
parsed<principal> authenticate(const std::vector<api_key>& keys, std::string_view authorization);

/// A 403 if `who` may not call a route that needs `needs`.
std::optional<api_error> authorize(const principal& who, role needs);

} // namespace bps::http
