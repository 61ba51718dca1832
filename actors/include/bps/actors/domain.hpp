#pragma once

// The purchase decision as plain functions over plain structs: no CAF, librdkafka,
// RocksDB or Beast here. Item actors are thin shells around these.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

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

/// The kinds of item command.
enum class command_type : uint8_t { insert_item, set_quantity, restock, set_description };

/// The life of an item command: REQUESTED, then APPLIED or REJECTED once.
enum class command_status : uint8_t { requested, applied, rejected };

/// Why a command was REJECTED.
enum class rejection_reason : uint8_t {
  none,
  item_exists,
  unknown_item,
  invalid_quantity,
  invalid_amount,
  version_mismatch,
};

/// A command on an item (status REQUESTED) or its result (APPLIED / REJECTED).
struct item_command {
  std::string command_id;
  command_type type = command_type::insert_item;
  std::string item_id;
  /// insert_item, set_description: the description.
  std::string description;
  /// insert_item: the initial stock; set_quantity: the new stock (absolute).
  int64_t quantity = 0;
  /// restock: how many units arrive (> 0).
  int64_t amount = 0;
  /// If present, the command applies only to this version of the item.
  std::optional<int64_t> expected_version;
  command_status status = command_status::requested;
  rejection_reason reason = rejection_reason::none;
  /// On a result: the item's version and quantity after it.
  int64_t item_version = 0;
  int64_t item_quantity = 0;
  friend bool operator==(const item_command&, const item_command&) = default;
};

/// The result of applying one command.
struct command_decision {
  item_command result;
  std::optional<item> state;
};

/// Applies a REQUESTED command: insert only a new item (quantity >= 0, version 1);
/// set quantity to a value >= 0; restock by an amount > 0; set the description.
/// With an expected version that differs from the item's, it is rejected. A
/// rejected command leaves the item as it was.
command_decision apply_command(const std::optional<item>& current, const item_command& cmd);

/// Decides a CREATED purchase against the current item: it succeeds if and only if
/// the item exists and 0 < quantity <= stock; then stock decreases by the
/// quantity and the version grows by one. Anything else fails with its reason
/// and leaves the item as it was.
purchase_decision decide_purchase(const std::optional<item>& current, const purchase& request);

/// The request an outcome decided (CREATED / REQUESTED, without the outcome's fields):
/// the record a node writes into `purchases` / `item-commands` together with the
/// outcome, so that each pair is consistent by construction.
purchase request_of(const purchase& outcome);
item_command request_of(const item_command& result);

/// The documented spelling of a status: "CREATED", "SUCCESSFUL", "FAILED".
std::string_view to_string(purchase_status status) noexcept;

/// The documented spelling of a reason: "INSUFFICIENT_STOCK", ...; empty for none.
std::string_view to_string(failure_reason reason) noexcept;

/// "INSERT_ITEM", "SET_QUANTITY", "RESTOCK", "SET_DESCRIPTION".
std::string_view to_string(command_type type) noexcept;

/// "REQUESTED", "APPLIED", "REJECTED".
std::string_view to_string(command_status status) noexcept;

/// "ITEM_EXISTS", "UNKNOWN_ITEM", ...; empty for none.
std::string_view to_string(rejection_reason reason) noexcept;

/// True if two purchases are the same request (what a client sent): the same
/// purchaseId, itemId, quantity and purchasedBy. Status and outcome fields are not
/// compared, so an outcome is "the same request" as the CREATED it decides.
bool same_request(const purchase& a, const purchase& b) noexcept;
/// True if two item commands are the same request: the same commandId, type,
/// itemId, description, quantity, amount and expectedVersion.
bool same_request(const item_command& a, const item_command& b) noexcept;

/// A claim of a request id, in the idempotency-keys topic: whoever writes a
/// request under an id it did not draw at random (an Idempotency-Key, `--id`) first
/// claims the id for that request; the first claim of an id in its partition names
/// the one request the id stands for, forever.
struct claim {
  std::string id;
  /// The request: a CREATED purchase or a REQUESTED command, its id equal to `id`.
  std::variant<purchase, item_command> request;
  /// Who claimed (a node id, or "cli") and when (ms since the epoch): for people.
  std::string node;
  int64_t claimed_at_ms = 0;
  friend bool operator==(const claim&, const claim&) = default;
};

/// The claim of a request (its status set to CREATED / REQUESTED).
claim claim_of(const purchase& p, std::string node, int64_t claimed_at_ms);
claim claim_of(const item_command& c, std::string node, int64_t claimed_at_ms);

/// True if the claim is for exactly this request: same kind, id and fields.
bool claims(const claim& c, const purchase& p) noexcept;
bool claims(const claim& c, const item_command& x) noexcept;
/// True if two claims are for the same request (who and when do not matter).
bool same_request(const claim& a, const claim& b) noexcept;

/// The claimed request in words, for error messages: "purchase p-1: 2 x book-1 by
/// alice", "command c-1: RESTOCK of book-1 (amount 5)".
std::string describe_request(const claim& c);

/// The largest quantity, amount or stock bps accepts (no overflow in any sum).
inline constexpr int64_t max_quantity = 1'000'000'000'000;
/// The longest description and purchasedBy bps accepts, in bytes.
inline constexpr size_t max_description = 2048;
inline constexpr size_t max_purchased_by = 256;

/// A field of a request whose value bps refuses, with the rule in words.
struct field_problem {
  std::string field;   ///< its JSON name: "quantity", "purchasedBy", ...
  std::string message; ///< e.g. "must be a whole number from 1 to 1000000000000"
};

/// The rules every writer of requests applies before it writes (the HTTP API and
/// the CLI alike): quantities and amounts in range, purchasedBy of 1 to 256 bytes,
/// descriptions of at most 2,048 bytes, expectedVersion not negative. Ids are checked
/// by check_id. A request that breaks them and is written anyway is refused by the
/// node (FAILED or REJECTED with its reason).
std::optional<field_problem> check_fields(const purchase& p);
std::optional<field_problem> check_fields(const item_command& c);

/// The largest version an item record may carry: beyond any item's life (a million
/// changes a second for 30,000 years), and far enough from the int64 limit that a
/// change never overflows.
inline constexpr int64_t max_version = 1'000'000'000'000'000'000;

} // namespace bps::domain
