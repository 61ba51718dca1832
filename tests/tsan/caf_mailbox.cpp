// Linked into every binary of the ThreadSanitizer build (-DBPS_SANITIZE=thread) only.
//
// CAF 0.17.6 (Debian's libcaf_core, built without TSan) hands a message from the
// sending thread to the receiving actor through its lock-free mailbox, and an actor
// from one worker thread to the next through its scheduler's queues: atomics inside
// libcaf_core that TSan cannot see. Without help, TSan reports every message's
// contents (written by the sender, read by the receiver) as a data race: 162 such
// reports in one integration test, all of this form.
//
// These definitions take precedence over libcaf_core's (this library comes before
// it in every binary's search order) and tell TSan about exactly those hand-overs,
// then call CAF's own function:
// - a message: released when enqueued, acquired when its actor takes it
//   (scheduled_actor::enqueue / reactivate, per mailbox element);
// - a blocking actor (scoped_actor, the processor's loop): released by each enqueue,
//   acquired when a receive starts (blocking_actor::enqueue / receive_impl);
// - an actor moving between worker threads: released when launched (spawn) and when
//   a resume ends, acquired when resumed (scheduled_actor::launch, resume and its
//   thunk for resumable*).
// They add no ordering that CAF does not already guarantee; any other access to
// shared data from two threads is still reported.

#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);

namespace {

template <class F>
F original(const char* mangled) {
  auto f = reinterpret_cast<F>(dlsym(RTLD_NEXT, mangled));
  if (f == nullptr) {
    std::fprintf(stderr, "tsan shim: %s not found in libcaf_core\n", mangled);
    std::abort();
  }
  return f;
}

// The ABI of the member functions: `this` first; a std::unique_ptr argument (not
// trivially copyable) is passed as a pointer to the caller's object, whose first
// word is the pointer it holds (caf::detail::disposer is empty).
using enqueue_fn = void (*)(void* self, void* element_ptr, void* unit);
using reactivate_fn = int (*)(void* self, void* element);
using launch_fn = void (*)(void* self, void* unit, bool lazy, bool hide);
using resume_fn = int (*)(void* self, void* unit, std::size_t max_throughput);
using receive_fn = void (*)(void* self, void* cond, std::uint64_t mid, void* behavior);

#define SCHEDULED_ENQUEUE                                                                          \
  "_ZN3caf15scheduled_actor7enqueueESt10unique_ptrINS_15mailbox_elementENS_6detail8disposerEEPNS_" \
  "14execution_unitE"
#define SCHEDULED_REACTIVATE "_ZN3caf15scheduled_actor10reactivateERNS_15mailbox_elementE"
#define SCHEDULED_LAUNCH "_ZN3caf15scheduled_actor6launchEPNS_14execution_unitEbb"
#define SCHEDULED_RESUME "_ZN3caf15scheduled_actor6resumeEPNS_14execution_unitEm"
#define SCHEDULED_RESUME_THUNK "_ZThn160_N3caf15scheduled_actor6resumeEPNS_14execution_unitEm"
#define BLOCKING_ENQUEUE                                                                           \
  "_ZN3caf14blocking_actor7enqueueESt10unique_ptrINS_15mailbox_elementENS_6detail8disposerEEPNS_"  \
  "14execution_unitE"
#define BLOCKING_RECEIVE                                                                           \
  "_ZN3caf14blocking_actor12receive_implERNS0_12receive_condENS_10message_idERNS_"                 \
  "6detail17blocking_"                                                                             \
  "behaviorE"

void* held(void* unique_ptr) {
  return *static_cast<void**>(unique_ptr);
}

} // namespace

extern "C" {

void bps_tsan_scheduled_enqueue(void* self, void* ptr, void* unit) __asm__(SCHEDULED_ENQUEUE);
void bps_tsan_scheduled_enqueue(void* self, void* ptr, void* unit) {
  static auto next = original<enqueue_fn>(SCHEDULED_ENQUEUE);
  if (void* element = held(ptr))
    __tsan_release(element);
  next(self, ptr, unit);
}

int bps_tsan_reactivate(void* self, void* element) __asm__(SCHEDULED_REACTIVATE);
int bps_tsan_reactivate(void* self, void* element) {
  static auto next = original<reactivate_fn>(SCHEDULED_REACTIVATE);
  __tsan_acquire(element);
  return next(self, element);
}

void bps_tsan_launch(void* self, void* unit, bool lazy, bool hide) __asm__(SCHEDULED_LAUNCH);
void bps_tsan_launch(void* self, void* unit, bool lazy, bool hide) {
  static auto next = original<launch_fn>(SCHEDULED_LAUNCH);
  __tsan_release(self); // what the spawning thread set up, for the first resume
  next(self, unit, lazy, hide);
}

int bps_tsan_resume(void* self, void* unit, std::size_t n) __asm__(SCHEDULED_RESUME);
int bps_tsan_resume(void* self, void* unit, std::size_t n) {
  static auto next = original<resume_fn>(SCHEDULED_RESUME);
  __tsan_acquire(self);
  int result = next(self, unit, n);
  __tsan_release(self);
  return result;
}

int bps_tsan_resume_thunk(void* self, void* unit, std::size_t n) __asm__(SCHEDULED_RESUME_THUNK);
int bps_tsan_resume_thunk(void* self, void* unit, std::size_t n) {
  static auto next = original<resume_fn>(SCHEDULED_RESUME_THUNK);
  // The thunk's `this` is the resumable base, 160 bytes into the actor (its name
  // says so); the same address as a direct resume.
  void* actor = static_cast<char*>(self) - 160;
  __tsan_acquire(actor);
  int result = next(self, unit, n);
  __tsan_release(actor);
  return result;
}

void bps_tsan_blocking_enqueue(void* self, void* ptr, void* unit) __asm__(BLOCKING_ENQUEUE);
void bps_tsan_blocking_enqueue(void* self, void* ptr, void* unit) {
  static auto next = original<enqueue_fn>(BLOCKING_ENQUEUE);
  __tsan_release(self);
  next(self, ptr, unit);
}

void bps_tsan_receive(void* self, void* cond, std::uint64_t mid,
                      void* bhvr) __asm__(BLOCKING_RECEIVE);
void bps_tsan_receive(void* self, void* cond, std::uint64_t mid, void* bhvr) {
  static auto next = original<receive_fn>(BLOCKING_RECEIVE);
  __tsan_acquire(self);
  next(self, cond, mid, bhvr);
}

} // extern "C"
