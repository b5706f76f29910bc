#include "model/random_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/convert.h"
#include "kernels/thread_pool.h"
#include "quant/formats.h"
#include "util/error.h"

namespace dseek {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t hash_name(const std::string& name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Fills n values uniform in [center - spread, center + spread] (16-bit resolution, plenty
// for weights that only need to look trained), in parallel, reproducibly.
template <typename Store>
void fill_uniform(int64_t n, uint64_t seed, float center, float spread, Store store) {
  constexpr int64_t kChunk = 1 << 16;
  const float step = 2.0f * spread / 65536.0f, low = center - spread;
  ThreadPool::global().parallel_for((n + kChunk - 1) / kChunk, [&](int, int64_t begin, int64_t end) {
    for (int64_t chunk = begin; chunk < end; ++chunk) {
      uint64_t state = seed ^ (static_cast<uint64_t>(chunk) * 0x632be59bd9b4e019ull), bits = 0;
      int64_t stop = std::min(n, (chunk + 1) * kChunk);
      for (int64_t i = chunk * kChunk; i < stop; ++i) {
        if ((i & 3) == 0) bits = splitmix64(state);  // four 16-bit draws per call
        store(i, low + step * static_cast<float>(bits & 0xffff));
        bits >>= 16;
      }
    }
  });
}

// `blocks` random blocks of a quantized type holding values uniform in [-spread, spread]. Past
// a pool's worth, blocks of the pool tiled in random order: quantizing every block (a
// least-squares search each) would take tens of minutes for a 16B model on few cores.
void fill_blocks(DType dtype, int64_t blocks, uint64_t seed, float spread, unsigned char* out) {
  constexpr int64_t kPool = 256, kChunk = 1 << 14;  // kPool: a power of two
  const int64_t elems = static_cast<int64_t>(dtype_block_elems(dtype)), made = std::min(blocks, kPool);
  const size_t bytes = dtype_block_bytes(dtype);
  std::vector<float> values(made * elems);
  fill_uniform(made * elems, seed, 0, spread, [&](int64_t i, float x) { values[i] = x; });
  std::vector<unsigned char> pool(blocks > kPool ? kPool * bytes : 0);
  unsigned char* dst = blocks > kPool ? pool.data() : out;
  ThreadPool::global().parallel_for(made, [&](int, int64_t begin, int64_t end) {
    quantize_row(dtype, values.data() + begin * elems, dst + begin * bytes, (end - begin) * elems);
  });
  if (blocks <= kPool) return;
  ThreadPool::global().parallel_for((blocks + kChunk - 1) / kChunk, [&](int, int64_t begin, int64_t end) {
    for (int64_t chunk = begin; chunk < end; ++chunk) {
      uint64_t state = ~seed ^ (static_cast<uint64_t>(chunk) * 0x632be59bd9b4e019ull), bits = 0;
      int64_t stop = std::min(blocks, (chunk + 1) * kChunk);
      for (int64_t i = chunk * kChunk; i < stop; ++i) {
        if ((i & 3) == 0) bits = splitmix64(state);  // four 16-bit draws per call
        std::memcpy(out + i * bytes, pool.data() + (bits & (kPool - 1)) * bytes, bytes);
        bits >>= 16;
      }
    }
  });
}

}  // namespace

RandomWeights::RandomWeights(const ModelConfig& config, DType dtype, uint64_t seed)
    : config_(config), dtype_(dtype), seed_(seed) {
  if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16 && dtype != DType::F8_E4M3)
    fail("random weights: unsupported dtype {} (use F32, F16, BF16 or F8_E4M3)", dtype_name(dtype));
}

RandomWeights::RandomWeights(const ModelConfig& config, const QuantPlan& plan, uint64_t seed)
    : config_(config), plan_(plan), seed_(seed) {}

TensorView& RandomWeights::make(const std::string& name, DType dtype, const std::vector<int64_t>& shape) {
  Owned& t = tensors_[name];
  t.view.name = name;
  t.view.file = "random weights";
  t.view.dtype = dtype;
  t.view.shape = shape;
  t.view.nbytes = row_bytes(dtype, shape.back()) * static_cast<size_t>(t.view.numel() / shape.back());
  t.bytes.reset(new unsigned char[t.view.nbytes]);  // uninitialized: filled below
  t.view.data = t.bytes.get();
  bytes_made_ += static_cast<int64_t>(t.view.nbytes);
  return t.view;
}

const TensorView* RandomWeights::get(const std::string& name, const std::vector<int64_t>& shape) {
  if (auto it = tensors_.find(name); it != tensors_.end()) return &it->second.view;
  uint64_t seed = seed_ ^ hash_name(name);
  if (shape.size() == 1) {
    // Norm gains near 1; the routing bias small, as trained models have them.
    bool bias = ends_with(name, "e_score_correction_bias") || ends_with(name, "exp_probs_b.bias");
    TensorView& v = make(name, DType::F32, shape);
    elements_made_ += shape[0];
    float* out = static_cast<float*>(const_cast<void*>(v.data));
    fill_uniform(shape[0], seed, bias ? 0.0f : 1.0f, bias ? 0.05f : 0.1f, [&](int64_t i, float x) { out[i] = x; });
    return &v;
  }
  // 2-D matrices, and under GGUF names also routed experts stacked [E, N, K] and attention's
  // per-head k_b and v_b [H, N, K].
  if (shape.size() < 2 || shape.size() > 3 || ends_with(name, "_scale_inv")) return nullptr;
  bool embedding = ends_with(name, "embed_tokens.weight") || name == "token_embd.weight";
  bool router = ends_with(name, "mlp.gate.weight") || ends_with(name, "ffn_gate_inp.weight");
  bool keep_bf16 = embedding || router || name == "lm_head.weight";
  DType dtype = plan_ ? plan_->choose(name, shape) : (dtype_ == DType::F8_E4M3 && keep_bf16 ? DType::BF16 : dtype_);
  // Unit-variance inputs give unit-variance outputs: uniform of variance 1/K (gain 2 for the
  // router). k_b is kv_b's key half transposed: its values keep kv_b's K, the latent rank.
  int64_t k = ends_with(name, "attn_k_b.weight") ? shape[1] : shape.back();
  float spread = embedding ? std::sqrt(3.0f) : (router ? 2.0f : 1.0f) * std::sqrt(3.0f / k);
  TensorView& v = make(name, dtype, shape);
  void* data = const_cast<void*>(v.data);
  int64_t n = v.numel();
  elements_made_ += n;
  switch (dtype) {
    case DType::F32:
      fill_uniform(n, seed, 0, spread, [&](int64_t i, float x) { static_cast<float*>(data)[i] = x; });
      break;
    case DType::F16:
      fill_uniform(n, seed, 0, spread, [&](int64_t i, float x) { static_cast<uint16_t*>(data)[i] = f32_to_f16(x); });
      break;
    case DType::BF16:
      fill_uniform(n, seed, 0, spread, [&](int64_t i, float x) { static_cast<uint16_t*>(data)[i] = f32_to_bf16(x); });
      break;
    case DType::F8_E4M3: {
      // E4M3 codes of magnitude 0.5..3.75 with random signs, and one scale per 128x128 block.
      fill_uniform(n, seed, 0, 1.0f, [&](int64_t i, float x) {
        uint32_t bits = std::bit_cast<uint32_t>(x);
        uint8_t exponent = static_cast<uint8_t>(6 + (bits >> 3) % 3), mantissa = bits & 7;
        static_cast<uint8_t*>(data)[i] = static_cast<uint8_t>((x < 0 ? 0x80 : 0) | (exponent << 3) | mantissa);
      });
      int64_t br = config_.weight_block_rows, bc = config_.weight_block_cols;
      TensorView& scale = make(name + "_scale_inv", DType::F32, {(shape[0] + br - 1) / br, (shape[1] + bc - 1) / bc});
      float* s = static_cast<float*>(const_cast<void*>(scale.data));
      for (int64_t i = 0; i < scale.numel(); ++i) s[i] = spread / (std::sqrt(3.0f) * 1.9f);
      break;
    }
    default:
      fill_blocks(dtype, n / static_cast<int64_t>(dtype_block_elems(dtype)), seed, spread, static_cast<unsigned char*>(data));
  }
  return &v;
}

}  // namespace dseek
