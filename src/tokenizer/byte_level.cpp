#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace dseek::byte_level {
namespace {

struct Tables {
  // UTF-8 of each byte's code point: one or two bytes, all below U+0800.
  struct Encoded {
    char bytes[2];
    unsigned char length;
  };
  std::array<Encoded, 256> byte_to_utf8;
  // Alphabet code points are all below U+0144; -1 marks code points outside it.
  std::array<int, 0x144> char_to_byte;

  Tables() {
    char_to_byte.fill(-1);
    // Printable bytes map to themselves; the others, in byte order, to U+0100 onwards.
    char32_t next_extra = 0x100;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      char32_t cp = printable ? static_cast<char32_t>(b) : next_extra++;
      std::string encoded;
      utf8::append(encoded, cp);
      byte_to_utf8[b] = Encoded{{encoded[0], encoded.size() > 1 ? encoded[1] : '\0'},
                                static_cast<unsigned char>(encoded.size())};
      char_to_byte[cp] = b;
    }
  }
};

const Tables& tables() {
  static const Tables instance;
  return instance;
}

}  // namespace

void encode(std::string_view bytes, std::string& out) {
  const Tables& t = tables();
  out.reserve(out.size() + 2 * bytes.size());
  for (char c : bytes) {
    const auto& encoded = t.byte_to_utf8[static_cast<unsigned char>(c)];
    out.append(encoded.bytes, encoded.length);
  }
}

std::optional<std::string> decode(std::string_view token) {
  const Tables& t = tables();
  std::string out;
  size_t pos = 0;
  while (pos < token.size()) {
    char32_t cp = utf8::next(token, pos);
    if (cp >= t.char_to_byte.size() || t.char_to_byte[cp] < 0) return std::nullopt;
    out += static_cast<char>(t.char_to_byte[cp]);
  }
  return out;
}

}  // namespace dseek::byte_level
