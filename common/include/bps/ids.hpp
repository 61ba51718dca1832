#pragma once

#include <string>

namespace bps {

/// A fresh random id, "<prefix>-" and 32 hex digits (128 bits): for a purchase or
/// command a client did not name. Thread-safe.
std::string random_id(const char* prefix);

} // namespace bps
