#pragma once

#include <optional>

#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "bps/actors/messages.hpp"

namespace bps {

/// The single writer of one item. Messages arrive in one total order and are
/// decided one after the other, so two buyers racing for the last unit cannot both
/// get it. Its state may be ahead of what Kafka committed; the processor stops it
/// and spawns a fresh one from committed state when a transaction aborts.
/// A request's tag (any number) comes back in its reply.
using item_actor = caf::typed_actor<
  /// Decides a CREATED purchase of this item; replies with its outcome and the item after it.
  caf::replies_to<atom::purchase, domain::purchase, uint64_t>::with<purchase_reply>,
  /// Applies a REQUESTED command to this item; replies with its result and the item after it.
  caf::replies_to<atom::command, domain::item_command, uint64_t>::with<command_reply>,
  /// The item's current state; an error if the item does not exist.
  caf::replies_to<caf::get_atom>::with<domain::item>>;

/// State of an item actor: the item, or nothing if it does not exist yet.
struct item_state {
  std::optional<domain::item> item;
  static inline const char* name = "bps.item";
};

/// The behavior of an item actor starting from `initial`.
item_actor::behavior_type item_actor_impl(item_actor::stateful_pointer<item_state> self,
                                          std::optional<domain::item> initial);

} // namespace bps
