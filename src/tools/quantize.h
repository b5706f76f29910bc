// `dseek quantize`: a model directory or a GGUF file to a llama.cpp-loadable deepseek2 GGUF
// (model/gguf_model.h) in the chosen types.
#pragma once

#include <cstdint>
#include <functional>
#include <regex>
#include <string>
#include <vector>

#include "io/dtype.h"

namespace dseek {

// Which type each tensor gets. Presets (llama.cpp's names, simplified):
//   Q3_K_M: Q3_K, with output, attn_v_b and ffn_down* at Q5_K;
//   Q4_K_M: Q4_K, with output, attn_v_b and ffn_down* at Q6_K;
//   Q5_K_M: Q5_K, with output, attn_v_b and ffn_down* at Q6_K.
// Always F32: 1-D tensors (norms, biases) and the router (ffn_gate_inp). Rows that are not whole
// blocks fall back as llama.cpp does (Q4_K->Q5_0, Q5_K->Q5_1, Q6_K->Q8_0, Q2_K/Q3_K->IQ4_NL),
// then to F16 when still not whole blocks.
class QuantPlan {
 public:
  // `type`: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K ... Q6_K or a preset;
  // `tensor_types`: "REGEX=TYPE" overrides on the GGUF tensor name, first match wins. Errors
  // name the option (--type, --tensor-type) and the value at fault.
  QuantPlan(const std::string& type, const std::vector<std::string>& tensor_types);

  DType choose(const std::string& name, const std::vector<int64_t>& shape) const;

 private:
  struct Rule {
    std::regex pattern;
    DType dtype;
  };
  DType base_ = DType::Q8_0;
  std::vector<Rule> overrides_;  // --tensor-type, then the preset's
  size_t user_rules_ = 0;
};

// A type name (case-insensitive) as a DType; `option` names the option in the error.
DType parse_weight_type(const std::string& name, const std::string& option);

struct QuantizeOptions {
  std::string type = "Q8_0";
  std::vector<std::string> tensor_types;
  std::string tokenizer_dir;  // tokenizer.json for the metadata; default: the model dir
};

// Reports tensor elements done of the total.
using QuantizeProgress = std::function<void(int64_t done, int64_t total)>;

// `input`: a model directory (safetensors; FP8 weights are dequantized first) or a .gguf file
// (re-quantized from its dequantized weights; tokenizer keys copied). MTP layers are dropped.
void quantize_model(const std::string& input, const std::string& output, const QuantizeOptions& options,
                    const QuantizeProgress& progress = {});

}  // namespace dseek
