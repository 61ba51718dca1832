// Linked into every binary of the ThreadSanitizer build (-DBPS_SANITIZE=thread) only.
//
// librdkafka (Debian's 2.0.2) starts its threads with C11 thrd_create and locks with
// mtx_* / cnd_* / call_once. glibc implements these with its internal pthread calls,
// which TSan (GCC 12's libtsan, and LLVM 14's) does not intercept: a librdkafka thread
// is unknown to TSan, and the first malloc in it crashes inside TSan's allocator
// (SIGSEGV in SizeClassAllocator64LocalCache::Allocate, called from getaddrinfo on
// the thread "rdk:broker-1"). These definitions take precedence over glibc's for
// librdkafka and forward to the pthread functions, which TSan intercepts: its threads
// and its locks are then seen like any other. glibc's C11 types wrap the pthread ones
// (mtx_t is a pthread_mutex_t, cnd_t a pthread_cond_t, thrd_t a pthread_t).

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <new>

#include <pthread.h>
#include <threads.h>

namespace {

int result(int pthread_rc) {
  switch (pthread_rc) {
    case 0: return thrd_success;
    case EBUSY: return thrd_busy;
    case ETIMEDOUT: return thrd_timedout;
    case ENOMEM: return thrd_nomem;
    default: return thrd_error;
  }
}

struct start {
  thrd_start_t func;
  void* arg;
};

void* trampoline(void* p) {
  auto s = *static_cast<start*>(p);
  delete static_cast<start*>(p);
  return reinterpret_cast<void*>(static_cast<intptr_t>(s.func(s.arg)));
}

pthread_mutex_t* native(mtx_t* m) {
  return reinterpret_cast<pthread_mutex_t*>(m);
}

pthread_cond_t* native(cnd_t* c) {
  return reinterpret_cast<pthread_cond_t*>(c);
}

static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t));
static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t));
static_assert(sizeof(thrd_t) == sizeof(pthread_t));
static_assert(sizeof(once_flag) == sizeof(pthread_once_t));

} // namespace

extern "C" {

int thrd_create(thrd_t* thr, thrd_start_t func, void* arg) {
  auto* s = new (std::nothrow) start{func, arg};
  if (s == nullptr)
    return thrd_nomem;
  int rc = pthread_create(thr, nullptr, trampoline, s);
  if (rc != 0)
    delete s;
  return result(rc);
}

int thrd_join(thrd_t thr, int* res) {
  void* value = nullptr;
  int rc = pthread_join(thr, &value);
  if (rc == 0 && res != nullptr)
    *res = static_cast<int>(reinterpret_cast<intptr_t>(value));
  return result(rc);
}

int thrd_detach(thrd_t thr) {
  return result(pthread_detach(thr));
}

int mtx_init(mtx_t* m, int type) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  if ((type & mtx_recursive) != 0)
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  int rc = pthread_mutex_init(native(m), &attr);
  pthread_mutexattr_destroy(&attr);
  return result(rc);
}

int mtx_lock(mtx_t* m) {
  return result(pthread_mutex_lock(native(m)));
}

int mtx_trylock(mtx_t* m) {
  return result(pthread_mutex_trylock(native(m)));
}

int mtx_timedlock(mtx_t* m, const struct timespec* until) {
  return result(pthread_mutex_timedlock(native(m), until));
}

int mtx_unlock(mtx_t* m) {
  return result(pthread_mutex_unlock(native(m)));
}

void mtx_destroy(mtx_t* m) {
  pthread_mutex_destroy(native(m));
}

int cnd_init(cnd_t* c) {
  return result(pthread_cond_init(native(c), nullptr));
}

int cnd_signal(cnd_t* c) {
  return result(pthread_cond_signal(native(c)));
}

int cnd_broadcast(cnd_t* c) {
  return result(pthread_cond_broadcast(native(c)));
}

int cnd_wait(cnd_t* c, mtx_t* m) {
  return result(pthread_cond_wait(native(c), native(m)));
}

int cnd_timedwait(cnd_t* c, mtx_t* m, const struct timespec* until) {
  return result(pthread_cond_timedwait(native(c), native(m), until));
}

void cnd_destroy(cnd_t* c) {
  pthread_cond_destroy(native(c));
}

void call_once(once_flag* flag, void (*func)(void)) {
  pthread_once(reinterpret_cast<pthread_once_t*>(flag), func);
}

} // extern "C"
