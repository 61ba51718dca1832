#include "bps/actors/domain.hpp"

#include <limits>
#include <string>

namespace bps::domain {

namespace {

std::optional<field_problem> check_number(const char* field, int64_t v, int64_t min, int64_t max) {
  if (v >= min && v <= max)
    return std::nullopt;
  return field_problem{field, "must be a whole number from " + std::to_string(min) + " to "
                                + std::to_string(max)};
}

/// True if `v` is well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool valid_utf8(const std::string& v) {
  size_t i = 0;
  while (i < v.size()) {
    auto c = static_cast<unsigned char>(v[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    if (len == 0 || i + len > v.size())
      return false;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1FU) : len == 3 ? (c & 0x0FU) : (c & 0x07U);
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(v[i + k]);
      if ((cc >> 6) != 0x2)
        return false;
      cp = (cp << 6) | (cc & 0x3FU);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)
        || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

std::optional<field_problem> check_text(const char* field, const std::string& v, size_t min,
                                        size_t max) {
  // The HTTP API gets only valid UTF-8 (JSON); a CLI argument may be anything, and
  // bytes that are not UTF-8 would be changed on the way into JSON.
  if (!valid_utf8(v))
    return field_problem{field, "must be UTF-8 text"};
  if (v.size() >= min && v.size() <= max)
    return std::nullopt;
  return field_problem{field, min > 0 ? "must have " + std::to_string(min) + " to "
                                          + std::to_string(max) + " characters"
                                      : "must have at most " + std::to_string(max) + " characters"};
}

} // namespace

std::optional<field_problem> check_fields(const purchase& p) {
  if (auto e = check_number("quantity", p.quantity, 1, max_quantity))
    return e;
  return check_text("purchasedBy", p.purchased_by, 1, max_purchased_by);
}

std::optional<field_problem> check_fields(const item_command& c) {
  std::optional<field_problem> e;
  switch (c.type) {
    case command_type::insert_item:
      e = check_text("description", c.description, 0, max_description);
      if (!e)
        e = check_number("quantity", c.quantity, 0, max_quantity);
      break;
    case command_type::set_quantity:
      e = check_number("quantity", c.quantity, 0, max_quantity);
      break;
    case command_type::restock: e = check_number("amount", c.amount, 1, max_quantity); break;
    case command_type::set_description:
      e = check_text("description", c.description, 0, max_description);
      break;
  }
  if (!e && c.expected_version)
    e = check_number("expectedVersion", *c.expected_version, 0,
                     std::numeric_limits<int64_t>::max());
  return e;
}

bool same_request(const purchase& a, const purchase& b) noexcept {
  return a.purchase_id == b.purchase_id && a.item_id == b.item_id && a.quantity == b.quantity
         && a.purchased_by == b.purchased_by;
}

bool same_request(const item_command& a, const item_command& b) noexcept {
  return a.command_id == b.command_id && a.type == b.type && a.item_id == b.item_id
         && a.description == b.description && a.quantity == b.quantity && a.amount == b.amount
         && a.expected_version == b.expected_version;
}

claim claim_of(const purchase& p, std::string node, int64_t claimed_at_ms) {
  purchase request{p.purchase_id, p.item_id, p.quantity, p.purchased_by};
  return {p.purchase_id, std::move(request), std::move(node), claimed_at_ms};
}

claim claim_of(const item_command& c, std::string node, int64_t claimed_at_ms) {
  item_command request;
  request.command_id = c.command_id;
  request.type = c.type;
  request.item_id = c.item_id;
  request.description = c.description;
  request.quantity = c.quantity;
  request.amount = c.amount;
  request.expected_version = c.expected_version;
  return {c.command_id, std::move(request), std::move(node), claimed_at_ms};
}

bool claims(const claim& c, const purchase& p) noexcept {
  const auto* mine = std::get_if<purchase>(&c.request);
  return mine != nullptr && c.id == p.purchase_id && same_request(*mine, p);
}

bool claims(const claim& c, const item_command& x) noexcept {
  const auto* mine = std::get_if<item_command>(&c.request);
  return mine != nullptr && c.id == x.command_id && same_request(*mine, x);
}

bool same_request(const claim& a, const claim& b) noexcept {
  if (a.id != b.id)
    return false;
  if (const auto* p = std::get_if<purchase>(&b.request))
    return claims(a, *p);
  return claims(a, std::get<item_command>(b.request));
}

std::string describe_request(const claim& c) {
  if (const auto* p = std::get_if<purchase>(&c.request))
    return "purchase " + c.id + ": " + std::to_string(p->quantity) + " x " + p->item_id + " by "
           + p->purchased_by;
  const auto& x = std::get<item_command>(c.request);
  std::string out = "command " + c.id + ": " + std::string{to_string(x.type)} + " of " + x.item_id;
  switch (x.type) {
    case command_type::insert_item:
      out
        += " (quantity " + std::to_string(x.quantity) + ", description \"" + x.description + "\")";
      break;
    case command_type::set_quantity: out += " (quantity " + std::to_string(x.quantity) + ")"; break;
    case command_type::restock: out += " (amount " + std::to_string(x.amount) + ")"; break;
    case command_type::set_description: out += " (description \"" + x.description + "\")"; break;
  }
  if (x.expected_version)
    out += " at expectedVersion " + std::to_string(*x.expected_version);
  return out;
}

purchase_decision decide_purchase(const std::optional<item>& current, const purchase& request) {
  purchase_decision out{request, current};
  auto& outcome = out.outcome;
  auto fail = [&](failure_reason why) {
    outcome.status = purchase_status::failed;
    outcome.reason = why;
    outcome.item_version = current ? current->version : 0;
    outcome.item_quantity = current ? current->quantity : 0;
    return out;
  };
  if (request.quantity <= 0)
    return fail(failure_reason::invalid_quantity);
  if (!current)
    return fail(failure_reason::unknown_item);
  if (request.quantity > current->quantity)
    return fail(failure_reason::insufficient_stock);
  auto& next = *out.state;
  next.quantity -= request.quantity;
  next.version += 1;
  outcome.status = purchase_status::successful;
  outcome.reason = failure_reason::none;
  outcome.item_version = next.version;
  outcome.item_quantity = next.quantity;
  return out;
}

purchase request_of(const purchase& outcome) {
  auto x = outcome;
  x.status = purchase_status::created;
  x.reason = failure_reason::none;
  x.item_version = 0;
  x.item_quantity = 0;
  return x;
}

item_command request_of(const item_command& result) {
  auto x = result;
  x.status = command_status::requested;
  x.reason = rejection_reason::none;
  x.item_version = 0;
  x.item_quantity = 0;
  return x;
}

command_decision apply_command(const std::optional<item>& current, const item_command& cmd) {
  command_decision out{cmd, current};
  auto& result = out.result;
  auto reject = [&](rejection_reason why) {
    result.status = command_status::rejected;
    result.reason = why;
    result.item_version = current ? current->version : 0;
    result.item_quantity = current ? current->quantity : 0;
    return out;
  };
  if (cmd.type == command_type::insert_item) {
    if (current)
      return reject(rejection_reason::item_exists);
    if (cmd.expected_version && *cmd.expected_version != 0)
      return reject(rejection_reason::version_mismatch);
    if (cmd.quantity < 0 || cmd.quantity > max_quantity)
      return reject(rejection_reason::invalid_quantity);
    out.state = item{cmd.item_id, cmd.description, cmd.quantity, 1};
  } else {
    if (!current)
      return reject(rejection_reason::unknown_item);
    if (cmd.expected_version && *cmd.expected_version != current->version)
      return reject(rejection_reason::version_mismatch);
    auto& next = *out.state;
    switch (cmd.type) {
      case command_type::set_quantity:
        if (cmd.quantity < 0 || cmd.quantity > max_quantity)
          return reject(rejection_reason::invalid_quantity);
        next.quantity = cmd.quantity;
        break;
      case command_type::restock:
        if (cmd.amount <= 0 || cmd.amount > max_quantity - next.quantity)
          return reject(rejection_reason::invalid_amount);
        next.quantity += cmd.amount;
        break;
      case command_type::set_description: next.description = cmd.description; break;
      case command_type::insert_item: break; // handled above
    }
    next.version += 1;
  }
  result.status = command_status::applied;
  result.reason = rejection_reason::none;
  result.item_version = out.state->version;
  result.item_quantity = out.state->quantity;
  return out;
}

std::string_view to_string(purchase_status status) noexcept {
  switch (status) {
    case purchase_status::created: return "CREATED";
    case purchase_status::successful: return "SUCCESSFUL";
    case purchase_status::failed: return "FAILED";
  }
  return "?";
}

std::string_view to_string(failure_reason reason) noexcept {
  switch (reason) {
    case failure_reason::none: return "";
    case failure_reason::insufficient_stock: return "INSUFFICIENT_STOCK";
    case failure_reason::unknown_item: return "UNKNOWN_ITEM";
    case failure_reason::invalid_quantity: return "INVALID_QUANTITY";
  }
  return "?";
}

std::string_view to_string(command_type type) noexcept {
  switch (type) {
    case command_type::insert_item: return "INSERT_ITEM";
    case command_type::set_quantity: return "SET_QUANTITY";
    case command_type::restock: return "RESTOCK";
    case command_type::set_description: return "SET_DESCRIPTION";
  }
  return "?";
}

std::string_view to_string(command_status status) noexcept {
  switch (status) {
    case command_status::requested: return "REQUESTED";
    case command_status::applied: return "APPLIED";
    case command_status::rejected: return "REJECTED";
  }
  return "?";
}

std::string_view to_string(rejection_reason reason) noexcept {
  switch (reason) {
    case rejection_reason::none: return "";
    case rejection_reason::item_exists: return "ITEM_EXISTS";
    case rejection_reason::unknown_item: return "UNKNOWN_ITEM";
    case rejection_reason::invalid_quantity: return "INVALID_QUANTITY";
    case rejection_reason::invalid_amount: return "INVALID_AMOUNT";
    case rejection_reason::version_mismatch: return "VERSION_MISMATCH";
  }
  return "?";
}

} // namespace bps::domain
