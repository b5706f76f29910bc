// Which stored type each tensor of a GGUF model gets: `dseek quantize` writes files by it, and
// random weights (model/random_weights.h) are made by it, so both give the same types.
#pragma once

#include <cstdint>
#include <regex>
#include <string>
#include <vector>

#include "io/dtype.h"

namespace dseek {

// Presets, as llama.cpp mixes them for this architecture: output at Q6_K, and
//   Q4_K_M, Q5_K_M: Q4_K or Q5_K, with ffn_down* and attn_kv_b at Q6_K in the "more bits"
//     layers (the first and last eighth, and every third layer between);
//   Q3_K_M: Q3_K, with ffn_down* at Q5_K in the first sixteenth of the layers and Q4_K after,
//     attn_kv_b at Q5_K in the first two layers and Q4_K after, attn_output at Q4_K.
// Always F32: 1-D tensors (norms, biases) and the router (ffn_gate_inp). Rows that are not whole
// blocks fall back as llama.cpp does (Q4_K->Q5_0, Q5_K->Q5_1, Q6_K->Q8_0, Q2_K/Q3_K->IQ4_NL),
// then to F16 when still not whole blocks.
class QuantPlan {
 public:
  // `type`: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K ... Q6_K or a preset
  // (case-insensitive); `tensor_types`: "REGEX=TYPE" overrides on the GGUF tensor name, first
  // match wins. Errors name the option (`type_option`, --tensor-type) and the value at fault.
  // `num_layers`: the model's, for the presets' per-layer choices.
  QuantPlan(const std::string& type, const std::vector<std::string>& tensor_types, int num_layers,
            const std::string& type_option = "--type");

  // `name`, `shape`: a tensor as GGUF stores it (routed experts stacked [E, N, K]).
  DType choose(const std::string& name, const std::vector<int64_t>& shape) const;

 private:
  struct Rule {
    std::regex pattern;
    DType dtype;
  };
  enum class Mix { None, Q3_K_M, Q4_K_M };  // Q5_K_M mixes as Q4_K_M does
  DType preset_type(const std::string& name) const;

  DType base_ = DType::Q8_0;
  Mix mix_ = Mix::None;
  int num_layers_;
  std::vector<Rule> overrides_;  // --tensor-type
};

// A type name (case-insensitive) as a DType; `option` names the option in the error.
DType parse_weight_type(const std::string& name, const std::string& option);

}  // namespace dseek
