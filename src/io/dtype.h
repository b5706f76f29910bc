// Element types of stored tensors, named as safetensors names them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace dseek {

enum class DType : uint8_t { F32, F16, BF16, F8_E4M3, I8, I16, I32, I64, U8, BOOL };

std::string_view dtype_name(DType dtype);
std::optional<DType> parse_dtype(std::string_view name);
size_t dtype_size(DType dtype);  // bytes per element

}  // namespace dseek
