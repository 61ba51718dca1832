// libFuzzer target: API keys (http/src/auth.cpp). parse_api_keys reads
// BPS_HTTP_API_KEYS (an operator's text); authenticate reads the Authorization
// header of any request.
//
// The input: the keys text on the first line, then Authorization header values,
// one per line.
//
// Properties, on any input:
// - nothing throws, aborts, leaks or trips UBSan; refusals are 400 (keys) or 401;
// - accepted keys have distinct names and roles admin or client, and each key's
//   own token, presented as "Bearer <token>" (any case of "Bearer"), authenticates
//   as exactly that key's name and role;
// - any header authenticates as one of the keys or is a 401;
// - a client is refused (403) exactly on admin routes.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "bps/http/auth.hpp"

namespace {

using namespace bps::http;

[[noreturn]] void violated(const char* what, std::string_view input) {
  std::fprintf(stderr, "property violated: %s\ninput: %.*s\n", what, static_cast<int>(input.size()),
               input.data());
  std::abort();
}

void require(bool ok, const char* what, std::string_view input) {
  if (!ok)
    violated(what, input);
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    auto end = text.find(sep, pos);
    if (end == std::string_view::npos)
      end = text.size();
    out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

void check_authorize(const principal& who, std::string_view input) {
  require(!authorize(who, role::anyone) && !authorize(who, role::client),
          "every key may call client routes", input);
  auto admin = authorize(who, role::admin);
  require(admin.has_value() == (who.grants != role::admin), "only admins call admin routes", input);
  if (admin)
    require(admin->status == 403, "a wrong role is 403", input);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input{reinterpret_cast<const char*>(data), size};
  auto lines = split(input, '\n');
  auto keys_text = lines.front();

  auto keys = parse_api_keys(keys_text);
  if (!keys) {
    require(keys.error.status == 400 && !keys.error.message.empty(),
            "a refusal is a 400 saying why", input);
    keys.value.emplace(); // headers are still checked, against no key
  } else {
    require(!keys.value->empty(), "accepted keys are not empty", input);
    // Each entry's own token authenticates as that entry.
    size_t k = 0;
    for (auto entry : split(keys_text, ',')) {
      if (entry.empty())
        continue;
      require(k < keys.value->size(), "one key per entry", input);
      const auto& key = (*keys.value)[k++];
      auto c1 = entry.find(':');
      auto c2 = entry.find(':', c1 + 1);
      require(entry.substr(0, c1) == key.name, "the name is the entry's", input);
      auto token = std::string{entry.substr(c2 + 1)};
      require(token.size() >= 16 && hex(sha256(token)) == hex(key.token_hash),
              "the token is kept as its SHA-256", input);
      for (const char* scheme : {"Bearer ", "bearer ", "BEARER "}) {
        auto who = authenticate(*keys.value, scheme + token);
        require(who.value.has_value(), "a key's own token authenticates", input);
        require(who.value->name == key.name && who.value->grants == key.grants,
                "a key's own token authenticates as that key", input);
        check_authorize(*who.value, input);
      }
    }
    require(k == keys.value->size(), "every key comes from an entry", input);
    for (size_t i = 0; i < k; ++i)
      for (size_t j = i + 1; j < k; ++j)
        require((*keys.value)[i].name != (*keys.value)[j].name, "names are distinct", input);
  }

  for (size_t i = 1; i < lines.size(); ++i) {
    auto who = authenticate(*keys.value, lines[i]);
    if (!who) {
      require(who.error.status == 401 && !who.error.message.empty(), "a refusal is a 401", input);
      continue;
    }
    bool known = false;
    for (const auto& key : *keys.value)
      known = known || (key.name == who.value->name && key.grants == who.value->grants);
    require(known, "whoever authenticates is one of the keys", input);
    check_authorize(*who.value, input);
  }
  return 0;
}
