#include "bps/http/auth.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace bps::http {

digest sha256(std::string_view bytes) {
  digest out{};
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), out.data());
  return out;
}

std::string hex(const digest& d, size_t n) {
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n && i < d.size(); ++i)
    out += fmt::format("{:02x}", d[i]);
  return out;
}

parsed<std::vector<api_key>> parse_api_keys(std::string_view text) {
  std::vector<api_key> keys;
  size_t pos = 0;
  size_t index = 0;
  auto fail = [](std::string message) {
    return parsed<std::vector<api_key>>{std::nullopt,
                                        {400, "invalid_api_keys", std::move(message), {}}};
  };
  while (pos <= text.size()) {
    auto comma = text.find(',', pos);
    if (comma == std::string_view::npos)
      comma = text.size();
    auto entry = text.substr(pos, comma - pos);
    pos = comma + 1;
    ++index;
    if (entry.empty())
      continue;
    auto c1 = entry.find(':');
    auto c2 = c1 == std::string_view::npos ? c1 : entry.find(':', c1 + 1);
    if (c2 == std::string_view::npos)
      return fail(fmt::format("API key {}: expected NAME:ROLE:TOKEN", index));
    auto name = entry.substr(0, c1);
    auto role_name = entry.substr(c1 + 1, c2 - c1 - 1);
    auto token = entry.substr(c2 + 1);
    if (name.empty())
      return fail(fmt::format("API key {}: the name is empty", index));
    api_key k;
    k.name = std::string{name};
    if (role_name == "admin")
      k.grants = role::admin;
    else if (role_name == "client")
      k.grants = role::client;
    else
      return fail(fmt::format("API key {} ({}): role must be admin or client, not \"{}\"", index,
                              name, role_name));
    bool clean
      = std::all_of(token.begin(), token.end(), [](char ch) { return ch > 32 && ch < 127; });
    if (token.size() < 16 || !clean)
      return fail(fmt::format("API key {} ({}): the token must have at least 16 visible ASCII "
                              "characters",
                              index, name));
    k.token_hash = sha256(token);
    for (const auto& other : keys) {
      if (other.name == k.name)
        return fail(fmt::format("API key {}: the name \"{}\" is used twice", index, name));
      // One token for two names would authenticate as whichever comes last.
      if (other.token_hash == k.token_hash)
        return fail(fmt::format("API key {} ({}): the same token as \"{}\"; every key needs its "
                                "own token",
                                index, name, other.name));
    }
    keys.push_back(std::move(k));
  }
  if (keys.empty())
    return fail("no API key given");
  return {std::move(keys), {}};
}

parsed<principal> authenticate(const std::vector<api_key>& keys, std::string_view authorization) {
  auto unauthorized = [](std::string message) {
    return parsed<principal>{std::nullopt, {401, "unauthorized", std::move(message), {}}};
  };
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.empty())
    return unauthorized("this route needs an API key: send \"Authorization: Bearer <token>\"");
  if (authorization.size() <= scheme.size()
      || !std::equal(
        scheme.begin(), scheme.end(), authorization.begin(),
        [](unsigned char a, unsigned char b) { return std::tolower(a) == std::tolower(b); }))
    return unauthorized("the Authorization header must be \"Bearer <token>\"");
  auto presented = sha256(authorization.substr(scheme.size()));
  const api_key* found = nullptr;
  for (const auto& k : keys) {
    // No early exit: the time taken does not tell which key, or how much of one, matched.
    bool equal = CRYPTO_memcmp(presented.data(), k.token_hash.data(), presented.size()) == 0;
    found = equal ? &k : found;
  }
  if (found == nullptr)
    return unauthorized("the API key is not valid");
  return {principal{found->name, found->grants}, {}};
}

std::optional<api_error> authorize(const principal& who, role needs) {
  if (needs == role::admin && who.grants != role::admin)
    return api_error{
      403, "forbidden",
      fmt::format("API key \"{}\" has role client; this route needs role admin", who.name),
      std::nullopt};
  return std::nullopt;
}

} // namespace bps::http
