// The {"String": ...} / {"Regex": ...} patterns of Split pre-tokenizers and Replace
// normalizers.
#pragma once

#include <memory>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tokenizer/regex.h"

namespace dseek {

// nullptr for an empty String pattern, which matches nothing (as in Hugging Face).
std::unique_ptr<Regex> compile_pattern(const nlohmann::json& spec, std::string_view where);

}  // namespace dseek
