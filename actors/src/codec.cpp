#include "bps/actors/codec.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <variant>

#include <nlohmann/json.hpp>

#include "flat_json.hpp"

namespace bps::domain {

namespace {

using json = nlohmann::json;

constexpr size_t max_text = 2048;

std::string dump(const json& j) {
  // replace: a description with invalid UTF-8 must not make encoding throw.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// One member of a record's object as the reader sees it.
struct member {
  enum class kind { absent, text, integer, other }; // absent: missing or null
  kind type = kind::absent;
  std::string_view text;
  int64_t integer = 0;
};

/// Where a reader finds the members: the flat reader (flat_json.hpp) or, as the
/// reference the tests compare with, nlohmann-json's DOM.
class source {
public:
  virtual ~source() = default;
  virtual member get(const char* name) const = 0;
};

class flat_source final : public source {
public:
  explicit flat_source(const flat_json::object& o) : o_(o) {}
  member get(const char* name) const override {
    const auto* v = o_.find(name);
    if (v == nullptr || v->type == flat_json::value::kind::null)
      return {};
    switch (v->type) {
      case flat_json::value::kind::text: return {member::kind::text, v->text, 0};
      case flat_json::value::kind::integer: return {member::kind::integer, {}, v->integer};
      default: return {member::kind::other, {}, 0};
    }
  }

private:
  const flat_json::object& o_;
};

class dom_source final : public source {
public:
  explicit dom_source(const json& j) : j_(j) {}
  member get(const char* name) const override {
    auto it = j_.find(name);
    if (it == j_.end() || it->is_null())
      return {};
    if (it->is_string())
      return {member::kind::text, it->get_ref<const std::string&>(), 0};
    if (it->is_number_integer() && !(it->is_number_unsigned() && it->get<uint64_t>() > INT64_MAX))
      return {member::kind::integer, {}, it->get<int64_t>()};
    return {member::kind::other, {}, 0};
  }

private:
  const json& j_;
};

/// Reads typed fields of a JSON object, remembering the first problem.
class reader {
public:
  explicit reader(const source& src) : src_(src) {}

  bool ok() const noexcept {
    return error_.empty();
  }
  const std::string& error() const noexcept {
    return error_;
  }
  void fail(std::string text) {
    if (error_.empty())
      error_ = std::move(text);
  }
  bool has(const char* name) const {
    return src_.get(name).type != member::kind::absent;
  }

  void text(const char* name, std::string& out, size_t max = max_text) {
    if (!ok())
      return;
    auto m = src_.get(name);
    if (m.type == member::kind::absent)
      return fail(std::string{"field "} + name + " is missing");
    if (m.type != member::kind::text)
      return fail(std::string{"field "} + name + " must be a string");
    out.assign(m.text);
    if (out.size() > max)
      fail(std::string{"field "} + name + " is longer than " + std::to_string(max) + " characters");
  }

  void id(const char* name, std::string& out) {
    text(name, out, 128);
    if (ok())
      if (auto problem = check_id(name, out))
        fail(*problem);
  }

  void integer(const char* name, int64_t& out) {
    if (!ok())
      return;
    auto m = src_.get(name);
    if (m.type == member::kind::absent)
      return fail(std::string{"field "} + name + " is missing");
    if (m.type == member::kind::integer) {
      out = m.integer;
      return;
    }
    fail(std::string{"field "} + name + " must be a whole number within 64 bits");
  }

  /// A whole number from `min` to `max`.
  void integer_in(const char* name, int64_t& out, int64_t min, int64_t max) {
    integer(name, out);
    if (ok() && (out < min || out > max))
      fail(std::string{"field "} + name + " must be from " + std::to_string(min) + " to "
           + std::to_string(max) + ", not " + std::to_string(out));
  }

  void optional_integer(const char* name, std::optional<int64_t>& out) {
    if (has(name)) {
      int64_t v = 0;
      integer(name, v);
      out = v;
    }
  }

  template <class Enum, size_t N>
  void one_of(const char* name, Enum& out, const std::array<Enum, N>& values) {
    std::string s;
    text(name, s, 64);
    if (!ok())
      return;
    for (auto v : values)
      if (to_string(v) == s) {
        out = v;
        return;
      }
    std::string allowed;
    for (auto v : values)
      allowed += (allowed.empty() ? "" : ", ") + std::string{to_string(v)};
    fail(std::string{"field "} + name + " is \"" + s + "\"; allowed: " + allowed);
  }

private:
  const source& src_;
  std::string error_;
};

void read_fields(reader& r, item& x);
void read_fields(reader& r, purchase& x);
void read_fields(reader& r, item_command& x);
void read_fields(reader& r, dead_letter& x);
void read_fields(reader& r, claim& x);

/// A record's fields from its object, once its schema version is one this bps reads.
template <class T>
decoded<T> read_record(const source& src) {
  decoded<T> out;
  reader r{src};
  int64_t version = 0;
  r.integer("schemaVersion", version);
  if (r.ok() && (version < 1 || version > schema_version))
    r.fail("schemaVersion " + std::to_string(version) + " is not readable by this bps (reads 1 to "
           + std::to_string(schema_version) + ")");
  if (!r.ok()) {
    out.error = r.error();
    return out;
  }
  T x;
  read_fields(r, x);
  if (r.ok())
    out.value = std::move(x);
  else
    out.error = r.error();
  return out;
}

/// Decodes bytes with the flat reader: the hot path (every request, every outcome).
template <class T>
decoded<T> decode_with(std::string_view bytes) {
  flat_json::object o;
  switch (flat_json::parse(bytes, o)) {
    case flat_json::result::invalid: return {std::nullopt, "not valid JSON"};
    case flat_json::result::not_an_object: return {std::nullopt, "not a JSON object"};
    case flat_json::result::object: break;
  }
  return read_record<T>(flat_source{o});
}

/// Decodes bytes through nlohmann-json's DOM: what decode_with must equal.
template <class T>
decoded<T> reference_decode_with(std::string_view bytes) {
  json j = json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (j.is_discarded())
    return {std::nullopt, "not valid JSON"};
  if (!j.is_object())
    return {std::nullopt, "not a JSON object"};
  return read_record<T>(dom_source{j});
}

constexpr std::array<purchase_status, 3> purchase_statuses{
  purchase_status::created, purchase_status::successful, purchase_status::failed};
constexpr std::array<failure_reason, 3> failure_reasons{failure_reason::insufficient_stock,
                                                        failure_reason::unknown_item,
                                                        failure_reason::invalid_quantity};
constexpr std::array<command_type, 4> command_types{
  command_type::insert_item, command_type::set_quantity, command_type::restock,
  command_type::set_description};
constexpr std::array<command_status, 3> command_statuses{
  command_status::requested, command_status::applied, command_status::rejected};
constexpr std::array<rejection_reason, 5> rejection_reasons{
  rejection_reason::item_exists, rejection_reason::unknown_item, rejection_reason::invalid_quantity,
  rejection_reason::invalid_amount, rejection_reason::version_mismatch};

} // namespace

std::optional<std::string> check_id(std::string_view field, std::string_view id) {
  auto name = std::string{"field "} + std::string{field};
  if (id.empty())
    return name + " is empty";
  if (id.size() > 128)
    return name + " is longer than 128 characters";
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(id.front()))
    return name + " must start with a letter or a digit";
  for (char c : id)
    if (!alnum(c) && c != '.' && c != '_' && c != ':' && c != '-')
      return name + " may hold only letters, digits and . _ : - (found '" + std::string(1, c)
             + "')";
  return std::nullopt;
}

std::string reference_encode(const item& x) {
  return dump({{"schemaVersion", schema_version},
               {"itemId", x.item_id},
               {"description", x.description},
               {"quantity", x.quantity},
               {"version", x.version}});
}

std::string reference_encode(const purchase& x) {
  json j{{"schemaVersion", schema_version},
         {"purchaseId", x.purchase_id},
         {"itemId", x.item_id},
         {"quantity", x.quantity},
         {"purchasedBy", x.purchased_by},
         {"purchaseStatus", to_string(x.status)}};
  if (x.status != purchase_status::created) {
    if (x.status == purchase_status::failed)
      j["reason"] = to_string(x.reason);
    j["itemVersion"] = x.item_version;
    j["itemQuantity"] = x.item_quantity;
  }
  return dump(j);
}

std::string reference_encode(const item_command& x) {
  json j{{"schemaVersion", schema_version},
         {"commandId", x.command_id},
         {"type", to_string(x.type)},
         {"itemId", x.item_id},
         {"status", to_string(x.status)}};
  switch (x.type) {
    case command_type::insert_item:
      j["description"] = x.description;
      j["quantity"] = x.quantity;
      break;
    case command_type::set_quantity: j["quantity"] = x.quantity; break;
    case command_type::restock: j["amount"] = x.amount; break;
    case command_type::set_description: j["description"] = x.description; break;
  }
  if (x.expected_version)
    j["expectedVersion"] = *x.expected_version;
  if (x.status != command_status::requested) {
    if (x.status == command_status::rejected)
      j["reason"] = to_string(x.reason);
    j["itemVersion"] = x.item_version;
    j["itemQuantity"] = x.item_quantity;
  }
  return dump(j);
}

std::string encode(const dead_letter& x) {
  json j{{"schemaVersion", schema_version},
         {"reason", x.reason},
         {"sourceTopic", x.source_topic},
         {"sourcePartition", x.source_partition},
         {"sourceOffset", x.source_offset},
         {"key", x.key ? json(*x.key) : json(nullptr)},
         {"valueBase64", x.value ? json(base64_encode(*x.value)) : json(nullptr)}};
  return dump(j);
}

std::string encode(const claim& x) {
  json j{{"schemaVersion", schema_version},
         {"id", x.id},
         {"node", x.node},
         {"claimedAt", x.claimed_at_ms}};
  if (const auto* p = std::get_if<purchase>(&x.request)) {
    j["kind"] = "PURCHASE";
    j["itemId"] = p->item_id;
    j["quantity"] = p->quantity;
    j["purchasedBy"] = p->purchased_by;
    return dump(j);
  }
  const auto& c = std::get<item_command>(x.request);
  j["kind"] = "ITEM_COMMAND";
  j["type"] = to_string(c.type);
  j["itemId"] = c.item_id;
  switch (c.type) {
    case command_type::insert_item:
      j["description"] = c.description;
      j["quantity"] = c.quantity;
      break;
    case command_type::set_quantity: j["quantity"] = c.quantity; break;
    case command_type::restock: j["amount"] = c.amount; break;
    case command_type::set_description: j["description"] = c.description; break;
  }
  if (c.expected_version)
    j["expectedVersion"] = *c.expected_version;
  return dump(j);
}

// -- the fast encoders ----------------------------------------------------------
//
// Item, purchase and command records are written for every decision (to Kafka and
// to the state store), so they are written by hand: the same bytes as nlohmann's
// dump() of the same object (keys in byte order, no spaces, the same escapes), as
// the unit and fuzz tests check against reference_encode. A text that is not valid
// UTF-8 (only the CLI can pass one) goes the reference way, which replaces it.

namespace {

/// One field of a record being written: a text or a number.
struct field {
  std::string_view key;
  std::string_view text;
  int64_t number = 0;
  bool is_text = false;
};

/// Well-formed UTF-8 as RFC 3629 has it (no overlong forms, no surrogates, nothing
/// above U+10FFFF): what nlohmann's dump() writes unchanged.
bool valid_utf8(std::string_view s) {
  const char* p = s.data();
  const char* end = p + s.size();
  while (p < end) {
    size_t n = static_cast<unsigned char>(*p) < 0x80 ? 1 : flat_json::utf8_sequence(p, end);
    if (n == 0)
      return false;
    p += n;
  }
  return true;
}

void append_escaped(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  size_t plain = 0; // start of the run not yet copied
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xF];
    }
  }
  out.append(s.data() + plain, s.size() - plain);
  out += '"';
}

