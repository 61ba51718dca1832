#pragma once

#include <string>

namespace bps::cli {

/// Which allocator this process's malloc is, checked on a live allocation: e.g.
/// "mimalloc 2.0.9", or "glibc malloc" (built without mimalloc, or under sanitizers);
/// "not mimalloc ..." when another malloc was preloaded.
std::string allocator_in_use();

} // namespace bps::cli
