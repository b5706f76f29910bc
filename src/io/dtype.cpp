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

constexpr std::array<DTypeInfo, 25> kDTypes{{
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
    {DType::Q8_0, "Q8_0", 32, 34},
    {DType::Q4_0, "Q4_0", 32, 18},
    {DType::Q4_1, "Q4_1", 32, 20},
    {DType::Q5_0, "Q5_0", 32, 22},
    {DType::Q5_1, "Q5_1", 32, 24},
    {DType::Q2_K, "Q2_K", 256, 84},
    {DType::Q3_K, "Q3_K", 256, 110},
    {DType::Q4_K, "Q4_K", 256, 144},
    {DType::Q5_K, "Q5_K", 256, 176},
    {DType::Q6_K, "Q6_K", 256, 210},
    {DType::Q8_K, "Q8_K", 256, 292},
    {DType::IQ4_NL, "IQ4_NL", 32, 18},
    {DType::Q4_K_R16, "Q4_K_R16", 256, 148},  // per row: 2368 bytes hold a block of each of 16 rows
    {DType::Q5_0_R16, "Q5_0_R16", 64, 44},    // per row: 704 bytes hold two blocks of each of 16 rows
    {DType::Q8_0_R16, "Q8_0_R16", 64, 68},    // per row: 1088 bytes hold two blocks of each of 16 rows
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

int64_t dtype_row_group(DType dtype) {
  return dtype == DType::Q4_K_R16 || dtype == DType::Q5_0_R16 || dtype == DType::Q8_0_R16 ? 16 : 1;
}

std::optional<DType> parse_dtype(std::string_view name) {
  for (const DTypeInfo& i : kDTypes)
    if (i.name == name && i.block_elems == 1) return i.dtype;
  return std::nullopt;
}

}  // namespace dseek
