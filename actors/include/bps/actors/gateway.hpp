#pragma once

// The gateway: what the HTTP edge talks to. It writes requests (CREATED purchases,
// REQUESTED item commands) to Kafka with its own idempotent producer, and keeps a
// committed view of the items, purchases, commands and idempotency-keys topics
// (read_committed) to answer reads, to tell waiting clients the committed outcome,
// whichever node decided it, and to know the first claim of every keyed id. Items
// are kept in memory; purchases and commands (the idempotency window) and claims
// (forever) in a RocksDB store (gateway_store.hpp). Inside, one actor owns the view
// and the waiters; every call below crosses to it as a typed message with a
// deadline. No CAF or HTTP in this header.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <caf/expected.hpp>

#include "bps/actors/domain.hpp"
#include "bps/kafka/types.hpp"

namespace caf {
class actor_system;
class actor_system_config;
} // namespace caf

namespace bps::gateway {

using std::chrono::milliseconds;

/// An outcome the view took in for the first time (a purchase decided, an item
/// command applied or rejected), with the item as the view has it after it (none if
/// the view does not know the item).
struct outcome_event {
  std::variant<domain::purchase, domain::item_command> outcome;
  std::optional<domain::item> item;
};

struct config {
  std::string bootstrap;
  std::string topic_prefix;
  /// Written into each claim (who claimed).
  std::string node_id = "node";
  /// How long the view keeps purchases and commands without a claim. Claims, and
  /// the requests and outcomes of claimed ids, are kept forever.
  milliseconds remember{std::chrono::hours{24}};
  /// How long a write to Kafka may take before it is reported as failed; also how
  /// long a keyed request waits for its claim to be read back.
  milliseconds write_timeout{10000};
  /// Where the view's store lives: `DIR/<prefix>gateway` under this directory (kept
  /// across restarts, which then read only what is new); empty: a private temporary
  /// directory, removed at stop.
  std::string state_dir;
  /// A new write for an item whose partition has a request this gateway wrote that
  /// is undecided for longer than this is refused (answer::overloaded) at once;
  /// 0: never.
  milliseconds max_decision_lag{1000};
  /// While messages wait longer than this in the gateway actor's mailbox (measured
  /// by a heartbeat every 100 ms), admit() refuses new writes at once; 0: never.
  milliseconds max_queue_delay{200};
  kafka::properties extra;
  /// Called on the gateway's actor for each outcome_event (also for those read while
  /// catching up at start); must not block. Empty: nobody listens.
  std::function<void(const outcome_event&)> on_outcome;
};

/// How a call ended.
enum class answer {
  /// Decided (purchase), decided (command), or found (read).
  done,
  /// Written to Kafka, not decided within the wait.
  pending,
  /// Nothing with this id is known.
  not_found,
  /// The id is taken by a different request (an idempotency key reused for
  /// another request): the message names the first one.
  conflict,
  /// Kafka could not take the write, the claim was not read back in time, or the
  /// view's store failed: retry later with the same key.
  unavailable,
  /// Not written: the item's partition is behind (see config::max_decision_lag).
  overloaded,
};

struct purchase_answer {
  answer status = answer::done;
  domain::purchase record;
  std::string message;
};

struct command_answer {
  answer status = answer::done;
  domain::item_command record;
  /// The item after an applied command, as far as the view knows it.
  std::optional<domain::item> item;
  std::string message;
};

struct item_answer {
  answer status = answer::done;
  domain::item item;
};

struct page_answer {
  std::vector<domain::item> items;
  /// The itemId to pass as `after` for the next page; empty on the last page.
  std::string next;
  /// The itemId to pass as `before` for the page before; empty on the first page.
  std::string prev;
};

/// Which page of items: those whose itemId starts with `prefix` (all if empty), after
/// `after`, or before `before` (the last ones before it), or between the two (the
/// first ones after `after`); neither: from the first.
struct page_request {
  std::string after;
  std::string before;
  std::string prefix;
  size_t limit = 100;
};

/// Counters of the gateway, readable from any thread.
struct stats {
  /// The view has read every partition to the end it had when the gateway started.
  std::atomic<bool> view_ready{false};
  /// The last check that Kafka answers succeeded (checked every 2 s).
  std::atomic<bool> kafka_reachable{false};
  std::atomic<uint64_t> writes{0};
  std::atomic<uint64_t> write_failures{0};
  /// Records the view took in, by kind: item snapshots, purchases (requests from the
  /// request topic, outcomes from `purchases`), item commands likewise, claims.
  std::atomic<uint64_t> view_items{0};
  std::atomic<uint64_t> view_purchases{0};
  std::atomic<uint64_t> view_commands{0};
  std::atomic<uint64_t> view_claims{0};
  std::atomic<uint64_t> items{0};
  std::atomic<uint64_t> purchases_successful{0};
  std::atomic<uint64_t> purchases_failed{0};
  std::atomic<uint64_t> waiting{0};
  /// Claims written, keyed requests refused because their id was claimed first for
  /// another request, writes refused because their partition is behind.
  std::atomic<uint64_t> claims_written{0};
  std::atomic<uint64_t> claim_conflicts{0};
  std::atomic<uint64_t> shed{0};
  /// Requests written by this gateway and not decided yet.
  std::atomic<uint64_t> undecided{0};
  /// Records pruned from the store (older than the window, not claimed).
  std::atomic<uint64_t> pruned{0};
  /// What the view's store holds in memory (RocksDB memtables, cache, table readers).
  std::atomic<uint64_t> store_memory_bytes{0};
  /// How long the last heartbeat waited in the gateway actor's mailbox (ms).
  std::atomic<int64_t> queue_delay_ms{0};
  /// Set once the view's store failed: nothing is answered from it any more.
  std::atomic<bool> store_failed{false};
};

template <class T>
using callback = std::function<void(T)>;

class gateway {
public:
  /// Registers the gateway's message types; call before the actor system starts.
  static void add_message_types(caf::actor_system_config& cfg);

