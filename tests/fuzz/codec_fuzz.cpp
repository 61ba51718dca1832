// libFuzzer target: every decoder of bytes read from Kafka (actors/src/codec.cpp),
// and what consumes the decoded records (the domain decisions, the history checker
// of `bps replay --verify`).
//
// Properties, on any input:
// - no decoder throws, aborts, leaks or trips UBSan; a failure carries a reason;
// - every decoder gives what its nlohmann-json reference gives (value or error);
// - what decodes respects the documented patterns (ids) and re-encodes to a record
//   (the hand-written encoders: byte for byte what nlohmann-json writes)
//   that decodes to the same value and carries the same field values as the input
//   (so no value is silently truncated or changed on the way through);
// - base64 of any bytes decodes back to them;
// - a decoded request applied to a decoded item gives an outcome that survives the
//   codec too; the history checker takes any sequence of decoded records.
// An input without a newline is one record; an input with newlines is a log, one
// record per line, fed to the domain and the history.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "bps/actors/codec.hpp"
#include "bps/actors/domain.hpp"
#include "bps/actors/history.hpp"

namespace {

using namespace bps::domain;
using json = nlohmann::json;

[[noreturn]] void violated(const char* what, std::string_view input) {
  std::fprintf(stderr, "property violated: %s\ninput: %.*s\n", what, static_cast<int>(input.size()),
               input.data());
  std::abort();
}

void require(bool ok, const char* what, std::string_view input) {
  if (!ok)
    violated(what, input);
}

/// Every field that `encode(value)` writes has the same value in the input record,
/// except the encodings that may differ in text but not in value (base64).
void same_fields(std::string_view input, const std::string& encoded) {
  auto in = json::parse(input.begin(), input.end(), nullptr, false);
  auto out = json::parse(encoded, nullptr, false);
  require(!out.is_discarded() && out.is_object(), "encode writes a JSON object", input);
  require(in.is_object(), "a decoded record was a JSON object", input);
  for (const auto& [key, value] : out.items()) {
    if (key == "valueBase64" && value.is_string() && in.contains(key) && in[key].is_string())
      continue; // compared as bytes by the caller
    const auto given = in.contains(key) ? in[key] : json(nullptr);
    if (given != value) {
      std::fprintf(stderr, "field %s: input %s, re-encoded %s\n", key.c_str(),
                   given.dump(-1, ' ', true, json::error_handler_t::replace).c_str(),
                   value.dump(-1, ' ', true, json::error_handler_t::replace).c_str());
      violated("a decoded field re-encodes to another value", input);
    }
  }
}

/// The records with a hand-written encoder and nlohmann's reference_encode.
template <class T>
constexpr bool has_reference
  = std::is_same_v<T, item> || std::is_same_v<T, purchase> || std::is_same_v<T, item_command>;

template <class T, class Decode>
std::optional<T> check_decoder(std::string_view input, Decode decode) {
  auto d = decode(input);
  if (!d) {
    require(!d.error.empty(), "a failed decode says why", input);
    return std::nullopt;
  }
  const auto& x = *d.value;
  auto encoded = encode(x);
  auto again = decode(encoded);
  require(again.value.has_value(), "an encoded record decodes", input);
  require(*again.value == x, "decode(encode(x)) == x", input);
  require(encode(*again.value) == encoded, "encoding is deterministic", input);
  if constexpr (has_reference<T>)
    require(encoded == reference_encode(x), "encode writes what nlohmann writes", input);
  same_fields(input, encoded);
  return x;
}

void check_ids(std::string_view input, std::initializer_list<const std::string*> ids) {
  for (const auto* id : ids)
    require(!check_id("id", *id), "a decoded id passes check_id", input);
}

void check_base64(std::string_view input) {
  auto encoded = base64_encode(input);
  auto decoded = base64_decode(encoded);
  require(decoded && *decoded == input, "base64_decode(base64_encode(b)) == b", input);
  if (auto d = base64_decode(input)) {
    // Any text it accepts decodes to bytes that encode to text of the same length.
    require(base64_encode(*d).size() == input.size(), "base64 lengths agree", input);
  }
}

/// Decodes one record with every decoder; with `check`, checks each that succeeds.
struct record {
  std::optional<item> as_item;
  std::optional<purchase> as_purchase;
  std::optional<item_command> as_command;
  std::optional<dead_letter> as_dead_letter;
};

/// The flat decoder and its nlohmann-json reference read the bytes alike.
template <class T>
void agree(std::string_view bytes, const decoded<T>& fast, const decoded<T>& reference) {
  require(fast.error == reference.error, "decode fails as nlohmann-json fails", bytes);
  require(fast.value == reference.value, "decode reads what nlohmann-json reads", bytes);
}

record check_record(std::string_view bytes) {
  agree(bytes, decode_item(bytes), reference_decode_item(bytes));
  agree(bytes, decode_purchase(bytes), reference_decode_purchase(bytes));
  agree(bytes, decode_command(bytes), reference_decode_command(bytes));
  agree(bytes, decode_dead_letter(bytes), reference_decode_dead_letter(bytes));
  agree(bytes, decode_claim(bytes), reference_decode_claim(bytes));
  record r;
  r.as_item = check_decoder<item>(bytes, [](std::string_view b) { return decode_item(b); });
  if (r.as_item)
    check_ids(bytes, {&r.as_item->item_id});
  r.as_purchase
    = check_decoder<purchase>(bytes, [](std::string_view b) { return decode_purchase(b); });
  if (r.as_purchase)
    check_ids(bytes, {&r.as_purchase->purchase_id, &r.as_purchase->item_id});
  r.as_command
    = check_decoder<item_command>(bytes, [](std::string_view b) { return decode_command(b); });
  if (r.as_command)
    check_ids(bytes, {&r.as_command->command_id, &r.as_command->item_id});
  r.as_dead_letter
    = check_decoder<dead_letter>(bytes, [](std::string_view b) { return decode_dead_letter(b); });
  if (r.as_dead_letter && r.as_dead_letter->value) {
    auto in = json::parse(bytes.begin(), bytes.end(), nullptr, false);
    auto original = base64_decode(in["valueBase64"].get<std::string>());
    require(original == r.as_dead_letter->value, "valueBase64 decodes to the value", bytes);
  }
  return r;
}

/// Only decodes (a line of a log: the properties of one record are checked on
/// one-record inputs).
record decode_record(std::string_view bytes) {
  auto take = [](auto d) { return d ? std::move(d.value) : std::nullopt; };
  return {take(decode_item(bytes)), take(decode_purchase(bytes)), take(decode_command(bytes)),
          take(decode_dead_letter(bytes))};
}

/// A decision's outputs are records too: they must survive the codec.
void check_outputs(std::string_view input, const purchase_decision& d) {
  require(d.outcome.status != purchase_status::created, "a decided purchase is decided", input);
  require(*decode_purchase(encode(d.outcome)).value == d.outcome, "an outcome round-trips", input);
  if (d.state)
    require(*decode_item(encode(*d.state)).value == *d.state, "a new state round-trips", input);
}

void check_outputs(std::string_view input, const command_decision& d) {
  require(d.result.status != command_status::requested, "a command result is decided", input);
  require(*decode_command(encode(d.result)).value == d.result, "a result round-trips", input);
  if (d.state)
    require(*decode_item(encode(*d.state)).value == *d.state, "a new state round-trips", input);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input{reinterpret_cast<const char*>(data), size};
  check_base64(input);
  if (input.find('\n') == std::string_view::npos) {
    check_record(input);
    return 0;
  }

  // A log, one record per line, in the order a replay reads it.
  history h;
  std::optional<item> current;
  int64_t offset = 0;
  size_t pos = 0;
  while (pos < input.size()) {
    auto end = input.find('\n', pos);
    if (end == std::string_view::npos)
      end = input.size();
    auto line = input.substr(pos, end - pos);
    pos = end + 1;
    auto r = decode_record(line);
    log_position at{"t", 0, offset++};
    if (r.as_item) {
      h.add_snapshot(*r.as_item);
      current = r.as_item;
    }
    if (r.as_purchase) {
      h.add(*r.as_purchase, at);
      if (r.as_purchase->status == purchase_status::created) {
        check_outputs(line, decide_purchase(current, *r.as_purchase));
        check_outputs(line, decide_purchase(std::nullopt, *r.as_purchase));
      }
    }
    if (r.as_command) {
      h.add(*r.as_command, at);
      if (r.as_command->status == command_status::requested) {
        check_outputs(line, apply_command(current, *r.as_command));
        check_outputs(line, apply_command(std::nullopt, *r.as_command));
      }
    }
    if (r.as_dead_letter)
      h.add_dead_letter(*r.as_dead_letter);
  }
  h.check(false);
  h.check(true);
  return 0;
}
