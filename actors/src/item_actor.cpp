#include "bps/actors/item_actor.hpp"

#include <caf/result.hpp>
#include <caf/sec.hpp>

#include "bps/error.hpp"

namespace bps {

item_actor::behavior_type item_actor_impl(item_actor::stateful_pointer<item_state> self,
                                          std::optional<domain::item> initial) {
  self->state.item = std::move(initial);
  return {
    [self](atom::purchase, const domain::purchase& request, uint64_t tag) -> purchase_reply {
      auto decision = domain::decide_purchase(self->state.item, request);
      self->state.item = std::move(decision.state);
      auto& item = self->state.item;
      return {std::move(decision.outcome), item ? *item : domain::item{}, item.has_value(), tag};
    },
    [self](atom::command, const domain::item_command& request, uint64_t tag) -> command_reply {
      auto decision = domain::apply_command(self->state.item, request);
      self->state.item = std::move(decision.state);
      auto& item = self->state.item;
      return {std::move(decision.result), item ? *item : domain::item{}, item.has_value(), tag};
    },
    [self](caf::get_atom) -> caf::result<domain::item> {
      if (!self->state.item)
        return make_error(ec::invalid_argument, "unknown item");
      return *self->state.item;
    },
  };
}

} // namespace bps
