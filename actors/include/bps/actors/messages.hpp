#pragma once

// Everything that crosses an actor boundary: CAF's view of the domain types
// (inspect overloads), the atoms, and the type-id block. The domain header itself
// stays free of CAF.

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>

#include "bps/actors/domain.hpp"

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

} // namespace bps::domain

CAF_BEGIN_TYPE_ID_BLOCK(bps, caf::first_custom_type_id)

CAF_ADD_TYPE_ID(bps, (bps::domain::item))
CAF_ADD_TYPE_ID(bps, (bps::domain::purchase))

/// Decide a purchase: (purchase_atom, purchase) -> purchase outcome.
CAF_ADD_ATOM(bps, bps::atom, purchase, "purchase")

CAF_END_TYPE_ID_BLOCK(bps)