/// The object of these fields, keys in byte order; nothing if a text is not UTF-8.
template <size_t N>
std::optional<std::string> write_object(std::array<field, N>& fields, size_t count) {
  size_t size = 2;
  for (size_t i = 0; i < count; ++i) {
    if (fields[i].is_text && !valid_utf8(fields[i].text))
      return std::nullopt;
    size += fields[i].key.size() + 4 + (fields[i].is_text ? fields[i].text.size() + 2 : 20);
  }
  std::sort(fields.begin(), fields.begin() + static_cast<ptrdiff_t>(count),
            [](const field& a, const field& b) { return a.key < b.key; });
  std::string out;
  out.reserve(size);
  out += '{';
  for (size_t i = 0; i < count; ++i) {
    if (i > 0)
      out += ',';
    out += '"';
    out += fields[i].key;
    out += "\":";
    if (fields[i].is_text) {
      append_escaped(out, fields[i].text);
    } else {
      char digits[24];
      auto end = std::to_chars(digits, digits + sizeof digits, fields[i].number).ptr;
      out.append(digits, end);
    }
  }
  out += '}';
  return out;
}

/// Collects the fields of one record.
template <size_t N>
struct fields_of {
  std::array<field, N> items{};
  size_t count = 0;
  void text(std::string_view key, std::string_view value) {
    items[count++] = field{key, value, 0, true};
  }
  void number(std::string_view key, int64_t value) {
    items[count++] = field{key, {}, value, false};
  }
  std::optional<std::string> write() {
    return write_object(items, count);
  }
};

} // namespace

