#include "io/dtype.h"

#include <array>

#include "util/error.h"

namespace dseek {
namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  size_t block_elems;
  size_t block_bytes;
};

constexpr std::array<DTypeInfo, 10> kDTypes{{
    {DType::F32, "F32", 1, 4},
    {DType::F16, "F16", 1, 2},
    {DType::BF16, "BF16", 1, 2},
    {DType::F8_E4M3, "F8_E4M3", 1, 1},
    {DType::I8, "I8", 1, 1},
    {DType::I16, "I16", 1, 2},
    {DType::I32, "I32", 1, 4},
    {DType::I64, "I64", 1, 8},
    {DType::U8, "U8", 1, 1},
    {DType::BOOL, "BOOL", 1, 1},
}};

const DTypeInfo& info(DType dtype) { return kDTypes[static_cast<size_t>(dtype)]; }

}  // namespace

std::string_view dtype_name(DType dtype) { return info(dtype).name; }
size_t dtype_block_elems(DType dtype) { return info(dtype).block_elems; }
size_t dtype_block_bytes(DType dtype) { return info(dtype).block_bytes; }

size_t dtype_size(DType dtype) {
  if (info(dtype).block_elems != 1) fail("{} is block-quantized: it has no per-element size", info(dtype).name);
  return info(dtype).block_bytes;
}

size_t row_bytes(DType dtype, int64_t elems) {
  const DTypeInfo& i = info(dtype);
  if (elems % static_cast<int64_t>(i.block_elems) != 0)
    fail("{} values do not fill whole {} blocks of {}", elems, i.name, i.block_elems);
  return static_cast<size_t>(elems) / i.block_elems * i.block_bytes;
}

std::optional<DType> parse_dtype(std::string_view name) {
  for (const DTypeInfo& i : kDTypes)
    if (i.name == name && i.block_elems == 1) return i.dtype;
  return std::nullopt;
}

}  // namespace dseek
