#include "model/quant_plan.h"

#include <cctype>
#include <cstdio>

#include "util/error.h"

namespace dseek {
namespace {

constexpr DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0,
                                  DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::IQ4_NL, DType::Q2_K,
                                  DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};

std::string upper(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

// llama.cpp's substitutes for types whose blocks do not divide a row.
DType fallback(DType t, int64_t cols) {
  auto fits = [cols](DType d) { return cols % static_cast<int64_t>(dtype_block_elems(d)) == 0; };
  if (fits(t)) return t;
  DType f = DType::F16;
  switch (t) {
    case DType::Q4_K: f = DType::Q5_0; break;
    case DType::Q5_K: f = DType::Q5_1; break;
    case DType::Q6_K: f = DType::Q8_0; break;
    case DType::Q2_K:
    case DType::Q3_K: f = DType::IQ4_NL; break;
    default: break;
  }
  return fits(f) ? f : DType::F16;
}

// llama.cpp's layers that K-quant mixes give more bits: the first and last eighth, and every
// third layer between.
bool more_bits(int layer, int layers) {
  return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
}

// N of a "blk.N." tensor name; -1 for the others.
int layer_of(const std::string& name) {
  int layer = -1;
  return std::sscanf(name.c_str(), "blk.%d.", &layer) == 1 ? layer : -1;
}

bool contains(const std::string& name, const char* part) { return name.find(part) != std::string::npos; }

}  // namespace

DType parse_weight_type(const std::string& name, const std::string& option) {
  std::string u = upper(name);
  std::string known;
  for (DType t : kWeightTypes) {
    if (dtype_name(t) == u) return t;
    known += (known.empty() ? "" : ", ") + std::string(dtype_name(t));
  }
  fail("{}: unknown type \"{}\" (known: {}, Q3_K_M, Q4_K_M, Q5_K_M)", option, name, known);
}

QuantPlan::QuantPlan(const std::string& type, const std::vector<std::string>& tensor_types, int num_layers,
                     const std::string& type_option)
    : num_layers_(num_layers) {
  for (const std::string& spec : tensor_types) {
    size_t eq = spec.rfind('=');
    if (eq == std::string::npos || eq == 0)
      fail("--tensor-type: \"{}\" is not REGEX=TYPE (e.g. ffn_down=Q6_K)", spec);
    DType t = parse_weight_type(spec.substr(eq + 1), "--tensor-type " + spec);
    try {
      overrides_.push_back({std::regex(spec.substr(0, eq)), t});
    } catch (const std::regex_error& e) {
      fail("--tensor-type: bad regular expression \"{}\": {}", spec.substr(0, eq), e.what());
    }
  }
  std::string u = upper(type);
  if (u == "Q3_K_M") base_ = DType::Q3_K, mix_ = Mix::Q3_K_M;
  else if (u == "Q4_K_M") base_ = DType::Q4_K, mix_ = Mix::Q4_K_M;
  else if (u == "Q5_K_M") base_ = DType::Q5_K, mix_ = Mix::Q4_K_M;
  else base_ = parse_weight_type(type, type_option);
}

DType QuantPlan::preset_type(const std::string& name) const {
  if (mix_ == Mix::None) return base_;
  if (name.starts_with("output.")) return DType::Q6_K;
  const int layer = layer_of(name);
  const bool down = contains(name, "ffn_down"), kv_b = contains(name, "attn_kv_b");
  if (mix_ == Mix::Q3_K_M) {
    if (down) return layer < num_layers_ / 16 ? DType::Q5_K : DType::Q4_K;
    if (kv_b) return layer < 2 ? DType::Q5_K : DType::Q4_K;
    if (contains(name, "attn_output")) return DType::Q4_K;
    return base_;
  }
  return (down || kv_b) && more_bits(layer, num_layers_) ? DType::Q6_K : base_;
}

DType QuantPlan::choose(const std::string& name, const std::vector<int64_t>& shape) const {
  if (shape.size() < 2 || name.ends_with("ffn_gate_inp.weight")) return DType::F32;
  for (const Rule& rule : overrides_)
    if (std::regex_search(name, rule.pattern)) return fallback(rule.dtype, shape.back());
  return fallback(preset_type(name), shape.back());
}

}  // namespace dseek
