#pragma once

// The purchase decision as plain functions over plain structs: no CAF, librdkafka,
// RocksDB or Beast here. Item actors are thin shells around these.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bps::domain {

/// An item for sale: the latest state owned by its item actor.
struct item {
  std::string item_id;
  std::string description;
  int64_t quantity = 0;
  /// Incremented by every change; the first insert yields version 1.
  int64_t version = 0;
  friend bool operator==(const item&, const item&) = default;
};

/// The life of a purchase: appended as CREATED, then decided once.
enum class purchase_status : uint8_t { created, successful, failed };

/// Why a purchase FAILED.
enum class failure_reason : uint8_t { none, insufficient_stock, unknown_item, invalid_quantity };

/// A purchase request (status CREATED) or its outcome (SUCCESSFUL / FAILED).
struct purchase {
  std::string purchase_id;
  std::string item_id;
  int64_t quantity = 0;
  std::string purchased_by;
  purchase_status status = purchase_status::created;
  failure_reason reason = failure_reason::none;
  /// On an outcome: the item's version and quantity after the decision, so each
  /// item's history is a chain a checker can verify link by link.
  int64_t item_version = 0;
  int64_t item_quantity = 0;
  friend bool operator==(const purchase&, const purchase&) = default;
};

/// The result of deciding one purchase.
struct purchase_decision {
  /// The outcome event (SUCCESSFUL or FAILED).
  purchase outcome;
  /// The item after the decision (unchanged on FAILED; absent if it does not exist).
  std::optional<item> state;
};

/// Decides a CREATED purchase against the current item: it succeeds if and only if
/// the item exists and 0 < quantity <= stock; then stock decreases by the
/// quantity and the version grows by one. Anything else fails with its reason
/// and leaves the item as it was.
purchase_decision decide_purchase(const std::optional<item>& current, const purchase& request);

/// The documented spelling of a status: "CREATED", "SUCCESSFUL", "FAILED".
std::string_view to_string(purchase_status status) noexcept;

/// The documented spelling of a reason: "INSUFFICIENT_STOCK", ...; empty for none.
std::string_view to_string(failure_reason reason) noexcept;

} // namespace bps::domain
