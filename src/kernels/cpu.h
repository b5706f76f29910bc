// Run-time CPU feature detection and the choice of kernel instruction set.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dseek {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512bf16 = false, avx512vnni = false;
};

// Instruction sets with their own kernels, in increasing capability.
enum class Isa { Scalar, Avx2, Avx512 };

const CpuFeatures& cpu_features();
bool isa_supported(Isa isa);
Isa best_isa();

// The set the kernels use: DSEEK_ISA=scalar|avx2|avx512 when given (read once, on first use;
// an unknown or unsupported value fails), else the best the CPU supports.
Isa active_isa();
// Forces the set in use (tests run every path); fails when the CPU lacks it.
void set_isa(Isa isa);

std::string_view isa_name(Isa isa);
std::optional<Isa> parse_isa(std::string_view name);

// The set in use and the notable features present, e.g. "avx512 (avx512bf16 avx512vnni)".
std::string isa_summary();

}  // namespace dseek
