#include <unordered_map>
#include <unordered_set>

#include "bps/actors/state_store.hpp"

namespace bps {

namespace {

class memory_store : public state_store {
public:
  caf::expected<std::optional<domain::item>> item(const std::string& item_id) override {
    auto it = items_.find(item_id);
    if (it == items_.end())
      return std::optional<domain::item>{};
    return std::optional<domain::item>{it->second};
  }

  caf::expected<std::optional<domain::purchase>>
  purchase_outcome(const std::string& purchase_id) override {
    auto it = purchases_.find(purchase_id);
    if (it == purchases_.end())
      return std::optional<domain::purchase>{};
    return std::optional<domain::purchase>{it->second};
  }

  caf::expected<bool> command_decided(const std::string& command_id) override {
    return commands_.count(command_id) > 0;
  }

  caf::expected<store_positions> positions() override {
    return positions_;
  }

  caf::expected<std::optional<std::string>> meta(const std::string& key) override {
    auto it = meta_.find(key);
    if (it == meta_.end())
      return std::optional<std::string>{};
    return std::optional<std::string>{it->second};
  }

  caf::error apply(const state_batch& batch) override {
    for (const auto& x : batch.items) {
      auto& slot = items_[x.item_id];
      if (x.version >= slot.version)
        slot = x;
    }
    for (const auto& p : batch.purchases)
      purchases_.insert_or_assign(p.purchase_id, p); // like the RocksDB store: the last wins
    for (const auto& c : batch.commands)
      commands_.insert(c.command_id);
    if (batch.positions)
      positions_ = *batch.positions;
    for (const auto& [key, value] : batch.meta)
      meta_[key] = value;
    return {};
  }

  void for_each(const std::function<void(const domain::item&)>& on_item,
                const std::function<void(const domain::purchase&)>& on_purchase) override {
    for (const auto& [id, x] : items_)
      on_item(x);
    for (const auto& [id, p] : purchases_)
      on_purchase(p);
  }

private:
  std::unordered_map<std::string, domain::item> items_;
  std::unordered_map<std::string, domain::purchase> purchases_;
  std::unordered_set<std::string> commands_;
  store_positions positions_;
  std::unordered_map<std::string, std::string> meta_;
};

} // namespace

std::unique_ptr<state_store> make_memory_store() {
  return std::make_unique<memory_store>();
}

} // namespace bps
