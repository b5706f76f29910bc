#include "kernels/cpu.h"

#include <atomic>
#include <cstdlib>

#include "util/error.h"

namespace dseek {
namespace {

CpuFeatures detect() {
  __builtin_cpu_init();
  CpuFeatures f;
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  // GCC 12 has no "f16c" name for __builtin_cpu_supports: CPUID.1:ECX bit 29.
  unsigned eax, ebx, ecx, edx;
  __asm__("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(1), "c"(0));
  f.f16c = (ecx >> 29) & 1;
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512bf16 = __builtin_cpu_supports("avx512bf16");
  f.avx512vnni = __builtin_cpu_supports("avx512vnni");
  return f;
}

Isa initial_isa() {
  const char* env = std::getenv("DSEEK_ISA");
  if (!env || !*env) return best_isa();
  std::optional<Isa> isa = parse_isa(env);
  if (!isa) fail("DSEEK_ISA={} is not one of scalar, avx2, avx512", env);
  if (!isa_supported(*isa)) fail("DSEEK_ISA={}: this CPU lacks the instructions it needs", env);
  return *isa;
}

// -1 until first use: the environment is read lazily so that a bad value surfaces as an Error.
std::atomic<int> g_isa{-1};

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

bool isa_supported(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::Scalar:
      return true;
    case Isa::Avx2:
      return f.avx2 && f.fma && f.f16c;
    case Isa::Avx512:
      return f.avx512f && f.avx512bw && f.avx512vl && f.fma && f.f16c;
  }
  return false;
}

Isa best_isa() {
  if (isa_supported(Isa::Avx512)) return Isa::Avx512;
  if (isa_supported(Isa::Avx2)) return Isa::Avx2;
  return Isa::Scalar;
}

Isa active_isa() {
  int isa = g_isa.load(std::memory_order_relaxed);
  if (isa < 0) {
    isa = static_cast<int>(initial_isa());
    g_isa.store(isa, std::memory_order_relaxed);
  }
  return static_cast<Isa>(isa);
}

void set_isa(Isa isa) {
  if (!isa_supported(isa)) fail("this CPU cannot run the {} kernels", isa_name(isa));
  g_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
}

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar:
      return "scalar";
    case Isa::Avx2:
      return "avx2";
    case Isa::Avx512:
      return "avx512";
  }
  return "?";
}

std::optional<Isa> parse_isa(std::string_view name) {
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512})
    if (name == isa_name(isa)) return isa;
  return std::nullopt;
}

std::string isa_summary() {
  const CpuFeatures& f = cpu_features();
  std::string extras;
  if (f.avx512bf16) extras += " avx512bf16";
  if (f.avx512vnni) extras += " avx512vnni";
  std::string summary(isa_name(active_isa()));
  if (!extras.empty()) summary += " (cpu also has" + extras + ")";
  return summary;
}

}  // namespace dseek
