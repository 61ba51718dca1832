#include "bps/actors/faults.hpp"

#include <charconv>
#include <utility>

namespace bps {

namespace {

struct fault_name {
  std::string_view name;
  uint32_t fault_plan::*field;
};

constexpr fault_name names[] = {
  {"pause-before-commit", &fault_plan::pause_before_commit},
  {"store-fail", &fault_plan::store_fail},
  {"read-fail", &fault_plan::read_fail},
  {"offsets-fail", &fault_plan::offsets_fail},
  {"commit-unknown", &fault_plan::commit_unknown},
  {"catch-up-slow", &fault_plan::catch_up_slow},
};

} // namespace

std::optional<std::string> add_fault(fault_plan& plan, std::string_view spec) {
  auto eq = spec.find('=');
  auto name = spec.substr(0, eq);
  for (const auto& n : names) {
    if (n.name != name)
      continue;
    uint32_t value = 0;
    auto text = eq == std::string_view::npos ? std::string_view{} : spec.substr(eq + 1);
    auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || err != std::errc{} || end != text.data() + text.size() || value == 0)
      return "fault \"" + std::string{spec} + "\": N in " + std::string{name}
             + "=N must be a whole number from 1";
    plan.*n.field = value;
    return std::nullopt;
  }
  std::string known;
  for (const auto& n : names)
    known += (known.empty() ? "" : ", ") + std::string{n.name};
  return "unknown fault \"" + std::string{name} + "\" (known: " + known + ")";
}

std::string to_string(const fault_plan& plan) {
  std::string out;
  for (const auto& n : names)
    if (auto v = plan.*n.field; v > 0)
      out += (out.empty() ? "" : " ") + std::string{n.name} + "=" + std::to_string(v);
  return out;
}

} // namespace bps
