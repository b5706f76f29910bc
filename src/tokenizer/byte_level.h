// GPT-2's byte-level alphabet: every byte is shown as one printable code point, so BPE
// vocabularies can hold arbitrary bytes as text ("Ġ" is the space byte).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dseek::byte_level {

// Appends the alphabet's code point (as UTF-8) for each byte of `bytes`.
void encode(std::string_view bytes, std::string& out);

// The bytes a token of the alphabet stands for; nullopt when some character of the
// token is outside the alphabet (the ByteLevel decoder then keeps the token's own bytes).
std::optional<std::string> decode(std::string_view token);

}  // namespace dseek::byte_level
