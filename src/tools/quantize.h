// `dseek quantize`: a model directory or a GGUF file to a llama.cpp-loadable deepseek2 GGUF
// (model/gguf_model.h) in the chosen types.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/quant_plan.h"

namespace dseek {

struct QuantizeOptions {
  std::string type = "Q8_0";
  std::vector<std::string> tensor_types;
  std::string tokenizer_dir;  // tokenizer.json for the metadata; default: the model dir
  uint64_t split_max_bytes = 0;  // >0: shards of at most this much tensor data, as gguf-split writes them; 0: one file
};

// Reports tensor elements done of the total.
using QuantizeProgress = std::function<void(int64_t done, int64_t total)>;

// `input`: a model directory (safetensors; FP8 weights are dequantized first) or a .gguf file
// (re-quantized from its dequantized weights; tokenizer keys copied). MTP layers are dropped.
// Returns the files written: `output`, or with split_max_bytes its shards OUT-0000i-of-0000N.gguf
// (OUT: output less .gguf) when there are several.
std::vector<std::string> quantize_model(const std::string& input, const std::string& output, const QuantizeOptions& options,
                                        const QuantizeProgress& progress = {});

}  // namespace dseek
