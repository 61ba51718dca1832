#pragma once

// JSON encoding and decoding of every bps record (the formats are documented in
// docs/records.md). Pure: nlohmann-json stays inside codec.cpp. Decoding never
// throws: a malformed record becomes a `decoded` without value and with a reason a
// person can act on.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "bps/actors/domain.hpp"
#include "bps/kafka/types.hpp"

namespace bps::domain {

/// The schema version written into every record. Readers accept this version and
/// older ones.
inline constexpr int64_t schema_version = 1;

/// The result of decoding: a value, or the reason there is none.
template <class T>
struct decoded {
  std::optional<T> value;
  std::string error;
  explicit operator bool() const noexcept {
    return value.has_value();
  }
};

/// A record that could not be decoded or applied, kept with its original bytes.
struct dead_letter {
  std::string reason;
  std::string source_topic;
  int32_t source_partition = 0;
  int64_t source_offset = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  friend bool operator==(const dead_letter&, const dead_letter&) = default;
};

std::string encode(const item& x);
std::string encode(const purchase& x);
std::string encode(const item_command& x);
std::string encode(const dead_letter& x);
std::string encode(const claim& x);

/// The same records written through nlohmann-json's DOM: encode() writes the same
/// bytes faster (tests compare the two), and falls back to these for a text that
/// is not valid UTF-8 (replaced as nlohmann does).
std::string reference_encode(const item& x);
std::string reference_encode(const purchase& x);
std::string reference_encode(const item_command& x);

decoded<item> decode_item(std::string_view bytes);
decoded<purchase> decode_purchase(std::string_view bytes);
decoded<item_command> decode_command(std::string_view bytes);
decoded<dead_letter> decode_dead_letter(std::string_view bytes);
decoded<claim> decode_claim(std::string_view bytes);

/// The same decoders through nlohmann-json's DOM: the decoders above read without
/// one and give the same value or the same error for any bytes (tests compare).
decoded<item> reference_decode_item(std::string_view bytes);
decoded<purchase> reference_decode_purchase(std::string_view bytes);
decoded<item_command> reference_decode_command(std::string_view bytes);
decoded<dead_letter> reference_decode_dead_letter(std::string_view bytes);
decoded<claim> reference_decode_claim(std::string_view bytes);

/// The Kafka headers bps puts on each record it writes (docs/records.md, "Headers"),
/// so that a Kafka user can filter without parsing the body: content-type,
/// bps-schema-version, bps-record (purchase, item-command, item, dead-letter, claim),
/// bps-request (PURCHASE or the command type), bps-status, bps-node (the node that
/// wrote it) and bps-decided-at (an outcome's decision time, ms since the epoch).
/// They point at static text and at the arguments, which must outlive them.
struct headers {
  std::array<kafka::record_header, 7> items{};
  size_t count = 0;
  kafka::record_headers view() const {
    return {items.data(), count};
  }
};

/// `node` empty: not written by a node (the CLI); `decided_at` empty: not an outcome.
headers headers_of(const purchase& x, std::string_view node, std::string_view decided_at = {});
headers headers_of(const item_command& x, std::string_view node, std::string_view decided_at = {});
headers headers_of(const item& x, std::string_view node);
headers headers_of(const dead_letter& x, std::string_view node);
headers headers_of(const claim& x);

/// Checks an id (itemId, purchaseId, commandId): 1 to 128 characters of letters,
/// digits and . _ : - , starting with a letter or digit. Returns the problem, if any.
std::optional<std::string> check_id(std::string_view field, std::string_view id);

/// Base64 (RFC 4648, with padding), for bytes that may not be text.
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

} // namespace bps::domain
