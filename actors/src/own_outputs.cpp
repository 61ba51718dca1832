#include "bps/actors/own_outputs.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace bps::own_outputs {

std::optional<std::string> foreign_records(std::string_view where,
                                           const std::vector<int64_t>& offsets,
                                           const expectation& expected) {
  if (offsets.empty())
    return std::nullopt;
  auto first = expected.first_allowed();
  auto [low, high] = std::minmax_element(offsets.begin(), offsets.end());
  if (*low > first)
    return fmt::format("{} holds {} offset(s) before this node's first record at {} that this "
                       "node did not write (expected at {}{})",
                       where, *low - first, *low, first,
                       expected.after_own_marker ? ", after its previous transaction's marker"
                                                 : ", after the caught-up log");
  if (auto span = *high - *low + 1; span != static_cast<int64_t>(offsets.size()))
    return fmt::format("{} holds {} record(s) this node did not write among its own (offsets {} "
                       "to {})",
                       where, span - static_cast<int64_t>(offsets.size()), *low, *high);
  return std::nullopt;
}

std::optional<int64_t> next_after_commit(const std::vector<int64_t>& offsets) {
  if (offsets.empty())
    return std::nullopt;
  return *std::max_element(offsets.begin(), offsets.end()) + 2;
}

} // namespace bps::own_outputs
