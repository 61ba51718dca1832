#include "bps/actors/domain.hpp"

namespace bps::domain {

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
