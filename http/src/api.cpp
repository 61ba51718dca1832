#include "bps/http/api.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bps/actors/codec.hpp"
#include "bps/http/errors.hpp"

namespace bps::http {

namespace {

using json = nlohmann::json;

api_error bad(std::string code, std::string message, std::optional<std::string> field = {}) {
  return {400, std::move(code), std::move(message), std::move(field)};
}

template <class T>
parsed<T> fail(api_error e) {
  return {std::nullopt, std::move(e)};
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  size_t pos = 1; // after the leading '/'
  while (pos <= path.size()) {
    auto next = path.find('/', pos);
    if (next == std::string_view::npos)
      next = path.size();
    out.push_back(path.substr(pos, next - pos));
    pos = next + 1;
  }
  return out;
}

std::optional<std::string> percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size())
        return std::nullopt;
      unsigned v = 0;
      auto [p, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, v, 16);
      if (ec != std::errc{} || p != in.data() + i + 3)
        return std::nullopt;
      out.push_back(static_cast<char>(v));
      i += 2;
    } else if (in[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

/// Reads a JSON object body with exactly the allowed fields, the required ones present.
parsed<json> object_body(std::string_view body, std::initializer_list<std::string_view> required,
                         std::initializer_list<std::string_view> optional) {
  auto j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded())
    return fail<json>(bad("malformed_json", "the body is not valid JSON (UTF-8)"));
  if (!j.is_object())
    return fail<json>(bad("malformed_json", "the body must be a JSON object"));
  for (const auto& entry : j.items()) {
    const auto& key = entry.key();
    auto known = [&key](std::string_view k) { return k == key; };
    if (std::none_of(required.begin(), required.end(), known)
        && std::none_of(optional.begin(), optional.end(), known)) {
      std::string fields;
      for (auto f : required)
        fields += fmt::format("{}{}", fields.empty() ? "" : ", ", f);
      for (auto f : optional)
        fields += fmt::format("{}{} (optional)", fields.empty() ? "" : ", ", f);
      return fail<json>(bad("unknown_field",
                            fmt::format("unknown field \"{}\"; the fields are: {}", key, fields),
                            key));
    }
  }
  for (auto f : required)
    if (!j.contains(f))
      return fail<json>(
        bad("missing_field", fmt::format("field \"{}\" is required", f), std::string{f}));
  return {std::move(j), {}};
}

parsed<int64_t> whole_number(const json& j, std::string_view field, int64_t min, int64_t max) {
  auto out_of_range = [&] {
    return fail<int64_t>(
      bad("invalid_field",
          fmt::format("field \"{}\" must be a whole number from {} to {}", field, min, max),
          std::string{field}));
  };
  const auto& v = j.at(std::string{field});
  if (v.is_number_unsigned()) {
    auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(max))
      return out_of_range();
    auto i = static_cast<int64_t>(u);
    if (i < min)
      return out_of_range();
    return {i, {}};
  }
  if (v.is_number_integer()) {
    auto i = v.get<int64_t>();
    if (i < min || i > max)
      return out_of_range();
    return {i, {}};
  }
  if (v.is_number_float()) {
    auto d = v.get<double>();
    // 2.0 is a whole number written oddly; 2.5 or 1e30 is not one we take.
    if (d == static_cast<double>(static_cast<int64_t>(std::clamp(d, -9e18, 9e18)))
        && d >= static_cast<double>(min) && d <= static_cast<double>(max))
      return {static_cast<int64_t>(d), {}};
    return out_of_range();
  }
  return fail<int64_t>(
    bad("invalid_field", fmt::format("field \"{}\" must be a number, not {}", field, v.type_name()),
        std::string{field}));
}

parsed<std::string> text(const json& j, std::string_view field, size_t min_len, size_t max_len) {
  const auto& v = j.at(std::string{field});
  if (!v.is_string())
    return fail<std::string>(bad(
      "invalid_field", fmt::format("field \"{}\" must be a string, not {}", field, v.type_name()),
      std::string{field}));
  auto s = v.get<std::string>();
  if (s.size() < min_len || s.size() > max_len)
    return fail<std::string>(
      bad("invalid_field",
          min_len > 0
            ? fmt::format("field \"{}\" must have {} to {} characters", field, min_len, max_len)
            : fmt::format("field \"{}\" must have at most {} characters", field, max_len),
          std::string{field}));
  return {std::move(s), {}};
}

