#pragma once

// The REST API as plain functions: the route table, request validation (JSON
// bodies, path and query parameters) and the JSON of responses. No Beast, no CAF:
// unit-tested on their own; service.cpp wires them to the server and the gateway.

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bps/actors/domain.hpp"

namespace bps::http {

/// A request the API refuses: status, a stable code, a message a person can act on.
struct api_error {
  int status = 400;
  std::string code;
  std::string message;
  std::optional<std::string> field;
};

/// The result of parsing: a value, or the error to answer with.
template <class T>
struct parsed {
  std::optional<T> value;
  api_error error;
  explicit operator bool() const noexcept {
    return value.has_value();
  }
};

/// Who may call a route.
enum class role { anyone, client, admin };

/// One route of the API.
struct route {
  std::string_view method;
  /// Path template; `{name}` matches one segment.
  std::string_view path;
  /// Stable name, used in metrics labels (e.g. "POST /purchases").
  std::string_view name;
  role needs = role::anyone;
  /// Takes a JSON body.
  bool json_body = false;
  /// Query parameters it accepts.
  std::vector<std::string_view> query;
};

/// Every route the server answers, in the order of the OpenAPI document.
std::span<const route> routes();

/// A matched route with its path parameters, or the error (404, 405).
struct route_match {
  const route* matched = nullptr;
  std::vector<std::pair<std::string, std::string>> params;
  /// For 405: the methods the path allows (for the Allow header).
  std::string allow;
  api_error error;
};
route_match match(std::string_view method, std::string_view path);

/// The value of a path parameter of a match ("" if absent).
std::string param(const route_match& m, std::string_view name);

/// Splits a request target into path and query (without the '?').
std::pair<std::string_view, std::string_view> split_target(std::string_view target);

/// The query parameters, percent-decoded; an unknown or repeated parameter, or
/// bad encoding, is an error.
parsed<std::vector<std::pair<std::string, std::string>>>
parse_query(std::string_view query, const std::vector<std::string_view>& allowed);

/// `wait` in milliseconds: a whole number from 0 to `cap`; absent: 0.
parsed<std::chrono::milliseconds>
parse_wait(const std::vector<std::pair<std::string, std::string>>& q,
           std::chrono::milliseconds cap);

struct page_request {
  std::string after;
  std::string before;
  std::string prefix;
  size_t limit = 100;
};
/// `limit` (1 to 1000, default 100), `after` and `before` (itemIds) and `prefix` (the
/// start of itemIds, with the characters an itemId may hold); see gateway::page_of.
parsed<page_request> parse_page(const std::vector<std::pair<std::string, std::string>>& q);

/// An id from a path or query, checked against the id pattern.
std::optional<api_error> check_path_id(std::string_view field, std::string_view id);

/// The content type is JSON (application/json, with an optional charset).
bool is_json(std::string_view content_type);

// Request bodies. Every body is a JSON object with exactly the documented fields:
// a missing, unknown or wrongly typed field is a 400 naming it.

/// `POST /purchases` {itemId, quantity, purchasedBy}; the purchaseId stays empty.
parsed<domain::purchase> parse_purchase(std::string_view body);
/// `POST /items` {itemId, description, quantity}.
parsed<domain::item_command> parse_insert(std::string_view body);
/// `PUT /items/{itemId}/quantity` {quantity, expectedVersion?}.
parsed<domain::item_command> parse_set_quantity(std::string_view item_id, std::string_view body);
/// `POST /items/{itemId}/restock` {amount, expectedVersion?}.
parsed<domain::item_command> parse_restock(std::string_view item_id, std::string_view body);
/// `PUT /items/{itemId}/description` {description, expectedVersion?}.
parsed<domain::item_command> parse_set_description(std::string_view item_id, std::string_view body);

/// An Idempotency-Key header: 1 to 255 visible ASCII characters.
std::optional<api_error> check_idempotency_key(std::string_view key);

// Response bodies.
std::string to_json(const domain::item& x);
std::string to_json(const domain::purchase& x);
/// A command written but not yet decided: {commandId, itemId, status, message}.
std::string pending_command_json(const domain::item_command& c, std::string_view message);
std::string page_json(const std::vector<domain::item>& items, std::string_view next,
                      std::string_view prev = {});
std::string error_json(const api_error& e);

} // namespace bps::http
