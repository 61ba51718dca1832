// libFuzzer target: everything http/src/api.cpp does with untrusted request data,
// in the order the service does it: split the target, match the route, parse and
// check the query (wait, limit, after), the content type, the Idempotency-Key, and
// the JSON body with every body parser; then the response bodies built from what
// was accepted or refused.
//
// The input reads like a request (what Beast hands the service):
//   METHOD TARGET\n  [Content-Type: ...\n]  [Idempotency-Key: ...\n]  \n  BODY
//
// Properties, on any input:
// - nothing throws, aborts, leaks or trips UBSan; every refusal is a 4xx with a code;
// - a match has the method asked for and non-empty, percent-decoded parameters;
// - what a body parser accepts is within the documented ranges and patterns, and
//   the same values sent again as a body are accepted as the same request;
// - every response body (including errors quoting bad input) is valid JSON.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "bps/actors/codec.hpp"
#include "bps/actors/domain.hpp"
#include "bps/http/api.hpp"

namespace {

using namespace bps;
using namespace bps::http;
using json = nlohmann::json;

[[noreturn]] void violated(const char* what, std::string_view input) {
  std::fprintf(stderr, "property violated: %s\ninput: %.*s\n", what, static_cast<int>(input.size()),
               input.data());
  std::abort();
}

void require(bool ok, const char* what, std::string_view input) {
  if (!ok)
    violated(what, input);
}

/// Splits off the first line ('\n', a trailing '\r' dropped).
std::string_view next_line(std::string_view& rest) {
  auto end = rest.find('\n');
  auto line = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1);
  return line;
}

void check_error(const api_error& e, std::string_view input) {
  require(e.status >= 400 && e.status < 500, "a refusal is a 4xx", input);
  require(!e.code.empty() && !e.message.empty(), "a refusal has a code and a message", input);
  auto body = error_json(e);
  auto j = json::parse(body, nullptr, false);
  require(!j.is_discarded(), "an error body is valid JSON", input);
}

void check_valid_json(const std::string& body, std::string_view input) {
  require(!json::parse(body, nullptr, false).is_discarded(), "a response body is valid JSON",
          input);
}

/// A body parser's result: in range when accepted, a 400 naming the problem when not;
/// an accepted request sent again (as the JSON a client would send) parses the same.
template <class T, class Reparse>
void check_body(const parsed<T>& p, std::string_view input, Reparse reparse) {
  if (!p) {
    check_error(p.error, input);
    require(p.error.status == 400, "a bad body is a 400", input);
    return;
  }
  auto again = reparse(*p.value);
  require(again.value.has_value(), "an accepted request re-sent is accepted", input);
  require(*again.value == *p.value, "an accepted request re-sent is the same request", input);
}

void check_command(const domain::item_command& c, std::string_view input) {
  require(!domain::check_id("itemId", c.item_id), "an accepted itemId passes check_id", input);
  require(c.description.size() <= 2048, "a description is at most 2048 bytes", input);
  require(c.quantity >= 0 && c.quantity <= domain::max_quantity, "quantity in range", input);
  require(c.amount >= 0 && c.amount <= domain::max_quantity, "amount in range", input);
  require(!c.expected_version || *c.expected_version >= 0, "expectedVersion >= 0", input);
  require(c.command_id.empty(), "the parser leaves the commandId to the service", input);
  check_valid_json(pending_command_json(c, "written"), input);
  auto written = c;
  written.command_id = "c-1";
  auto record = domain::decode_command(domain::encode(written));
  require(record && *record.value == written, "an accepted command is a valid record", input);
}

json change_body(const domain::item_command& c, const char* field) {
  json j;
  if (c.type == domain::command_type::set_description)
    j[field] = c.description;
  else
    j[field] = c.type == domain::command_type::restock ? c.amount : c.quantity;
  if (c.expected_version)
    j["expectedVersion"] = *c.expected_version;
  return j;
}

