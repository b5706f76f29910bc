// The real shapes of DeepSeek's released models, for running with random weights
// (like vLLM's dummy load format) and for benchmarks.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "model/config.h"

namespace dseek {

// Names: deepseek-v2-lite, deepseek-v2 (also V2.5), deepseek-v3 (also R1 and V3.1).
ModelConfig preset_config(std::string_view name);
std::vector<std::string> preset_names();

}  // namespace dseek
