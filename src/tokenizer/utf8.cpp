#include "tokenizer/utf8.h"

namespace dseek::utf8 {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Well-formed sequences (Unicode Table 3-7): the lead byte fixes the length and the range
// of the second byte; later bytes are always 80..BF. Returns 0 for a byte that cannot lead.
struct Lead {
  size_t length;
  unsigned char low, high;
};

Lead classify(unsigned char c) {
  if (c >= 0xC2 && c <= 0xDF) return {2, 0x80, 0xBF};
  if (c == 0xE0) return {3, 0xA0, 0xBF};
  if (c == 0xED) return {3, 0x80, 0x9F};
  if (c >= 0xE1 && c <= 0xEF) return {3, 0x80, 0xBF};
  if (c == 0xF0) return {4, 0x90, 0xBF};
  if (c >= 0xF1 && c <= 0xF3) return {4, 0x80, 0xBF};
  if (c == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

enum class Step { kValid, kInvalid, kTruncated };

// Examines the sequence at text[pos]; `consumed` is its length when valid, else the length
// of the maximal subpart (at least 1) that must become one replacement character.
Step examine(std::string_view text, size_t pos, size_t& consumed) {
  auto c = static_cast<unsigned char>(text[pos]);
  if (c < 0x80) {
    consumed = 1;
    return Step::kValid;
  }
  Lead lead = classify(c);
  if (lead.length == 0) {
    consumed = 1;
    return Step::kInvalid;
  }
  size_t k = 1;
  for (; k < lead.length; ++k) {
    if (pos + k >= text.size()) {
      consumed = k;
      return Step::kTruncated;
    }
    auto b = static_cast<unsigned char>(text[pos + k]);
    unsigned char low = k == 1 ? lead.low : 0x80, high = k == 1 ? lead.high : 0xBF;
    if (b < low || b > high) {
      consumed = k;
      return Step::kInvalid;
    }
  }
  consumed = k;
  return Step::kValid;
}

}  // namespace

size_t find_invalid(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    size_t consumed = 0;
    if (examine(text, pos, consumed) != Step::kValid) return pos;
    pos += consumed;
  }
  return std::string_view::npos;
}

char32_t next(std::string_view text, size_t& pos) {
  auto c = static_cast<unsigned char>(text[pos]);
  size_t length = sequence_length(c);
  char32_t cp = length == 1 ? c : length == 2 ? (c & 0x1F) : length == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < length; ++k) cp = (cp << 6) | (static_cast<unsigned char>(text[pos + k]) & 0x3F);
  pos += length;
  return cp;
}

char32_t last_before(std::string_view text, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return next(text, start);
}

void append(std::string& out, char32_t cp) {
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

void LossyDecoder::push(std::string_view bytes, std::string& out) {
  std::string joined;
  std::string_view text = bytes;
  if (!pending_.empty()) {
    joined = pending_ + std::string(bytes);
    text = joined;
    pending_.clear();
  }
  size_t pos = 0;
  while (pos < text.size()) {
    size_t run = pos;
    while (run < text.size() && static_cast<unsigned char>(text[run]) < 0x80) ++run;
    out.append(text.substr(pos, run - pos));
    pos = run;
    if (pos == text.size()) break;
    size_t consumed = 0;
    switch (examine(text, pos, consumed)) {
      case Step::kValid:
        out.append(text.substr(pos, consumed));
        break;
      case Step::kInvalid:
        out.append(kReplacement);
        break;
      case Step::kTruncated:
        pending_.assign(text.substr(pos));
        return;
    }
    pos += consumed;
  }
}

void LossyDecoder::finish(std::string& out) {
  if (!pending_.empty()) out.append(kReplacement);
  pending_.clear();
}

std::string lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  LossyDecoder decoder;
  decoder.push(bytes, out);
  decoder.finish(out);
  return out;
}

}  // namespace dseek::utf8