void check_bodies(std::string_view item_id, std::string_view body, std::string_view input) {
  auto purchase = parse_purchase(body);
  check_body(purchase, input, [](const domain::purchase& p) {
    return parse_purchase(
      json{{"itemId", p.item_id}, {"quantity", p.quantity}, {"purchasedBy", p.purchased_by}}
        .dump());
  });
  if (purchase) {
    const auto& p = *purchase.value;
    require(!domain::check_id("itemId", p.item_id), "an accepted itemId passes check_id", input);
    require(p.quantity >= 1 && p.quantity <= domain::max_quantity, "quantity in range", input);
    require(!p.purchased_by.empty() && p.purchased_by.size() <= 256, "purchasedBy 1..256", input);
    require(p.purchase_id.empty() && p.status == domain::purchase_status::created,
            "a parsed purchase is a CREATED request without id", input);
    check_valid_json(to_json(p), input);
    // What the service writes to Kafka (with an id) is what the pipeline reads back.
    auto written = p;
    written.purchase_id = "p-1";
    auto record = domain::decode_purchase(domain::encode(written));
    require(record && *record.value == written, "an accepted purchase is a valid record", input);
  }

  auto insert = parse_insert(body);
  check_body(insert, input, [](const domain::item_command& c) {
    return parse_insert(
      json{{"itemId", c.item_id}, {"description", c.description}, {"quantity", c.quantity}}.dump());
  });
  if (insert)
    check_command(*insert.value, input);

  struct change {
    parsed<domain::item_command> (*parse)(std::string_view, std::string_view);
    const char* field;
  };
  for (auto [parse, field] :
       {change{parse_set_quantity, "quantity"}, change{parse_restock, "amount"},
        change{parse_set_description, "description"}}) {
    auto c = parse(item_id, body);
    check_body(c, input, [&, parse = parse, field = field](const domain::item_command& x) {
      return parse(x.item_id, change_body(x, field).dump());
    });
    if (c) {
      check_command(*c.value, input);
      require(c.value->item_id == item_id, "the itemId is the path's", input);
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input{reinterpret_cast<const char*>(data), size};
  std::string_view rest = input;
  auto request_line = next_line(rest);
  auto space = request_line.find(' ');
  auto method = request_line.substr(0, space);
  auto target
    = space == std::string_view::npos ? std::string_view{} : request_line.substr(space + 1);
  std::string_view content_type;
  std::string_view idempotency_key;
  bool has_key = false;
  while (!rest.empty()) {
    auto header = next_line(rest);
    if (header.empty())
      break;
    auto colon = header.find(':');
    auto name = header.substr(0, colon);
    auto value = colon == std::string_view::npos ? std::string_view{} : header.substr(colon + 1);
    while (!value.empty() && value.front() == ' ')
      value.remove_prefix(1);
    if (name == "Content-Type")
      content_type = value;
    else if (name == "Idempotency-Key") {
      idempotency_key = value;
      has_key = true;
    }
  }
  auto body = rest;

  auto [path, query] = split_target(target);
  require(path.size() + (query.data() == nullptr ? 0 : query.size() + 1) == target.size(),
          "split_target keeps every byte", input);
  auto m = match(method, path);
  std::string item_id = "x";
  if (m.matched == nullptr) {
    check_error(m.error, input);
    require(m.error.status == 404 || m.error.status == 405, "no route is 404 or 405", input);
    require((m.error.status == 405) == !m.allow.empty(), "a 405 (only) names what is allowed",
            input);
  } else {
    require(m.matched->method == method, "a match has the method asked for", input);
    for (const auto& [name, value] : m.params)
      require(!name.empty() && !value.empty(), "path parameters are not empty", input);
    if (auto id = param(m, "itemId"); !id.empty())
      item_id = id;
    if (auto e = check_path_id("itemId", item_id))
      check_error(*e, input);
  }

  // The query against the matched route's parameters, or against all of them.
  static const std::vector<std::string_view> all_params{"wait", "limit", "after"};
  auto q = parse_query(query, m.matched != nullptr ? m.matched->query : all_params);
  if (!q) {
    check_error(q.error, input);
  } else {
    auto wait = parse_wait(*q.value, std::chrono::milliseconds{30000});
    if (wait)
      require(wait.value->count() >= 0 && wait.value->count() <= 30000, "wait in range", input);
    else
      check_error(wait.error, input);
    auto page = parse_page(*q.value);
    if (page) {
      require(page.value->limit >= 1 && page.value->limit <= 1000, "limit in range", input);
      require(page.value->after.empty() || !domain::check_id("after", page.value->after),
              "after is an id", input);
      check_valid_json(page_json({}, page.value->after), input);
    } else {
      check_error(page.error, input);
    }
  }

  (void)is_json(content_type);
  if (has_key) {
    if (auto e = check_idempotency_key(idempotency_key))
      check_error(*e, input);
    else
      require(!idempotency_key.empty() && idempotency_key.size() <= 255, "a key is 1..255", input);
  }

  check_bodies(item_id, body, input);
  return 0;
}
