#pragma once

// GET /events: the committed outcomes pushed to clients as Server-Sent Events. The
// gateway announces each outcome its view takes in; the hub sends it to every open
// stream that wants it. No Beast, no CAF.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bps/http/server.hpp"

namespace bps::gateway {
struct outcome_event;
} // namespace bps::gateway

namespace bps::http {

/// The events of one outcome, as a stream sends them: `purchase` (the decided
/// purchase, as GET /purchases/{id} answers it) and `item` (the item after a sale or
/// an applied command, as GET /items/{id} answers it). A rejected command changes
/// nothing and has no event.
struct stream_event {
  std::string name;
  std::string data;
};
std::vector<stream_event> events_of(const gateway::outcome_event& e);

class event_hub {
public:
  /// Adds a stream; it gets the events of items whose itemId starts with `prefix`.
  void add(std::shared_ptr<event_sink> sink, std::string prefix);
  /// Sends the events of `e` to every stream that wants them; forgets closed ones.
  void publish(const gateway::outcome_event& e);
  /// Streams open now.
  size_t size() const;
  /// Events sent to some stream.
  uint64_t sent() const noexcept {
    return sent_.load();
  }

private:
  struct subscriber {
    std::shared_ptr<event_sink> sink;
    std::string prefix;
  };
  mutable std::mutex mutex_;
  std::vector<subscriber> subscribers_;
  std::atomic<uint64_t> sent_{0};
};

} // namespace bps::http
