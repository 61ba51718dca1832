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

} // namespace bps::domain
