#include "tokenizer/normalizer.h"

#include <utility>
#include <vector>

#include "tokenizer/json_fields.h"
#include "tokenizer/pattern.h"
#include "util/error.h"

#if DSEEK_HAVE_ICU
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#endif

namespace dseek {
namespace {

using json_fields::Json;

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  void normalize(std::string& text) const override {
    for (const auto& step : steps_) step->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(std::unique_ptr<Regex> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(std::string& text) const override {
    if (!pattern_) return;
    std::vector<std::pair<size_t, size_t>> matches;
    pattern_->find_all(text, matches);
    if (matches.empty()) return;
    std::string out;
    size_t copied = 0;
    for (auto [begin, end] : matches) {
      out.append(text, copied, begin - copied);
      out += content_;
      copied = end;
    }
    out.append(text, copied);
    text = std::move(out);
  }

 private:
  std::unique_ptr<Regex> pattern_;
  std::string content_;
};

#if DSEEK_HAVE_ICU
bool is_ascii(std::string_view text) {
  for (char c : text)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

class UnicodeNormalizer final : public Normalizer {
 public:
  UnicodeNormalizer(const UNormalizer2* form, std::string name) : form_(form), name_(std::move(name)) {}
  void normalize(std::string& text) const override {
    // ASCII is invariant under every normalization form.
    if (is_ascii(text)) return;
    UErrorCode status = U_ZERO_ERROR;
    int32_t utf16_length = 0;
    u_strFromUTF8(nullptr, 0, &utf16_length, text.data(), static_cast<int32_t>(text.size()), &status);
    status = U_ZERO_ERROR;
    std::u16string utf16(utf16_length, u'\0');
    u_strFromUTF8(utf16.data(), utf16_length, nullptr, text.data(), static_cast<int32_t>(text.size()), &status);
    check(status);
    int32_t normalized_length = unorm2_normalize(form_, utf16.data(), utf16_length, nullptr, 0, &status);
    status = U_ZERO_ERROR;
    std::u16string normalized(normalized_length, u'\0');
    unorm2_normalize(form_, utf16.data(), utf16_length, normalized.data(), normalized_length, &status);
    check(status);
    int32_t utf8_length = 0;
    u_strToUTF8(nullptr, 0, &utf8_length, normalized.data(), normalized_length, &status);
    status = U_ZERO_ERROR;
    std::string out(utf8_length, '\0');
    u_strToUTF8(out.data(), utf8_length, nullptr, normalized.data(), normalized_length, &status);
    check(status);
    text = std::move(out);
  }

 private:
  void check(UErrorCode status) const {
    if (U_FAILURE(status)) fail("normalizer {}: ICU error {}", name_, u_errorName(status));
  }
  const UNormalizer2* form_;
  std::string name_;
};

std::unique_ptr<Normalizer> make_unicode(const std::string& type, std::string_view where) {
  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2* form = type == "NFC"    ? unorm2_getNFCInstance(&status)
                             : type == "NFKC" ? unorm2_getNFKCInstance(&status)
                             : type == "NFD"  ? unorm2_getNFDInstance(&status)
                                              : unorm2_getNFKDInstance(&status);
  if (U_FAILURE(status)) fail("{}: normalizer {}: ICU error {}", where, type, u_errorName(status));
  return std::make_unique<UnicodeNormalizer>(form, type);
}
#else
std::unique_ptr<Normalizer> make_unicode(const std::string& type, std::string_view where) {
  fail("{}: normalizer {} needs Unicode normalization data: build dseek with ICU (DSEEK_HAVE_ICU)", where, type);
}
#endif

void collect(const Json& spec, std::string_view where, std::vector<std::unique_ptr<Normalizer>>& out) {
  if (spec.is_null()) return;
  std::string type = json_fields::type_of(spec, where);
  if (type == "Sequence") {
    const Json& steps = json_fields::require_array(spec, "normalizers", where);
    std::string steps_where = json_fields::path(where, "normalizers");
    for (size_t i = 0; i < steps.size(); ++i) collect(steps[i], json_fields::path(steps_where, i), out);
  } else if (type == "Prepend") {
    out.push_back(std::make_unique<PrependNormalizer>(json_fields::require_string(spec, "prepend", where)));
  } else if (type == "Replace") {
    out.push_back(std::make_unique<ReplaceNormalizer>(
        compile_pattern(json_fields::require(spec, "pattern", where), json_fields::path(where, "pattern")),
        json_fields::require_string(spec, "content", where)));
  } else if (type == "NFC" || type == "NFKC" || type == "NFD" || type == "NFKD") {
    out.push_back(make_unicode(type, where));
  } else {
    fail("{}: unsupported normalizer type {}", where, type);
  }
}

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& spec, std::string_view where) {
  std::vector<std::unique_ptr<Normalizer>> steps;
  collect(spec, where, steps);
  if (steps.empty()) return nullptr;
  if (steps.size() == 1) return std::move(steps.front());
  return std::make_unique<SequenceNormalizer>(std::move(steps));
}

}  // namespace dseek