parsed<std::string> id_field(const json& j, std::string_view field) {
  auto s = text(j, field, 0, 100000);
  if (!s)
    return s;
  if (auto problem = domain::check_id(field, *s.value))
    return fail<std::string>(bad("invalid_field", *problem, std::string{field}));
  return s;
}

/// Reads the optional expectedVersion into `c`; returns an error if it is bad.
std::optional<api_error> expected_version(const json& j, domain::item_command& c) {
  if (!j.contains("expectedVersion"))
    return std::nullopt;
  auto v = whole_number(j, "expectedVersion", 0, std::numeric_limits<int64_t>::max());
  if (!v)
    return v.error;
  c.expected_version = *v.value;
  return std::nullopt;
}

using domain::max_description;
using domain::max_purchased_by;

const std::vector<route>& route_table() {
  static const std::vector<route> table{
    {"GET", "/", "GET /", role::anyone, false, {}},
    {"GET", "/healthz", "GET /healthz", role::anyone, false, {}},
    {"GET", "/readyz", "GET /readyz", role::anyone, false, {}},
    {"GET", "/metrics", "GET /metrics", role::admin, false, {}},
    {"GET", "/openapi.json", "GET /openapi.json", role::anyone, false, {}},
    {"POST", "/items", "POST /items", role::admin, true, {}},
    {"GET", "/items", "GET /items", role::client, false, {"limit", "after", "before", "prefix"}},
    {"GET", "/items/{itemId}", "GET /items/{itemId}", role::client, false, {}},
    {"PUT", "/items/{itemId}/quantity", "PUT /items/{itemId}/quantity", role::admin, true, {}},
    {"POST", "/items/{itemId}/restock", "POST /items/{itemId}/restock", role::admin, true, {}},
    {"PUT",
     "/items/{itemId}/description",
     "PUT /items/{itemId}/description",
     role::admin,
     true,
     {}},
    {"POST", "/purchases", "POST /purchases", role::client, true, {"wait"}},
    {"GET",
     "/purchases/{purchaseId}",
     "GET /purchases/{purchaseId}",
     role::client,
     false,
     {"wait"}},
    {"GET", "/events", "GET /events", role::client, false, {"prefix"}},
  };
  return table;
}

} // namespace

std::span<const route> routes() {
  return route_table();
}

route_match match(std::string_view method, std::string_view path) {
  route_match out;
  if (path.empty() || path.front() != '/') {
    out.error = {404, "not_found", fmt::format("no route for \"{}\"", path), std::nullopt};
    return out;
  }
  auto segments = split_path(path);
  std::set<std::string_view> allowed;
  for (const auto& r : route_table()) {
    auto tmpl = split_path(r.path);
    if (tmpl.size() != segments.size())
      continue;
    std::vector<std::pair<std::string, std::string>> params;
    bool ok = true;
    for (size_t i = 0; ok && i < tmpl.size(); ++i) {
      if (tmpl[i].size() > 2 && tmpl[i].front() == '{' && tmpl[i].back() == '}') {
        auto value = percent_decode(segments[i]);
        ok = value && !value->empty();
        if (ok)
          params.emplace_back(std::string{tmpl[i].substr(1, tmpl[i].size() - 2)}, *value);
      } else {
        ok = tmpl[i] == segments[i];
      }
    }
    if (!ok)
      continue;
    if (r.method != method) {
      allowed.insert(r.method);
      continue;
    }
    out.matched = &r;
    out.params = std::move(params);
    return out;
  }
  if (!allowed.empty()) {
    for (auto m : allowed)
      out.allow += fmt::format("{}{}", out.allow.empty() ? "" : ", ", m);
    out.error = {405, "method_not_allowed",
                 fmt::format("{} is not allowed on {}; allowed: {}", method, path, out.allow),
                 std::nullopt};
    return out;
  }
  out.error = {404, "not_found",
               fmt::format("no route for {} {}; see GET /openapi.json for the API", method, path),
               std::nullopt};
  return out;
}

std::string param(const route_match& m, std::string_view name) {
  for (const auto& [k, v] : m.params)
    if (k == name)
      return v;
  return {};
}

std::pair<std::string_view, std::string_view> split_target(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos)
    return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

