// Element types of stored tensors: the safetensors dtypes, and block-quantized formats
// (GGML's), where a block of `block_elems` values is stored in `block_bytes` bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace dseek {

enum class DType : uint8_t {
  F32, F16, BF16, F8_E4M3, I8, I16, I32, I64, U8, BOOL,
  // GGML block formats (src/quant/blocks.h). Q8_K only holds activations of K-quant products.
  Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, IQ4_NL,
  // Q4_K, Q5_0 and Q8_0 with rows interleaved 16 at a time for the CPU kernels (quant/repack.h):
  // made at load time, never stored in files.
  Q4_K_R16, Q5_0_R16, Q8_0_R16,
};

std::string_view dtype_name(DType dtype);
std::optional<DType> parse_dtype(std::string_view name);  // safetensors names: "BF16", "F8_E4M3", ...
size_t dtype_block_elems(DType dtype);                    // 1 for plain types
size_t dtype_block_bytes(DType dtype);                    // bytes per element for plain types
size_t dtype_size(DType dtype);                           // bytes per element; plain types only
size_t row_bytes(DType dtype, int64_t elems);             // elems must be a whole number of blocks
// Rows stored together, interleaved: views and kernels take them in whole groups (1 for row formats).
int64_t dtype_row_group(DType dtype);

}  // namespace dseek