std::string encode(const item& x) {
  fields_of<5> f;
  f.number("schemaVersion", schema_version);
  f.text("itemId", x.item_id);
  f.text("description", x.description);
  f.number("quantity", x.quantity);
  f.number("version", x.version);
  if (auto out = f.write())
    return std::move(*out);
  return reference_encode(x);
}

std::string encode(const purchase& x) {
  fields_of<9> f;
  f.number("schemaVersion", schema_version);
  f.text("purchaseId", x.purchase_id);
  f.text("itemId", x.item_id);
  f.number("quantity", x.quantity);
  f.text("purchasedBy", x.purchased_by);
  f.text("purchaseStatus", to_string(x.status));
  if (x.status != purchase_status::created) {
    if (x.status == purchase_status::failed)
      f.text("reason", to_string(x.reason));
    f.number("itemVersion", x.item_version);
    f.number("itemQuantity", x.item_quantity);
  }
  if (auto out = f.write())
    return std::move(*out);
  return reference_encode(x);
}

std::string encode(const item_command& x) {
  fields_of<11> f;
  f.number("schemaVersion", schema_version);
  f.text("commandId", x.command_id);
  f.text("type", to_string(x.type));
  f.text("itemId", x.item_id);
  f.text("status", to_string(x.status));
  switch (x.type) {
    case command_type::insert_item:
      f.text("description", x.description);
      f.number("quantity", x.quantity);
      break;
    case command_type::set_quantity: f.number("quantity", x.quantity); break;
    case command_type::restock: f.number("amount", x.amount); break;
    case command_type::set_description: f.text("description", x.description); break;
  }
  if (x.expected_version)
    f.number("expectedVersion", *x.expected_version);
  if (x.status != command_status::requested) {
    if (x.status == command_status::rejected)
      f.text("reason", to_string(x.reason));
    f.number("itemVersion", x.item_version);
    f.number("itemQuantity", x.item_quantity);
  }
  if (auto out = f.write())
    return std::move(*out);
  return reference_encode(x);
}

