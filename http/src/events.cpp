#include "bps/http/events.hpp"

#include <algorithm>
#include <variant>

#include "bps/actors/gateway.hpp"
#include "bps/http/api.hpp"

namespace bps::http {

std::vector<stream_event> events_of(const gateway::outcome_event& e) {
  std::vector<stream_event> out;
  bool changed = false;
  if (const auto* p = std::get_if<domain::purchase>(&e.outcome)) {
    out.push_back({"purchase", to_json(*p)});
    changed = p->status == domain::purchase_status::successful;
  } else {
    changed = std::get<domain::item_command>(e.outcome).status == domain::command_status::applied;
  }
  if (changed && e.item)
    out.push_back({"item", to_json(*e.item)});
  return out;
}

void event_hub::add(std::shared_ptr<event_sink> sink, std::string prefix) {
  std::lock_guard<std::mutex> guard{mutex_};
  // Streams closed while nothing was published are forgotten here.
  std::erase_if(subscribers_, [](const subscriber& s) { return !s.sink->open(); });
  subscribers_.push_back({std::move(sink), std::move(prefix)});
}

void event_hub::publish(const gateway::outcome_event& e) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (subscribers_.empty())
    return;
  const auto& item_id
    = std::visit([](const auto& x) -> const std::string& { return x.item_id; }, e.outcome);
  std::vector<stream_event> events; // encoded once, for the first stream that wants them
  bool encoded = false;
  std::erase_if(subscribers_, [&](const subscriber& s) {
    if (!s.sink->open())
      return true;
    if (!item_id.starts_with(s.prefix))
      return false;
    if (!encoded) {
      events = events_of(e);
      encoded = true;
    }
    for (const auto& ev : events) {
      if (!s.sink->send(ev.name, ev.data))
        return true;
      ++sent_;
    }
    return false;
  });
}

size_t event_hub::size() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return static_cast<size_t>(std::count_if(subscribers_.begin(), subscribers_.end(),
                                           [](const subscriber& s) { return s.sink->open(); }));
}

} // namespace bps::http