parsed<std::vector<std::pair<std::string, std::string>>>
parse_query(std::string_view query, const std::vector<std::string_view>& allowed) {
  using result = std::vector<std::pair<std::string, std::string>>;
  result out;
  size_t pos = 0;
  while (pos < query.size()) {
    auto amp = query.find('&', pos);
    if (amp == std::string_view::npos)
      amp = query.size();
    auto part = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (part.empty())
      continue;
    auto eq = part.find('=');
    auto key = percent_decode(part.substr(0, eq));
    auto value
      = percent_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1));
    if (!key || !value)
      return fail<result>(bad("invalid_query", "the query string has a bad %-escape"));
    if (std::find(allowed.begin(), allowed.end(), *key) == allowed.end()) {
      std::string names;
      for (auto a : allowed)
        names += fmt::format("{}{}", names.empty() ? "" : ", ", a);
      return fail<result>(
        bad("invalid_query",
            names.empty()
              ? fmt::format("unknown query parameter \"{}\"; this route takes none", *key)
              : fmt::format("unknown query parameter \"{}\"; this route takes: {}", *key, names),
            *key));
    }
    for (const auto& [k, v] : out)
      if (k == *key)
        return fail<result>(
          bad("invalid_query", fmt::format("query parameter \"{}\" is given twice", *key), *key));
    out.emplace_back(std::move(*key), std::move(*value));
  }
  return {std::move(out), {}};
}

namespace {

std::optional<int64_t> whole(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || s.empty())
    return std::nullopt;
  return v;
}

} // namespace

parsed<std::chrono::milliseconds>
parse_wait(const std::vector<std::pair<std::string, std::string>>& q,
           std::chrono::milliseconds cap) {
  for (const auto& [k, v] : q) {
    if (k != "wait")
      continue;
    auto ms = whole(v);
    if (!ms || *ms < 0 || *ms > cap.count())
      return fail<std::chrono::milliseconds>(
        bad("invalid_query",
            fmt::format("wait must be a whole number of milliseconds from 0 to {}", cap.count()),
            "wait"));
    return {std::chrono::milliseconds{*ms}, {}};
  }
  return {std::chrono::milliseconds{0}, {}};
}

parsed<page_request> parse_page(const std::vector<std::pair<std::string, std::string>>& q) {
  page_request out;
  for (const auto& [k, v] : q) {
    if (k == "limit") {
      auto n = whole(v);
      if (!n || *n < 1 || *n > 1000)
        return fail<page_request>(
          bad("invalid_query", "limit must be a whole number from 1 to 1000", "limit"));
      out.limit = static_cast<size_t>(*n);
    } else if (k == "after" || k == "before" || k == "prefix") {
      if (auto e = check_path_id(k, v))
        return fail<page_request>(*e);
      (k == "after" ? out.after : k == "before" ? out.before : out.prefix) = v;
    }
  }
  return {std::move(out), {}};
}

std::optional<api_error> check_path_id(std::string_view field, std::string_view id) {
  if (auto problem = domain::check_id(field, id))
    return bad("invalid_field", *problem, std::string{field});
  return std::nullopt;
}

bool is_json(std::string_view content_type) {
  auto semi = content_type.find(';');
  auto type = content_type.substr(0, semi);
  while (!type.empty() && type.back() == ' ')
    type.remove_suffix(1);
  std::string lower{type};
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower == "application/json";
}

parsed<domain::purchase> parse_purchase(std::string_view body) {
  auto j = object_body(body, {"itemId", "quantity", "purchasedBy"}, {});
  if (!j)
    return fail<domain::purchase>(j.error);
  auto item_id = id_field(*j.value, "itemId");
  if (!item_id)
    return fail<domain::purchase>(item_id.error);
  auto quantity = whole_number(*j.value, "quantity", 1, domain::max_quantity);
  if (!quantity)
    return fail<domain::purchase>(quantity.error);
  auto by = text(*j.value, "purchasedBy", 1, max_purchased_by);
  if (!by)
    return fail<domain::purchase>(by.error);
  domain::purchase p;
  p.item_id = std::move(*item_id.value);
  p.quantity = *quantity.value;
  p.purchased_by = std::move(*by.value);
  return {std::move(p), {}};
}

