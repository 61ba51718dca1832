#pragma once

// A strict JSON reader for bps' records, which are flat objects: it checks the whole
// text as nlohmann-json 3.11 does (RFC 8259: UTF-8 checked, escapes and surrogate
// pairs, no comments, numbers that overflow a double refused, a byte order mark
// skipped, a NUL byte after the value ending the input) and keeps the top-level
// object's members (texts unescaped, whole numbers) without building a DOM. Nested
// arrays and objects are checked but not kept. Internal to codec.cpp; the unit and
// fuzz tests compare every decoder with nlohmann-json's.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bps::domain::flat_json {

struct value {
  enum class kind : uint8_t { null, boolean, text, integer, number, nested };
  kind type = kind::null;
  /// A text, unescaped (pointing into the input, or into the object's own store).
  std::string_view text;
  /// A whole number within 64 bits (kind::integer); other numbers are kind::number.
  int64_t integer = 0;
};

class object {
public:
  /// The member's value; the last one when a name is given twice (as nlohmann-json).
  const value* find(std::string_view name) const noexcept {
    for (auto i = members_.rbegin(); i != members_.rend(); ++i)
      if (i->first == name)
        return &i->second;
    return nullptr;
  }

private:
  friend class parser;
  std::vector<std::pair<std::string_view, value>> members_;
  std::deque<std::string> unescaped_; // a deque: its strings never move
};

/// The length of the well-formed multi-byte UTF-8 sequence at `p` (RFC 3629: no
/// overlong forms, no surrogates, nothing above U+10FFFF), 0 if there is none.
size_t utf8_sequence(const char* p, const char* end);

enum class result { object, not_an_object, invalid };

/// Reads `bytes`; fills `out` when they are a JSON object. `out` points into `bytes`.
result parse(std::string_view bytes, object& out);

} // namespace bps::domain::flat_json
