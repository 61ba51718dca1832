#pragma once

// The item actors a processing lane keeps alive: one per item, found by itemId,
// remembered with its partition and when it was last used. It decides which ones to
// passivate (idle too long, or the least recently used beyond a bound) and hands
// their handles back; the caller stops them. No CAF: the handle type is a parameter
// and the time is given, so that the rules are tested with plain values.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace bps {

template <class Handle, class Clock = std::chrono::steady_clock>
class item_registry {
public:
  using time_point = typename Clock::time_point;
  using duration = typename Clock::duration;

  /// The live handle of `item_id`, now marked as used at `now`; null if it has none.
  const Handle* use(const std::string& item_id, time_point now) {
    auto it = live_.find(item_id);
    if (it == live_.end())
      return nullptr;
    it->second.last_used = now;
    return &it->second.handle;
  }

  /// Adds the handle of an item that had none, used at `now`.
  void add(const std::string& item_id, int32_t partition, Handle handle, time_point now) {
    live_.insert_or_assign(item_id, entry{partition, std::move(handle), now});
  }

  /// Takes out what is to be passivated: with `sweep_idle`, every handle not used since
  /// `now - idle`; then, while more than `max_live` remain, the least recently used,
  /// down to 90% of `max_live` (so that this does not run again at the next call).
  std::vector<Handle> passivate(time_point now, duration idle, size_t max_live, bool sweep_idle) {
    std::vector<Handle> out;
    if (sweep_idle) {
      auto idle_since = now - idle;
      for (auto it = live_.begin(); it != live_.end();) {
        if (it->second.last_used < idle_since) {
          out.push_back(std::move(it->second.handle));
          it = live_.erase(it);
        } else {
          ++it;
        }
      }
    }
    if (live_.size() > max_live) {
      auto target = max_live - max_live / 10;
      std::vector<std::pair<time_point, const std::string*>> by_age;
      by_age.reserve(live_.size());
      for (const auto& [id, e] : live_)
        by_age.emplace_back(e.last_used, &id);
      auto excess = live_.size() - target;
      std::nth_element(by_age.begin(), by_age.begin() + static_cast<std::ptrdiff_t>(excess),
                       by_age.end());
      std::vector<std::string> oldest;
      oldest.reserve(excess);
      for (size_t i = 0; i < excess; ++i)
        oldest.push_back(*by_age[i].second);
      for (const auto& id : oldest) {
        auto it = live_.find(id);
        out.push_back(std::move(it->second.handle));
        live_.erase(it);
      }
    }
    return out;
  }

  /// Takes out the handles of `partition`'s items, or of every item.
  std::vector<Handle> remove(std::optional<int32_t> partition) {
    std::vector<Handle> out;
    for (auto it = live_.begin(); it != live_.end();) {
      if (!partition || it->second.partition == *partition) {
        out.push_back(std::move(it->second.handle));
        it = live_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  size_t size() const noexcept {
    return live_.size();
  }

  bool empty() const noexcept {
    return live_.empty();
  }

private:
  struct entry {
    int32_t partition = 0;
    Handle handle;
    time_point last_used;
  };
  std::unordered_map<std::string, entry> live_;
};

} // namespace bps