namespace {

void read_fields(reader& r, item& x) {
  r.id("itemId", x.item_id);
  r.text("description", x.description);
  // In range, so that deciding on the item cannot overflow (found by tests/fuzz).
  r.integer_in("quantity", x.quantity, 0, max_quantity);
  r.integer_in("version", x.version, 1, max_version);
}

void read_fields(reader& r, purchase& x) {
  r.id("purchaseId", x.purchase_id);
  r.id("itemId", x.item_id);
  r.integer("quantity", x.quantity);
  r.text("purchasedBy", x.purchased_by, 256);
  r.one_of("purchaseStatus", x.status, purchase_statuses);
  if (r.ok() && x.status != purchase_status::created) {
    if (x.status == purchase_status::failed)
      r.one_of("reason", x.reason, failure_reasons);
    r.integer("itemVersion", x.item_version);
    r.integer("itemQuantity", x.item_quantity);
  }
}

void read_fields(reader& r, item_command& x) {
  r.id("commandId", x.command_id);
  r.one_of("type", x.type, command_types);
  r.id("itemId", x.item_id);
  r.one_of("status", x.status, command_statuses);
  if (r.ok()) {
    switch (x.type) {
      case command_type::insert_item:
        r.text("description", x.description);
        r.integer("quantity", x.quantity);
        break;
      case command_type::set_quantity: r.integer("quantity", x.quantity); break;
      case command_type::restock: r.integer("amount", x.amount); break;
      case command_type::set_description: r.text("description", x.description); break;
    }
  }
  r.optional_integer("expectedVersion", x.expected_version);
  if (r.ok() && x.status != command_status::requested) {
    if (x.status == command_status::rejected)
      r.one_of("reason", x.reason, rejection_reasons);
    r.integer("itemVersion", x.item_version);
    r.integer("itemQuantity", x.item_quantity);
  }
}

void read_fields(reader& r, dead_letter& x) {
  int64_t partition = 0;
  r.text("reason", x.reason, size_t{64} * 1024);
  r.text("sourceTopic", x.source_topic, 249);
  r.integer_in("sourcePartition", partition, 0, INT32_MAX);
  r.integer("sourceOffset", x.source_offset);
  x.source_partition = static_cast<int32_t>(partition);
  if (r.ok() && r.has("key")) {
    std::string key;
    r.text("key", key, SIZE_MAX);
    x.key = std::move(key);
  }
  if (r.ok() && r.has("valueBase64")) {
    std::string text;
    r.text("valueBase64", text, SIZE_MAX);
    if (r.ok()) {
      x.value = base64_decode(text);
      if (!x.value)
        r.fail("field valueBase64 is not valid base64");
    }
  }
}

void read_fields(reader& r, claim& x) {
  r.id("id", x.id);
  std::string kind;
  r.text("kind", kind, 64);
  if (r.ok() && kind == "PURCHASE") {
    purchase p;
    p.purchase_id = x.id;
    r.id("itemId", p.item_id);
    r.integer("quantity", p.quantity);
    r.text("purchasedBy", p.purchased_by, 256);
    x.request = std::move(p);
  } else if (r.ok() && kind == "ITEM_COMMAND") {
    item_command c;
    c.command_id = x.id;
    r.one_of("type", c.type, command_types);
    r.id("itemId", c.item_id);
    if (r.ok()) {
      switch (c.type) {
        case command_type::insert_item:
          r.text("description", c.description);
          r.integer("quantity", c.quantity);
          break;
        case command_type::set_quantity: r.integer("quantity", c.quantity); break;
        case command_type::restock: r.integer("amount", c.amount); break;
        case command_type::set_description: r.text("description", c.description); break;
      }
    }
    r.optional_integer("expectedVersion", c.expected_version);
    x.request = std::move(c);
  } else if (r.ok()) {
    r.fail("field kind is \"" + kind + "\"; allowed: PURCHASE, ITEM_COMMAND");
  }
  r.text("node", x.node, 256);
  r.integer("claimedAt", x.claimed_at_ms);
}

} // namespace

