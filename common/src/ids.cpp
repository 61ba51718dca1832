#include "bps/ids.hpp"

#include <cstdint>
#include <random>

#include <fmt/format.h>

namespace bps {

std::string random_id(const char* prefix) {
  thread_local std::mt19937_64 gen{[] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }()};
  return fmt::format("{}-{:016x}{:016x}", prefix, gen(), gen());
}

} // namespace bps
