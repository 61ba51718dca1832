// A deliberate data race, for the ThreadSanitizer build only: tests/tsan/check runs it
// first and fails unless TSan reports it. It proves that the TSan build (with the
// shims in this folder, which tell TSan about CAF's mailbox) still sees a race
// between an actor's handler and another thread that shares data without a message.

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

namespace {

int shared_counter = 0; // written by the actor and by main, unsynchronized on purpose

caf::behavior counter(caf::event_based_actor*) {
  return {[](int n) { shared_counter += n; }};
}

} // namespace

int main() {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto a = sys.spawn(counter);
  for (int i = 0; i < 1000; ++i) {
    caf::anon_send(a, 1);
    shared_counter += 1; // the race: no message orders this against the handler
  }
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  return 0;
}
