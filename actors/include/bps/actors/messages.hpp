#pragma once

// Everything that crosses an actor boundary: CAF's view of the domain types
// (inspect overloads), the reply types, the atoms, and the type-id block. The
// domain header itself stays free of CAF.

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>

#include "bps/actors/domain.hpp"

namespace bps {

/// An item actor's answer to a purchase: the outcome and the item after it.
struct purchase_reply {
  domain::purchase outcome;
  /// The item after the decision; meaningful only if `exists`.
  domain::item state;
  bool exists = false;
  /// The tag the request carried, unchanged: the sender's way to tell the answers it
  /// still waits for from late ones (a lane drops the answers of actors it stopped).
  uint64_t tag = 0;
};

/// An item actor's answer to a command: the result and the item after it.
struct command_reply {
  domain::item_command result;
  domain::item state;
  bool exists = false;
  /// As in purchase_reply.
  uint64_t tag = 0;
};

} // namespace bps

namespace bps::domain {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item& x) {
  return f(caf::meta::type_name("item"), x.item_id, x.description, x.quantity, x.version);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, purchase& x) {
  return f(caf::meta::type_name("purchase"), x.purchase_id, x.item_id, x.quantity, x.purchased_by,
           x.status, x.reason, x.item_version, x.item_quantity);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_command& x) {
  // std::optional is not inspectable in CAF 0.17: carry it as a flag and a value.
  bool has_expected = x.expected_version.has_value();
  int64_t expected = x.expected_version.value_or(0);
  return f(caf::meta::type_name("item_command"), x.command_id, x.type, x.item_id, x.description,
           x.quantity, x.amount, has_expected, expected, x.status, x.reason, x.item_version,
           x.item_quantity, caf::meta::load_callback([&]() -> caf::error {
             x.expected_version = has_expected ? std::optional<int64_t>{expected} : std::nullopt;
             return caf::none;
           }));
}

} // namespace bps::domain

namespace bps {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, purchase_reply& x) {
  return f(caf::meta::type_name("purchase_reply"), x.outcome, x.state, x.exists, x.tag);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_reply& x) {
  return f(caf::meta::type_name("command_reply"), x.result, x.state, x.exists, x.tag);
}

} // namespace bps

// clang-format off
CAF_BEGIN_TYPE_ID_BLOCK(bps, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(bps, (bps::domain::item))
  CAF_ADD_TYPE_ID(bps, (bps::domain::purchase))
  CAF_ADD_TYPE_ID(bps, (bps::domain::item_command))
  CAF_ADD_TYPE_ID(bps, (bps::purchase_reply))
  CAF_ADD_TYPE_ID(bps, (bps::command_reply))

  /// Decide a purchase: (purchase_atom, purchase, tag) -> purchase_reply.
  CAF_ADD_ATOM(bps, bps::atom, purchase, "purchase")
  /// Apply an item command: (command_atom, item_command, tag) -> command_reply.
  CAF_ADD_ATOM(bps, bps::atom, command, "command")

CAF_END_TYPE_ID_BLOCK(bps)
// clang-format on