parsed<domain::item_command> parse_insert(std::string_view body) {
  auto j = object_body(body, {"itemId", "description", "quantity"}, {});
  if (!j)
    return fail<domain::item_command>(j.error);
  auto item_id = id_field(*j.value, "itemId");
  if (!item_id)
    return fail<domain::item_command>(item_id.error);
  auto description = text(*j.value, "description", 0, max_description);
  if (!description)
    return fail<domain::item_command>(description.error);
  auto quantity = whole_number(*j.value, "quantity", 0, domain::max_quantity);
  if (!quantity)
    return fail<domain::item_command>(quantity.error);
  domain::item_command c;
  c.type = domain::command_type::insert_item;
  c.item_id = std::move(*item_id.value);
  c.description = std::move(*description.value);
  c.quantity = *quantity.value;
  return {std::move(c), {}};
}

namespace {

parsed<domain::item_command> item_change(std::string_view item_id, std::string_view body,
                                         domain::command_type type, std::string_view field) {
  if (auto e = check_path_id("itemId", item_id))
    return fail<domain::item_command>(*e);
  auto j = object_body(body, {field}, {"expectedVersion"});
  if (!j)
    return fail<domain::item_command>(j.error);
  domain::item_command c;
  c.type = type;
  c.item_id = std::string{item_id};
  if (type == domain::command_type::set_description) {
    auto d = text(*j.value, field, 0, max_description);
    if (!d)
      return fail<domain::item_command>(d.error);
    c.description = std::move(*d.value);
  } else {
    auto n = whole_number(*j.value, field, type == domain::command_type::restock ? 1 : 0,
                          domain::max_quantity);
    if (!n)
      return fail<domain::item_command>(n.error);
    (type == domain::command_type::restock ? c.amount : c.quantity) = *n.value;
  }
  if (auto e = expected_version(*j.value, c))
    return fail<domain::item_command>(*e);
  return {std::move(c), {}};
}

} // namespace

parsed<domain::item_command> parse_set_quantity(std::string_view item_id, std::string_view body) {
  return item_change(item_id, body, domain::command_type::set_quantity, "quantity");
}

parsed<domain::item_command> parse_restock(std::string_view item_id, std::string_view body) {
  return item_change(item_id, body, domain::command_type::restock, "amount");
}

parsed<domain::item_command> parse_set_description(std::string_view item_id,
                                                   std::string_view body) {
  return item_change(item_id, body, domain::command_type::set_description, "description");
}

std::optional<api_error> check_idempotency_key(std::string_view key) {
  bool visible = std::all_of(key.begin(), key.end(), [](char ch) { return ch > 32 && ch < 127; });
  if (key.empty() || key.size() > 255 || !visible)
    return api_error{400, "invalid_header",
                     "the Idempotency-Key header must have 1 to 255 visible ASCII characters",
                     "Idempotency-Key"};
  return std::nullopt;
}

namespace {

json item_object(const domain::item& x) {
  return json{{"itemId", x.item_id},
              {"description", x.description},
              {"quantity", x.quantity},
              {"version", x.version}};
}

json purchase_object(const domain::purchase& x) {
  static constexpr std::array statuses{"CREATED", "SUCCESSFUL", "FAILED"};
  static constexpr std::array reasons{"", "INSUFFICIENT_STOCK", "UNKNOWN_ITEM", "INVALID_QUANTITY"};
  json j{{"purchaseId", x.purchase_id},
         {"itemId", x.item_id},
         {"quantity", x.quantity},
         {"purchasedBy", x.purchased_by},
         {"purchaseStatus", statuses.at(static_cast<size_t>(x.status))}};
  if (x.status == domain::purchase_status::failed)
    j["reason"] = reasons.at(static_cast<size_t>(x.reason));
  return j;
}

} // namespace

std::string to_json(const domain::item& x) {
  return item_object(x).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string to_json(const domain::purchase& x) {
  return purchase_object(x).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string pending_command_json(const domain::item_command& c, std::string_view message) {
  return json{{"commandId", c.command_id},
              {"itemId", c.item_id},
              {"status", "REQUESTED"},
              {"message", message}}
    .dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string page_json(const std::vector<domain::item>& items, std::string_view next,
                      std::string_view prev) {
  json list = json::array();
  for (const auto& x : items)
    list.push_back(item_object(x));
  json j{{"items", std::move(list)}};
  j["next"] = next.empty() ? json(nullptr) : json(next);
  j["prev"] = prev.empty() ? json(nullptr) : json(prev);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string error_json(const api_error& e) {
  return error_body(e.code, e.message, e.field);
}

} // namespace bps::http