decoded<item> decode_item(std::string_view bytes) {
  return decode_with<item>(bytes);
}

decoded<item> reference_decode_item(std::string_view bytes) {
  return reference_decode_with<item>(bytes);
}

decoded<purchase> decode_purchase(std::string_view bytes) {
  return decode_with<purchase>(bytes);
}

decoded<purchase> reference_decode_purchase(std::string_view bytes) {
  return reference_decode_with<purchase>(bytes);
}

decoded<item_command> decode_command(std::string_view bytes) {
  return decode_with<item_command>(bytes);
}

decoded<item_command> reference_decode_command(std::string_view bytes) {
  return reference_decode_with<item_command>(bytes);
}

decoded<dead_letter> decode_dead_letter(std::string_view bytes) {
  return decode_with<dead_letter>(bytes);
}

decoded<dead_letter> reference_decode_dead_letter(std::string_view bytes) {
  return reference_decode_with<dead_letter>(bytes);
}

decoded<claim> decode_claim(std::string_view bytes) {
  return decode_with<claim>(bytes);
}

decoded<claim> reference_decode_claim(std::string_view bytes) {
  return reference_decode_with<claim>(bytes);
}

std::string base64_encode(std::string_view bytes) {
  static constexpr char table[]
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8)
                 | static_cast<uint8_t>(bytes[i + 2]);
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
    out += table[(n >> 6) & 63];
    out += table[n & 63];
  }
  if (i < bytes.size()) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size())
      n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? table[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z')
      return c - 'A';
    if (c >= 'a' && c <= 'z')
      return c - 'a' + 26;
    if (c >= '0' && c <= '9')
      return c - '0' + 52;
    if (c == '+')
      return 62;
    if (c == '/')
      return 63;
    return -1;
  };
  if (text.size() % 4 != 0)
    return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = text[i + k];
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else if (pad > 0 || (v[k] = value(c)) < 0) {
        return std::nullopt;
      }
    }
    uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += static_cast<char>((n >> 16) & 255);
    if (pad < 2)
      out += static_cast<char>((n >> 8) & 255);
    if (pad < 1)
      out += static_cast<char>(n & 255);
  }
  return out;
}

