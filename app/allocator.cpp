#include "allocator.hpp"

#include <cstdlib>

#include <fmt/format.h>

#ifdef BPS_MIMALLOC
#include <mimalloc.h>
#endif

namespace bps::cli {

std::string allocator_in_use() {
#ifdef BPS_MIMALLOC
  // Linked is not enough: the check is that memory from the C library's entry points
  // (calloc here: the compiler cannot see it read uninitialised bytes) is mimalloc's.
  void* probe = std::calloc(1, 64);
  bool ours = mi_is_in_heap_region(probe);
  std::free(probe);
  if (ours)
    return fmt::format("mimalloc {}.{}.{}", mi_version() / 100, mi_version() / 10 % 10,
                       mi_version() % 10);
  return "not mimalloc (linked, but another malloc was preloaded or comes first)";
#else
  return "glibc malloc";
#endif
}

} // namespace bps::cli