  /// Starts the actor, the producer and the view reader. `sys` must outlive the
  /// gateway.
  static caf::expected<std::unique_ptr<gateway>> start(caf::actor_system& sys, const config& cfg);
  /// Stops (see stop()) if not stopped yet. If something could not be stopped,
  /// what it uses is left allocated on purpose: freeing it would be a use after
  /// free.
  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  /// Appends `p` (status CREATED, its purchaseId set by the caller) unless a
  /// purchase with this id exists: then `done` gets that one, or `conflict` if
  /// it is a different request. Answers once the CREATED is durable, or once
  /// decided if `wait` > 0 and the outcome comes within it. `keyed`: the id was not
  /// drawn at random (an Idempotency-Key): it is claimed first, and the first
  /// claim of the id decides whether this request is the one it stands for
  /// (otherwise `conflict`, naming that request).
  void submit_purchase(domain::purchase p, bool keyed, milliseconds wait,
                       callback<purchase_answer> done);
  void get_purchase(std::string purchase_id, milliseconds wait, callback<purchase_answer> done);
  /// The same for item commands (status REQUESTED).
  void submit_command(domain::item_command c, bool keyed, milliseconds wait,
                      callback<command_answer> done);
  void get_item(std::string item_id, callback<item_answer> done);
  /// Items ordered by itemId: a page of those that `page` asks for (see page_of).
  void list_items(page_request page, callback<page_answer> done);

  const stats& counters() const noexcept;

  /// Whether a new write may be sent to the gateway now: the reason to refuse it
  /// (503 overloaded, at once, before it waits in the queue), if not.
  std::optional<std::string> admit() const;

  /// Begins the stop: every client waiting for a decision gets its answer within
  /// `bound` from now (the committed outcome if it comes by then, else `pending`),
  /// and so does every wait that starts later.
  void drain(milliseconds bound);

  /// Stops, all within `bound`: the actor answers whoever still waits (`pending`;
  /// `unavailable` for a write Kafka has not confirmed) and quits, and is waited
  /// for; then the view reader and the producer's delivery thread end, closing
  /// their Kafka clients (the producer flushes what it holds for what is left of
  /// `bound`, then drops the rest). True if all of that ended in time; false if
  /// something is still running (the log says what). Idempotent.
  bool stop(milliseconds bound);

  struct impl;

private:
  explicit gateway(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// The view's item after a committed outcome, which carries the item's version and
/// quantity after it (and, for an insert or a new description, the description);
/// nothing if the view has that version or a newer one already, or cannot tell.
std::optional<domain::item> view_after(const std::optional<domain::item>& current,
                                       const domain::item_command& applied);
std::optional<domain::item> view_after(const std::optional<domain::item>& current,
                                       const domain::purchase& sold);

/// The item as an outcome left it: its version and quantity after it, the description
/// from the outcome (an insert, a new description) or else from `current`, whatever
/// the view holds by now; nothing if the outcome changed nothing (FAILED, REJECTED) or
/// the item is not known.
std::optional<domain::item> item_left_by(const std::optional<domain::item>& current,
                                         const domain::item_command& applied);
std::optional<domain::item> item_left_by(const std::optional<domain::item>& current,
                                         const domain::purchase& sold);

/// A page of `items` (ordered by itemId): up to `r.limit` of those starting with
/// `r.prefix`, the first ones after `r.after` (and before `r.before` if given too), or
/// the last ones before `r.before`, in itemId order either way, with the cursors to
/// the pages on each side (`next`: items with the prefix follow the page, whether
/// before `r.before` or not; `prev`: some precede it).
page_answer page_of(const std::map<std::string, domain::item>& items, const page_request& r);

} // namespace bps::gateway