namespace {

static_assert(schema_version == 1, "the bps-schema-version header spells the version");

/// Adds a header unless its value is empty.
void add(headers& h, std::string_view name, std::string_view value) {
  if (!value.empty() && h.count < h.items.size())
    h.items[h.count++] = {name, value};
}

/// The headers every record has, then bps-record and bps-node.
headers common_headers(std::string_view record, std::string_view node) {
  headers h;
  add(h, "content-type", "application/json");
  add(h, "bps-schema-version", "1");
  add(h, "bps-record", record);
  add(h, "bps-node", node);
  return h;
}

} // namespace

headers headers_of(const purchase& x, std::string_view node, std::string_view decided_at) {
  auto h = common_headers("purchase", node);
  add(h, "bps-request", "PURCHASE");
  add(h, "bps-status", to_string(x.status));
  add(h, "bps-decided-at", decided_at);
  return h;
}

headers headers_of(const item_command& x, std::string_view node, std::string_view decided_at) {
  auto h = common_headers("item-command", node);
  add(h, "bps-request", to_string(x.type));
  add(h, "bps-status", to_string(x.status));
  add(h, "bps-decided-at", decided_at);
  return h;
}

headers headers_of(const item&, std::string_view node) {
  return common_headers("item", node);
}

headers headers_of(const dead_letter&, std::string_view node) {
  return common_headers("dead-letter", node);
}

headers headers_of(const claim& x) {
  auto h = common_headers("claim", x.node);
  if (std::holds_alternative<purchase>(x.request))
    add(h, "bps-request", "PURCHASE");
  else
    add(h, "bps-request", to_string(std::get<item_command>(x.request).type));
  return h;
}

} // namespace bps::domain
