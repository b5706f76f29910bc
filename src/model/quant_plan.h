// Which stored type each tensor of a GGUF model gets: `dseek quantize` writes files by it, and
// random weights (model/random_weights.h) are made by it, so both give the same types.
#pragma once

#include <cstdint>
#include <regex>
#include <string>
#include <vector>

#include "io/dtype.h"

namespace dseek {

// Presets (llama.cpp's names, simplified):
//   Q3_K_M: Q3_K, with output, attn_v_b and ffn_down* at Q5_K;
//   Q4_K_M: Q4_K, with output, attn_v_b and ffn_down* at Q6_K;
//   Q5_K_M: Q5_K, with output, attn_v_b and ffn_down* at Q6_K.
// Always F32: 1-D tensors (norms, biases) and the router (ffn_gate_inp). Rows that are not whole
// blocks fall back as llama.cpp does (Q4_K->Q5_0, Q5_K->Q5_1, Q6_K->Q8_0, Q2_K/Q3_K->IQ4_NL),
// then to F16 when still not whole blocks.
class QuantPlan {
 public:
  // `type`: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K ... Q6_K or a preset
  // (case-insensitive); `tensor_types`: "REGEX=TYPE" overrides on the GGUF tensor name, first
  // match wins. Errors name the option (`type_option`, --tensor-type) and the value at fault.
  QuantPlan(const std::string& type, const std::vector<std::string>& tensor_types,
            const std::string& type_option = "--type");

  // `name`, `shape`: a tensor as GGUF stores it (routed experts stacked [E, N, K]).
  DType choose(const std::string& name, const std::vector<int64_t>& shape) const;

 private:
  struct Rule {
    std::regex pattern;
    DType dtype;
  };
  DType base_ = DType::Q8_0;
  std::vector<Rule> overrides_;  // --tensor-type, then the preset's
};

// A type name (case-insensitive) as a DType; `option` names the option in the error.
DType parse_weight_type(const std::string& name, const std::string& option);

}  // namespace dseek
