#include "flat_json.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace bps::domain::flat_json {

namespace {

bool digit(char c) {
  return c >= '0' && c <= '9';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace

size_t utf8_sequence(const char* p, const char* end) {
  auto c = static_cast<unsigned char>(*p);
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF)
    n = 1;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 2;
    if (c == 0xE0)
      lo = 0xA0;
    else if (c == 0xED)
      hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 3;
    if (c == 0xF0)
      lo = 0x90;
    else if (c == 0xF4)
      hi = 0x8F;
  } else
    return 0;
  if (static_cast<size_t>(end - p) <= n)
    return 0;
  auto at = [p](size_t i) { return static_cast<unsigned char>(p[i]); };
  if (at(1) < lo || at(1) > hi)
    return 0;
  for (size_t i = 2; i <= n; ++i)
    if (at(i) < 0x80 || at(i) > 0xBF)
      return 0;
  return n + 1;
}

namespace {

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

} // namespace

class parser {
public:
  parser(std::string_view in, object& out)
    : p_(in.data()), end_(in.data() + in.size()), out_(out) {}

  result run() {
    if (end_ - p_ >= 3 && std::string_view(p_, 3) == "\xEF\xBB\xBF")
      p_ += 3;
    space();
    if (p_ == end_)
      return result::invalid;
    bool is_object = *p_ == '{';
    if (!(is_object ? top_object() : any_value()))
      return result::invalid;
    space();
    // nlohmann-json takes a NUL byte for the end of the input.
    if (p_ != end_ && *p_ != '\0')
      return result::invalid;
    return is_object ? result::object : result::not_an_object;
  }

private:
  void space() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r'))
      ++p_;
  }

  bool next_is(char c) {
    space();
    return p_ != end_ && *p_ == c;
  }

  bool word(std::string_view w) {
    if (static_cast<size_t>(end_ - p_) < w.size() || std::string_view(p_, w.size()) != w)
      return false;
    p_ += w.size();
    return true;
  }

  bool hex4(uint32_t& out) {
    if (end_ - p_ < 4)
      return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
      int h = hex_value(*p_++);
      if (h < 0)
        return false;
      out = out * 16 + static_cast<uint32_t>(h);
    }
    return true;
  }

  /// A string at p_ (its opening quote); its unescaped text goes to `text` if given.
  bool string(std::string_view* text) {
    ++p_;
    const char* start = p_;
    std::string* own = nullptr;
    while (p_ != end_) {
      auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        if (text != nullptr)
          *text = own != nullptr ? std::string_view{*own} : std::string_view(start, p_ - start);
        ++p_;
        return true;
      }
      if (c == '\\') {
        if (text != nullptr && own == nullptr)
          own = &out_.unescaped_.emplace_back(start, p_ - start);
        if (++p_ == end_)
          return false;
        char e = *p_++;
        char plain = 0;
        switch (e) {
          case '"': plain = '"'; break;
          case '\\': plain = '\\'; break;
          case '/': plain = '/'; break;
          case 'b': plain = '\b'; break;
          case 'f': plain = '\f'; break;
          case 'n': plain = '\n'; break;
          case 'r': plain = '\r'; break;
          case 't': plain = '\t'; break;
          case 'u': {
            uint32_t cp = 0;
            if (!hex4(cp))
              return false;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              uint32_t low = 0;
              if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u')
                return false;
              p_ += 2;
              if (!hex4(low) || low < 0xDC00 || low > 0xDFFF)
                return false;
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
              return false;
            }
            if (own != nullptr)
              append_utf8(*own, cp);
            continue;
          }
          default: return false;
        }
        if (own != nullptr)
          *own += plain;
        continue;
      }
      if (c < 0x20)
        return false;
      size_t n = c < 0x80 ? 1 : utf8_sequence(p_, end_);
      if (n == 0)
        return false;
      if (own != nullptr)
        own->append(p_, n);
      p_ += n;
    }
    return false;
  }

  /// A number at p_: a whole number within 64 bits, or another finite number.
  bool number(value* v) {
    const char* start = p_;
    if (*p_ == '-')
      ++p_;
    if (p_ == end_)
      return false;
    if (*p_ == '0')
      ++p_;
    else if (*p_ >= '1' && *p_ <= '9')
      while (p_ != end_ && digit(*p_))
        ++p_;
    else
      return false;
    bool whole = true;
    if (p_ != end_ && *p_ == '.') {
      whole = false;
      if (++p_ == end_ || !digit(*p_))
        return false;
      while (p_ != end_ && digit(*p_))
        ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      whole = false;
      if (++p_ != end_ && (*p_ == '+' || *p_ == '-'))
        ++p_;
      if (p_ == end_ || !digit(*p_))
        return false;
      while (p_ != end_ && digit(*p_))
        ++p_;
    }
    int64_t n = 0;
    if (whole && std::from_chars(start, p_, n).ec == std::errc{}) {
      if (v != nullptr) {
        v->type = value::kind::integer;
        v->integer = n;
      }
      return true;
    }
    // Like nlohmann-json: what is no 64-bit whole number is read as a double, and a
    // double that overflows is an error.
    std::string token(start, p_);
    if (!std::isfinite(std::strtod(token.c_str(), nullptr)))
      return false;
    if (v != nullptr)
      v->type = value::kind::number;
    return true;
  }

  /// A member's value in the top-level object: kept if it is no array or object.
  bool member_value(value& v) {
    switch (*p_) {
      case '"': v.type = value::kind::text; return string(&v.text);
      case 't': v.type = value::kind::boolean; return word("true");
      case 'f': v.type = value::kind::boolean; return word("false");
      case 'n': v.type = value::kind::null; return word("null");
      case '{':
      case '[': v.type = value::kind::nested; return any_value();
      default: return (*p_ == '-' || digit(*p_)) && number(&v);
    }
  }

  bool top_object() {
    ++p_;
    if (next_is('}')) {
      ++p_;
      return true;
    }
    while (true) {
      std::string_view name;
      if (!next_is('"') || !string(&name) || !next_is(':'))
        return false;
      ++p_;
      space();
      if (p_ == end_)
        return false;
      value v;
      if (!member_value(v))
        return false;
      out_.members_.emplace_back(name, v);
      space();
      if (p_ == end_)
        return false;
      if (*p_ == '}') {
        ++p_;
        return true;
      }
      if (*p_ != ',')
        return false;
      ++p_;
    }
  }

  /// Any JSON value at p_, checked and skipped; without recursion, so that no depth
  /// of nesting can exhaust the stack.
  bool any_value() {
    std::vector<char> open; // '{' or '[' of every container not closed yet
    while (true) {
      space();
      if (p_ == end_)
        return false;
      char c = *p_;
      if (c == '{' || c == '[') {
        ++p_;
        if (next_is(c == '{' ? '}' : ']')) {
          ++p_;
        } else {
          open.push_back(c);
          if (c == '{' && !key())
            return false;
          continue;
        }
      } else if (c == '"') {
        if (!string(nullptr))
          return false;
      } else if (c == '-' || digit(c)) {
        if (!number(nullptr))
          return false;
      } else if (!word("true") && !word("false") && !word("null")) {
        return false;
      }
      // A value is complete: close what ends here, or go on to the next element.
      while (true) {
        if (open.empty())
          return true;
        space();
        if (p_ == end_)
          return false;
        if (*p_ == ',') {
          ++p_;
          if (open.back() == '{' && !key())
            return false;
          break;
        }
        if (*p_ != (open.back() == '{' ? '}' : ']'))
          return false;
        ++p_;
        open.pop_back();
      }
    }
  }

  /// A member's name and its colon, inside a nested object.
  bool key() {
    if (!next_is('"') || !string(nullptr) || !next_is(':'))
      return false;
    ++p_;
    return true;
  }

  const char* p_;
  const char* end_;
  object& out_;
};

result parse(std::string_view bytes, object& out) {
  return parser{bytes, out}.run();
}

} // namespace bps::domain::flat_json
