#include "model/deepseek.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <utility>

#include "kernels/activation.h"
#include "kernels/matmul.h"
#include "kernels/thread_pool.h"
#include "kernels/weight_memory.h"
#include "model/gguf_model.h"
#include "quant/repack.h"
#include "util/error.h"

namespace dseek {
namespace {

// Scratch floats, not zeroed when made or grown (value-initialization is), since every use
// writes them before it reads: zeroing a layer's buffers cost 1% of pp512.
template <typename T>
struct UninitializedAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = UninitializedAllocator<U>;
  };
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    if constexpr (sizeof...(Args) == 0) ::new (static_cast<void*>(p)) U;
    else ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
using Buffer = std::vector<float, UninitializedAllocator<float>>;

// Runs fn(begin, end) over items [0, count) of `size` floats each: split over the threads in
// prefill, where the element-wise work would otherwise leave all but one core idle between
// the matrix products; inline when a dispatch would cost more than the work (decode).
template <typename Fn>
void for_items(int64_t count, int64_t size, Fn fn) {
  constexpr int64_t kMinFloats = int64_t{1} << 15;
  if (count < 2 || count * size < kMinFloats) return fn(int64_t{0}, count);
  ThreadPool::global().parallel_for(count, [&](int, int64_t begin, int64_t end) { fn(begin, end); });
}

// Items of a flat array for for_items: one per this many floats.
constexpr int64_t kSpanFloats = 4096;

// Calls fn(i0, i1) over [0, n) in spans, on the pool when n is large.
template <typename Fn>
void for_spans(int64_t n, Fn fn) {
  for_items((n + kSpanFloats - 1) / kSpanFloats, kSpanFloats, [&](int64_t begin, int64_t end) {
    fn(begin * kSpanFloats, std::min(n, end * kSpanFloats));
  });
}

// y = x / rms(x) * gain, over rows of width n.
void rms_norm(const float* x, int64_t rows, int64_t n, const std::vector<float>& gain, double eps, float* y) {
  for_items(rows, n, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = x + r * n;
      float scale = static_cast<float>(1.0 / std::sqrt(sum_of_squares(xr, n) / n + eps));
      for (int64_t i = 0; i < n; ++i) y[r * n + i] = xr[i] * scale * gain[i];
    }
  });
}

void add_in_place(float* y, const float* x, int64_t n) {
  for_spans(n, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) y[i] += x[i];
  });
}

// Rows `rows` of x, width apart, as a dense [rows, width].
Buffer gather_rows(const float* x, int64_t width, const std::vector<int64_t>& rows) {
  Buffer out(static_cast<int64_t>(rows.size()) * width);
  for (size_t i = 0; i < rows.size(); ++i) std::copy_n(x + rows[i] * width, width, out.data() + static_cast<int64_t>(i) * width);
  return out;
}

// y[m, N] = x[m, K] · Wᵀ.
struct Product {
  const float* x;
  Weight w;
  float* y;
};

// Several products of m rows each. For one row (decode) they are one dispatch: the threads
// split the weights' bytes, balanced as they run, so that a token waits on the threads once
// rather than once per small matrix; products of the same row and format share its
// quantization.
void matmul_each(const std::vector<Product>& products, int64_t m) {
  if (m != 1) {
    for (const Product& p : products) matmul(p.x, m, p.w, p.y);
    return;
  }
  constexpr int64_t kUnit = 4096;  // weight bytes per unit of work
  std::vector<MatmulInput> inputs;
  std::vector<const MatmulInput*> input_of;
  inputs.reserve(products.size());
  std::vector<int64_t> start{0};  // each product's first byte in the concatenation
  for (const Product& p : products) {
    auto same = std::find_if(inputs.begin(), inputs.end(), [&](const MatmulInput& in) { return in.serves(p.x, p.w); });
    input_of.push_back(same != inputs.end() ? &*same : &inputs.emplace_back(p.x, 1, p.w));
    start.push_back(start.back() + p.w.bytes());
  }
  ThreadPool::global().parallel_pieces((start.back() + kUnit - 1) / kUnit, matvec_piece_bytes(start.back()) / kUnit, [&](int, int64_t begin, int64_t end) {
    // Only the products that overlap the piece.
    auto first = std::upper_bound(start.begin(), start.end(), begin * kUnit) - start.begin() - 1;
    for (size_t i = first; i < products.size() && start[i] < end * kUnit; ++i) {
      const Weight& w = products[i].w;
      // The rows whose first byte falls in [begin, end) units, in whole groups of interleaved
      // rows: consecutive ranges tile them.
      auto first_row = [&](int64_t unit) {
        const int64_t offset = std::clamp(unit * kUnit - start[i], int64_t{0}, w.bytes()), group = dtype_row_group(w.dtype);
        return (offset * w.rows + w.bytes() - 1) / w.bytes() / group * group;
      };
      if (int64_t r0 = first_row(begin), r1 = first_row(end); r1 > r0) input_of[i]->multiply_rows(w, r0, r1, products[i].y);
    }
  });
}

// silu(g) * u, in place in g.
void swiglu(float* g, const float* u, int64_t n) {
  for_spans(n, [&](int64_t i0, int64_t i1) { silu_mul(g + i0, u + i0, i1 - i0); });
}

// down(silu(g) * u) for n rows of gate's and up's outputs; g is overwritten.
void mlp_down(const MlpWeights& w, Buffer& g, const Buffer& u, int64_t n, float* out) {
  swiglu(g.data(), u.data(), n * w.gate.rows);
  matmul(g.data(), n, w.down, out);
}

// SwiGLU feed-forward, down(silu(gate(x)) * up(x)), on the rows of x, prepared for gate and up.
void mlp(const MlpWeights& w, const MatmulInput& x, int64_t n, float* out) {
  Buffer g(n * w.gate.rows), u(n * w.up.rows);
  x.multiply(w.gate, g.data());
  x.multiply(w.up, u.data());
  mlp_down(w, g, u, n, out);
}

// On n rows of x: quantized once for gate and up where they share a format and width, as
// matmul_each shares one row's.
void mlp(const MlpWeights& w, const float* x, int64_t n, float* out) {
  if (n > 1 && w.gate.dtype == w.up.dtype && w.gate.cols == w.up.cols) return mlp(w, MatmulInput(x, n, w.gate), n, out);
  Buffer g(n * w.gate.rows), u(n * w.up.rows);
  matmul_each({{x, w.gate, g.data()}, {x, w.up, u.data()}}, n);
  mlp_down(w, g, u, n, out);
}

// out[d] = sum of weight_i · mlp_i(x) for one row x: every gate and up product in one
// dispatch, every down product in another.
void mlp_sum_one(const std::vector<std::pair<const MlpWeights*, float>>& mlps, const float* x, int64_t d, float* out) {
  std::vector<Buffer> g(mlps.size()), u(mlps.size()), y(mlps.size(), Buffer(d));
  std::vector<Product> products;
  for (size_t i = 0; i < mlps.size(); ++i) {
    g[i].resize(mlps[i].first->gate.rows);
    u[i].resize(mlps[i].first->up.rows);
    products.push_back({x, mlps[i].first->gate, g[i].data()});
    products.push_back({x, mlps[i].first->up, u[i].data()});
  }
  matmul_each(products, 1);
  products.clear();
  for (size_t i = 0; i < mlps.size(); ++i) {
    swiglu(g[i].data(), u[i].data(), static_cast<int64_t>(g[i].size()));
    products.push_back({g[i].data(), mlps[i].first->down, y[i].data()});
  }
  matmul_each(products, 1);
  std::fill(out, out + d, 0.0f);
  for (size_t i = 0; i < mlps.size(); ++i)
    for (int64_t j = 0; j < d; ++j) out[j] += mlps[i].second * y[i][j];
}

// Indices of the k largest values, largest first; ties go to the lower index.
std::vector<int> top_k(const std::vector<float>& values, int k) {
  std::vector<int> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int a, int b) { return values[a] > values[b] || (values[a] == values[b] && a < b); });
  order.resize(k);
  return order;
}

}  // namespace

Route gate(const ModelConfig& c, const float* logits, const std::vector<float>& score_bias) {
  int n = c.n_routed_experts;
  std::vector<float> scores(logits, logits + n);
  if (c.scoring_func == ScoringFunc::Softmax) {
    float max = *std::max_element(scores.begin(), scores.end());
    double sum = 0;
    for (float& s : scores) sum += (s = std::exp(s - max));
    for (float& s : scores) s = static_cast<float>(s / sum);
  } else {
    for (float& s : scores) s = 1.0f / (1.0f + std::exp(-s));
  }
  // The correction bias only chooses the experts; their weights come from the plain scores.
  std::vector<float> choice = scores;
  if (!score_bias.empty())
    for (int e = 0; e < n; ++e) choice[e] += score_bias[e];
  if (c.topk_method != TopkMethod::Greedy && c.n_group > 1) {
    int per_group = n / c.n_group;
    std::vector<float> group_scores(c.n_group);
    for (int g = 0; g < c.n_group; ++g) {
      std::vector<float> members(choice.begin() + g * per_group, choice.begin() + (g + 1) * per_group);
      if (c.topk_method == TopkMethod::NoauxTc) {
        std::vector<int> best = top_k(members, 2);
        group_scores[g] = members[best[0]] + members[best[1]];
      } else {
        group_scores[g] = *std::max_element(members.begin(), members.end());
      }
    }
    std::vector<uint8_t> keep(c.n_group, 0);
    for (int g : top_k(group_scores, c.topk_group)) keep[g] = 1;
    for (int e = 0; e < n; ++e)
      if (!keep[e / per_group]) choice[e] = -std::numeric_limits<float>::infinity();
  }
  Route route;
  route.experts = top_k(choice, c.num_experts_per_tok);
  for (int e : route.experts) route.weights.push_back(scores[e]);
  if (c.norm_topk_prob) {
    float sum = std::accumulate(route.weights.begin(), route.weights.end(), 0.0f);
    for (float& w : route.weights) w /= sum;
  }
  for (float& w : route.weights) w *= static_cast<float>(c.routed_scaling_factor);
  return route;
}

namespace {

// DeepSeekMoE: each token's routed experts, weighted, plus the shared experts. Tokens are
// grouped by expert so that each expert runs one matrix product over all of its tokens.
void moe(const ModelConfig& c, const MoeWeights& w, const float* x, int64_t n, float* out) {
  int64_t d = c.hidden_size;
  Buffer logits(n * c.n_routed_experts);
  matmul(x, n, w.router, logits.data());
  if (n == 1) {
    // In expert order (as stored), then the shared experts: the sums of the batched path below.
    Route route = gate(c, logits.data(), w.score_bias);
    std::vector<std::pair<const MlpWeights*, float>> mlps;
    for (size_t k = 0; k < route.experts.size(); ++k) mlps.emplace_back(&w.experts[route.experts[k]], route.weights[k]);
    std::sort(mlps.begin(), mlps.end());
    if (w.shared) mlps.emplace_back(&*w.shared, 1.0f);
    mlp_sum_one(mlps, x, d, out);
    return;
  }
  std::vector<std::vector<std::pair<int64_t, float>>> by_expert(c.n_routed_experts);
  for (int64_t t = 0; t < n; ++t) {
    Route route = gate(c, logits.data() + t * c.n_routed_experts, w.score_bias);
    for (size_t k = 0; k < route.experts.size(); ++k) by_expert[route.experts[k]].emplace_back(t, route.weights[k]);
  }
  // x quantized once for every expert whose gate and up share the first one's format and
  // width (all of them, but for per-tensor overrides), rather than twice per expert of each
  // token: each expert copies its tokens' rows.
  const MatmulInput prepared(x, n, w.experts.front().gate);
  auto serves = [&](const MlpWeights& expert) { return prepared.serves(expert.gate) && prepared.serves(expert.up); };
  // Each expert's rows of its tokens' outputs.
  std::vector<Buffer> ys(c.n_routed_experts);
  auto run_expert = [&](int e) {
    const auto& tokens = by_expert[e];
    const auto m = static_cast<int64_t>(tokens.size());
    std::vector<int64_t> rows(m);
    for (int64_t i = 0; i < m; ++i) rows[i] = tokens[i].first;
    ys[e].resize(m * d);
    if (serves(w.experts[e])) return mlp(w.experts[e], MatmulInput(prepared, rows), m, ys[e].data());
    mlp(w.experts[e], gather_rows(x, d, rows).data(), m, ys[e].data());
  };
  // An expert with at most a thread's share of the tokens runs whole on one thread, these
  // experts balanced over the threads as they run, largest first: dispatching each of its
  // products to every thread cost a wait per product (3.5% of pp512 on V2-Lite on 2 cores).
  // Larger ones (only on many cores: an expert sees a token once) split each product.
  const int64_t threads = ThreadPool::global().size(), pairs = n * c.num_experts_per_tok;
  std::vector<int> whole, split;
  for (int e = 0; e < c.n_routed_experts; ++e) {
    const auto m = static_cast<int64_t>(by_expert[e].size());
    if (m > 0) (m * threads <= pairs ? whole : split).push_back(e);
  }
  std::stable_sort(whole.begin(), whole.end(), [&](int a, int b) { return by_expert[a].size() > by_expert[b].size(); });
  for (int e : split) run_expert(e);
  ThreadPool::global().parallel_pieces(static_cast<int64_t>(whole.size()), 1, [&](int, int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) run_expert(whole[i]);
  });
  // out = Σ weight · y over each token's experts, in expert order as decode sums them.
  std::vector<std::vector<std::pair<int, int64_t>>> rows_of(n);  // (expert, row of its ys)
  for (int e = 0; e < c.n_routed_experts; ++e)
    for (size_t i = 0; i < by_expert[e].size(); ++i) rows_of[by_expert[e][i].first].emplace_back(e, static_cast<int64_t>(i));
  for_items(n, d, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* o = out + t * d;
      std::fill(o, o + d, 0.0f);
      for (const auto& [e, i] : rows_of[t]) {
        const float weight = by_expert[e][i].second;
        const float* y = ys[e].data() + i * d;
        for (int64_t j = 0; j < d; ++j) o[j] += weight * y[j];
      }
    }
  });
  if (w.shared) {
    Buffer shared(n * d);
    if (serves(*w.shared)) mlp(*w.shared, prepared, n, shared.data());
    else mlp(*w.shared, x, n, shared.data());
    add_in_place(out, shared.data(), n * d);
  }
}

// Keys per block of the attention products in prefill, where a block is computed from the
// first token that sees any of it: smaller blocks skip more of the causal triangle.
constexpr int64_t kKeyBlock = 64;
// Up to this many query rows (decode: a token's heads), the threads split the keys instead of
// the rows; more split in pieces of this many rows.
constexpr int64_t kFewRows = 64;

// Attention computed online over blocks of keys (flash attention): per query row, the largest
// scaled score so far, the sum of exp(score - max) and o = that sum's terms times the values,
// both relative to that max.
struct AttentionPartial {
  Buffer o;
  std::vector<float> max, sum;
  AttentionPartial(int64_t rows, int64_t v_dim)
      : o(rows * v_dim, 0.0f), max(rows, -std::numeric_limits<float>::infinity()), sum(rows, 0.0f) {}
};

// Adds keys [k_begin, k_end) to the partial of query rows [r_begin, r_end), per_token rows per
// token, token i at positions[i] (ascending; out of order, a row gets no weight from keys
// past its position). keys(k0, count) and values(k0, count) view keys as F32 weights, one row
// per key, in blocks of `view_block` from its multiples where every row sees all of the block,
// else of `causal_block` (a divisor of it; k_begin is a multiple of it).
template <typename Keys, typename Values>
void attend_keys(const float* q, int64_t per_token, const std::vector<int64_t>& positions, int64_t r_begin, int64_t r_end,
                 int64_t k_begin, int64_t k_end, int64_t causal_block, int64_t view_block, float scale, Keys keys, Values values,
                 AttentionPartial& p) {
  int64_t r0 = r_begin;  // the first row that sees the block
  Buffer scores, weighed;
  for (int64_t k0 = k_begin, block; k0 < k_end; k0 += block) {
    while (r0 < r_end && positions[r0 / per_token] < k0) ++r0;
    if (r0 == r_end) break;
    block = k0 % view_block == 0 && k0 + view_block <= positions[r_begin / per_token] + 1 ? view_block : causal_block;
    const Weight key_block = keys(k0, std::min(block, k_end - k0)), value_block = values(k0, key_block.rows);
    const int64_t rows = r_end - r0, n = key_block.rows, v_dim = value_block.cols;
    scores.resize(rows * n);
    weighed.resize(rows * v_dim);
    matmul(q + r0 * key_block.cols, rows, key_block, scores.data());
    for (int64_t r = r0; r < r_end; ++r) {
      float* s = scores.data() + (r - r0) * n;
      const int64_t visible = std::clamp<int64_t>(positions[r / per_token] + 1 - k0, 0, n);
      float& max = p.max[r - r_begin];
      const float before = max, added = softmax_block(s, visible, scale, max);
      std::fill(s + visible, s + n, 0.0f);
      if (before == max) {
        p.sum[r - r_begin] += added;
        continue;
      }
      const float shrink = std::exp(before - max);
      p.sum[r - r_begin] = p.sum[r - r_begin] * shrink + added;
      float* o = p.o.data() + (r - r_begin) * v_dim;
      for (int64_t j = 0; j < v_dim; ++j) o[j] *= shrink;
    }
    matmul_rows(scores.data(), rows, value_block, weighed.data());
    add_in_place(p.o.data() + (r0 - r_begin) * v_dim, weighed.data(), rows * v_dim);
  }
}

// Causal attention of one sequence's queries over its keys [0, length): o = softmax(scale ·
// q · kᵀ) · v. Token i has position positions[i] (ascending) and per_token rows of q and o;
// keys(k0, count) and values(k0, count) view `count` keys from k0 as F32 weights, one row
// per key, for k0 a multiple of key_block and count up to it (a view's largest extent, such as
// a cache page). Many rows split over the threads in pieces of rows; few split the keys, each
// thread attending to a range of them, and the partials merge at the end.
template <typename Keys, typename Values>
void causal_attention(const float* q, int64_t per_token, const std::vector<int64_t>& positions, int64_t length,
                      int64_t key_block, float scale, Keys keys, Values values, int64_t v_dim, float* o) {
  const auto tokens = static_cast<int64_t>(positions.size());
  const int64_t rows = tokens * per_token;
  ThreadPool& pool = ThreadPool::global();
  auto finish = [&](const AttentionPartial& p, int64_t r_begin, int64_t r_end) {
    for (int64_t r = r_begin; r < r_end; ++r) {
      const float inverse = 1.0f / p.sum[r - r_begin];
      for (int64_t j = 0; j < v_dim; ++j) o[r * v_dim + j] = p.o[(r - r_begin) * v_dim + j] * inverse;
    }
  };
  if (rows > kFewRows) {
    const int64_t causal_block = std::gcd(key_block, kKeyBlock);
    pool.parallel_pieces(rows, kFewRows, [&](int, int64_t r0, int64_t r1) {
      AttentionPartial p(r1 - r0, v_dim);
      attend_keys(q, per_token, positions, r0, r1, 0, length, causal_block, key_block, scale, keys, values, p);
      finish(p, r0, r1);
    });
    return;
  }
  int64_t block = key_block;  // as large as the views allow, but a block for every thread
  while (block % 2 == 0 && block / 2 >= kKeyBlock && (length + block - 1) / block < pool.size()) block /= 2;
  const int64_t blocks = (length + block - 1) / block;
  const auto parts = std::min<int64_t>(pool.size(), blocks);
  std::vector<AttentionPartial> partials(parts, AttentionPartial(rows, v_dim));
  pool.parallel_for(parts, [&](int, int64_t begin, int64_t end) {
    for (int64_t part = begin; part < end; ++part)
      attend_keys(q, per_token, positions, 0, rows, blocks * part / parts * block, std::min(length, blocks * (part + 1) / parts * block),
                  block, block, scale, keys, values, partials[part]);
  });
  AttentionPartial& total = partials[0];
  for (int64_t part = 1; part < parts; ++part) {
    const AttentionPartial& p = partials[part];
    for (int64_t r = 0; r < rows; ++r) {
      const float max = std::max(total.max[r], p.max[r]);  // finite: the first part holds key 0
      const float a = std::exp(total.max[r] - max), b = std::exp(p.max[r] - max);
      total.max[r] = max;
      total.sum[r] = total.sum[r] * a + p.sum[r] * b;
      for (int64_t j = 0; j < v_dim; ++j) total.o[r * v_dim + j] = total.o[r * v_dim + j] * a + p.o[r * v_dim + j] * b;
    }
  }
  finish(total, 0, rows);
}

// Element i of an array of F32 or BF16 values.
const void* element(DType dtype, const void* data, int64_t i) {
  return static_cast<const char*>(data) + i * static_cast<int64_t>(dtype_size(dtype));
}

// A matrix of `rows` rows of F32 or BF16 values, `cols` of each used, row_stride apart.
Weight matrix_view(DType dtype, const void* data, int64_t rows, int64_t cols, int64_t row_stride) {
  Weight w;
  w.dtype = dtype;
  w.rows = rows;
  w.cols = cols;
  w.data = data;
  w.row_stride = row_stride;
  return w;
}

// MLA has two exact forms. Absorbed: each head's query is folded through the key half of kv_b
// into the latent space and attends over the cached latents themselves; the result is lifted by
// the value half. Expanded (as in training): kv_b turns every cached latent into per-head keys
// and values first. Expanding costs the whole cache once, but each (query, key) pair then costs
// qk + v multiply-adds per head instead of (rank + rope) + rank, so long prompts expand and
// decode does not. Counts multiply-adds for a sequence's `count` new tokens seeing `pairs` keys
// in all.
bool expansion_pays(const ModelConfig& c, int64_t count, int64_t pairs, int64_t length) {
  const int64_t rank = c.kv_lora_rank, lift = c.qk_nope_head_dim + c.v_head_dim;
  const int64_t absorbed = pairs * (2 * rank + c.qk_rope_head_dim) + count * rank * lift;
  const int64_t expanded = length * rank * lift + pairs * (c.qk_head_dim() + c.v_head_dim);
  return expanded < absorbed;
}

// Positions a head lifts at a time, so that the product's rows and results stay in L2.
constexpr int64_t kLiftBlock = 512;

// One head's keys [length, qk] and values [length, v] in the expanded form, in F32 or (bf16)
// rounded to BF16, and the scratch that lifts them: a thread's, reused from head to head.
struct ExpandedHead {
  Buffer keys, values, lifted, k_b, head_keys;
  std::vector<uint16_t> keys16, values16, k_b16;
  ExpandedHead(const ModelConfig& c, const AttentionWeights& a, int64_t length, bool bf16) {
    const int64_t qk = c.qk_head_dim(), v_dim = c.v_head_dim, nope = c.qk_nope_head_dim, block = std::min(length, kLiftBlock);
    if (bf16) keys16.resize(length * qk), values16.resize(length * v_dim);
    else keys.resize(length * qk), values.resize(length * v_dim);
    lifted.resize(block * (a.kv_b.data ? nope + v_dim : v_dim));
    if (!a.kv_b.data) {
      k_b.resize(c.kv_lora_rank * nope), head_keys.resize(block * nope);
      if (bf16) k_b16.resize(c.kv_lora_rank * nope);
    }
  }
  const void* key_data() const { return keys16.empty() ? static_cast<const void*>(keys.data()) : keys16.data(); }
  const void* value_data() const { return values16.empty() ? static_cast<const void*>(values.data()) : values16.data(); }
};

// Lifts the cached latents [length, rank] (prepared in `latents`) to head h's keys, their nope
// parts by kv_b's key rows of the head (or GGUF's k_b) then its rope key, and values, by kv_b's
// value rows of the head (or v_b).
void expand_head(const ModelConfig& c, const AttentionWeights& a, int64_t h, const MatmulInput& latents, const float* latent,
                 const float* rope_keys, int64_t length, ExpandedHead& out) {
  const int64_t nope = c.qk_nope_head_dim, rope_dim = c.qk_rope_head_dim, qk = c.qk_head_dim(), v_dim = c.v_head_dim;
  const int64_t rank = c.kv_lora_rank, lift = nope + v_dim, block = std::min(length, kLiftBlock);
  const bool bf16 = !out.keys16.empty();
  const void* lift_keys = nullptr;  // GGUF's k_b: the head's key rows transposed, [rank, nope]
  if (!a.kv_b.data) {
    dequantize_rows(a.k_b, h * rank, rank, out.k_b.data());
    if (bf16) round_to_bf16(out.k_b.data(), rank * nope, out.k_b16.data());
    lift_keys = bf16 ? static_cast<const void*>(out.k_b16.data()) : out.k_b.data();
  }
  const Weight lift_rows = a.kv_b.data ? a.kv_b.slice_rows(h * lift, lift) : a.v_b.slice_rows(h * v_dim, v_dim);
  // Per position of a block, from kv_b the nope part of the key then the value; from v_b the value.
  const int64_t lifted_width = a.kv_b.data ? lift : v_dim;
  for (int64_t p0 = 0; p0 < length; p0 += block) {
    const int64_t n = std::min(block, length - p0);
    latents.multiply(lift_rows, p0, n, out.lifted.data());
    if (lift_keys)
      matmul_rows(latent + p0 * rank, n, matrix_view(bf16 ? DType::BF16 : DType::F32, lift_keys, rank, nope, nope), out.head_keys.data());
    const float* key_rows = lift_keys ? out.head_keys.data() : out.lifted.data();  // the nope parts, key_stride apart
    const float* value_rows = out.lifted.data() + (lift_keys ? 0 : nope);
    const int64_t key_stride = lift_keys ? nope : lift;
    for (int64_t l = 0; l < n; ++l) {
      const int64_t p = p0 + l;
      const float *nope_part = key_rows + l * key_stride, *rope_part = rope_keys + p * rope_dim, *value = value_rows + l * lifted_width;
      if (bf16) {
        round_to_bf16(nope_part, nope, out.keys16.data() + p * qk);
        round_to_bf16(rope_part, rope_dim, out.keys16.data() + p * qk + nope);
        round_to_bf16(value, v_dim, out.values16.data() + p * v_dim);
      } else {
        std::copy_n(nope_part, nope, out.keys.data() + p * qk);
        std::copy_n(rope_part, rope_dim, out.keys.data() + p * qk + nope);
        std::copy_n(value, v_dim, out.values.data() + p * v_dim);
      }
    }
  }
}

// Expanded-form attention of one sequence's tokens (ascending positions) over its cache; each
// head's output goes to heads_out [token, head, v]. q holds rotated rope parts.
void attend_expanded(const ModelConfig& c, const AttentionWeights& a, int layer, int sequence,
                     const std::vector<int64_t>& tokens, const std::vector<int64_t>& positions, int64_t length,
                     const float* q, KvCache& cache, float* heads_out) {
  const int64_t heads = c.num_attention_heads, rope_dim = c.qk_rope_head_dim, qk = c.qk_head_dim(), v_dim = c.v_head_dim;
  const int64_t rank = c.kv_lora_rank, count = static_cast<int64_t>(tokens.size());
  Buffer latent(length * rank);
  for_items(length, rank, [&](int64_t begin, int64_t end) {
    cache.read(layer, sequence, begin, end - begin, 0, rank, latent.data() + begin * rank);
  });
  Buffer rope_keys(length * rope_dim);
  cache.read(layer, sequence, 0, length, rank, rope_dim, rope_keys.data());
  // With BF16 activations over a BF16 cache, the keys and values expanded from it are rounded to
  // BF16 too, so that the attention products run on vdpbf16ps, as the absorbed form's do; so is
  // k_b, which lifts the keys.
  const bool bf16 = cache.dtype() == DType::BF16 && bf16_activations();
  const DType kv_type = bf16 ? DType::BF16 : DType::F32;

  // The heads split over the threads, each lifting the latents by its own rows of kv_b (or v_b)
  // and attending on its own: per key block, the products are too small to split again. Lifted
  // for all heads at once, the cache took length x heads x (nope + v) floats (800 MB with BF16 at
  // 32K tokens on V2-Lite, eight times that on V3), and gathering a head's rows from it, each on
  // its own page, cost more than lifting per head does. The latents are quantized once.
  const float scale = static_cast<float>(c.softmax_scale());
  const MatmulInput latents(latent.data(), length, a.kv_b.data ? a.kv_b : a.v_b);
  ThreadPool::global().parallel_for(heads, [&](int, int64_t h_begin, int64_t h_end) {
    ExpandedHead head(c, a, length, bf16);
    Buffer queries(count * qk), o(count * v_dim);
    for (int64_t h = h_begin; h < h_end; ++h) {
      for (int64_t i = 0; i < count; ++i) std::copy_n(q + (tokens[i] * heads + h) * qk, qk, queries.data() + i * qk);
      expand_head(c, a, h, latents, latent.data(), rope_keys.data(), length, head);
      causal_attention(
          queries.data(), 1, positions, length, cache.page_tokens(), scale,
          [&](int64_t k0, int64_t n) { return matrix_view(kv_type, element(kv_type, head.key_data(), k0 * qk), n, qk, qk); },
          [&](int64_t k0, int64_t n) { return matrix_view(kv_type, element(kv_type, head.value_data(), k0 * v_dim), n, v_dim, v_dim); },
          v_dim, o.data());
      for (int64_t i = 0; i < count; ++i)
        std::copy_n(o.data() + i * v_dim, v_dim, heads_out + (tokens[i] * heads + h) * v_dim);
    }
  });
}

// Absorbed-form attention of the given tokens (grouped by sequence, ascending positions within
// each); each head's output goes to heads_out [token, head, v]. q holds rotated rope parts.
void attend_absorbed(const ModelConfig& c, const AttentionWeights& a, int layer, const Batch& batch,
                     const std::vector<int64_t>& tokens, const float* q, KvCache& cache, float* heads_out) {
  const int64_t heads = c.num_attention_heads, nope = c.qk_nope_head_dim, rope_dim = c.qk_rope_head_dim;
  const int64_t qk = c.qk_head_dim(), v_dim = c.v_head_dim, rank = c.kv_lora_rank, width = rank + rope_dim;
  const int64_t n = static_cast<int64_t>(tokens.size());

  // Queries in cache space, one row per (token, head): [q_nope · W_uk, q_pe].
  Buffer q_latent(n * heads * width);
  ThreadPool::global().parallel_for(heads, [&](int, int64_t h_begin, int64_t h_end) {
    Buffer q_nope(n * nope), folded(n * rank);
    for (int64_t h = h_begin; h < h_end; ++h) {
      for (int64_t i = 0; i < n; ++i) std::copy_n(q + (tokens[i] * heads + h) * qk, nope, q_nope.data() + i * nope);
      if (a.k_b.data) matmul(q_nope.data(), n, a.k_b.slice_rows(h * rank, rank), folded.data());
      else matmul_rows(q_nope.data(), n, a.kv_b.slice_rows(h * (nope + v_dim), nope), folded.data());
      for (int64_t i = 0; i < n; ++i) {
        float* row = q_latent.data() + (i * heads + h) * width;
        std::copy_n(folded.data() + i * rank, rank, row);
        std::copy_n(q + (tokens[i] * heads + h) * qk + nope, rope_dim, row + rank);
      }
    }
  });

  // Attention of each sequence's tokens over that sequence's cache, page by page.
  Buffer o_latent(n * heads * rank);
  const int64_t page_tokens = cache.page_tokens();
  for (int64_t first = 0; first < n;) {
    const int sequence = batch.sequences[tokens[first]];
    std::vector<int64_t> positions;
    for (int64_t i = first; i < n && batch.sequences[tokens[i]] == sequence; ++i)
      positions.push_back(batch.positions[tokens[i]]);
    const int64_t length = *std::max_element(positions.begin(), positions.end()) + 1;
    // Keys [k0, k0 + count) of the cache within one page, `cols` values of each (all: the key;
    // the first rank: the value).
    auto cached = [&](int64_t cols) {
      return [&, cols](int64_t k0, int64_t count) { return cache.rows(layer, sequence, k0, count, cols); };
    };
    causal_attention(q_latent.data() + first * heads * width, heads, positions, length, page_tokens,
                     static_cast<float>(c.softmax_scale()), cached(width), cached(rank), rank,
                     o_latent.data() + first * heads * rank);
    first += static_cast<int64_t>(positions.size());
  }

  // Lift each head's attended latent by its value rows of kv_b.
  ThreadPool::global().parallel_for(heads, [&](int, int64_t h_begin, int64_t h_end) {
    Buffer latent(n * rank), value(n * v_dim);
    for (int64_t h = h_begin; h < h_end; ++h) {
      for (int64_t i = 0; i < n; ++i) std::copy_n(o_latent.data() + (i * heads + h) * rank, rank, latent.data() + i * rank);
      Weight lift = a.v_b.data ? a.v_b.slice_rows(h * v_dim, v_dim) : a.kv_b.slice_rows(h * (nope + v_dim) + nope, v_dim);
      matmul(latent.data(), n, lift, value.data());
      for (int64_t i = 0; i < n; ++i)
        std::copy_n(value.data() + i * v_dim, v_dim, heads_out + (tokens[i] * heads + h) * v_dim);
    }
  });
}

// Multi-head latent attention: the cache keeps one normalized latent and one rotated rope key
// per token; each sequence attends in whichever exact form is cheaper (expansion_pays). Every
// token of the batch goes to the cache, but only the rows in `kept` (ascending) attend: out is
// [kept, hidden].
void mla(const ModelConfig& c, const AttentionWeights& a, int layer, const float* x, const Batch& batch,
         const Rope::Table& rope, KvCache& cache, const std::vector<int64_t>& kept, float* out) {
  const int64_t n = batch.size(), heads = c.num_attention_heads;
  const int64_t nope = c.qk_nope_head_dim, rope_dim = c.qk_rope_head_dim, qk = c.qk_head_dim();
  const int64_t v_dim = c.v_head_dim, rank = c.kv_lora_rank, width = rank + rope_dim;

  Buffer q(n * heads * qk), qa(n * c.q_lora_rank), kv(n * width);
  if (c.q_lora_rank > 0) {
    matmul_each({{x, a.q_a, qa.data()}, {x, a.kv_a, kv.data()}}, n);
    rms_norm(qa.data(), n, c.q_lora_rank, a.q_a_norm, c.rms_norm_eps, qa.data());
    matmul(qa.data(), n, a.q_b, q.data());
  } else {
    matmul_each({{x, a.q, q.data()}, {x, a.kv_a, kv.data()}}, n);
  }

  // The cache row of each token: its normalized latent and its rotated rope key; and the
  // rotated rope part of each head's query.
  for_items(n, heads * qk, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* row = kv.data() + t * width;
      rms_norm(row, 1, rank, a.kv_a_norm, c.rms_norm_eps, row);
      Rope::rotate(row + rank, rope, t);
      cache.write(layer, batch.sequences[t], batch.positions[t], row);
      for (int64_t h = 0; h < heads; ++h) Rope::rotate(q.data() + (t * heads + h) * qk + nope, rope, t);
    }
  });

  std::map<int, std::vector<int64_t>> by_sequence;
  for (int64_t t : kept) by_sequence[batch.sequences[t]].push_back(t);
  Buffer heads_out(n * heads * v_dim);
  std::vector<int64_t> absorbed;
  for (const auto& [sequence, tokens] : by_sequence) {
    std::vector<int64_t> positions;
    int64_t pairs = 0;
    for (int64_t t : tokens) {
      positions.push_back(batch.positions[t]);
      pairs += batch.positions[t] + 1;
    }
    const int64_t length = *std::max_element(positions.begin(), positions.end()) + 1;
    if (expansion_pays(c, static_cast<int64_t>(tokens.size()), pairs, length))
      attend_expanded(c, a, layer, sequence, tokens, positions, length, q.data(), cache, heads_out.data());
    else
      absorbed.insert(absorbed.end(), tokens.begin(), tokens.end());
  }
  if (!absorbed.empty()) attend_absorbed(c, a, layer, batch, absorbed, q.data(), cache, heads_out.data());
  const auto m = static_cast<int64_t>(kept.size());
  if (m < n) heads_out = gather_rows(heads_out.data(), heads * v_dim, kept);
  if (m > 0) matmul(heads_out.data(), m, a.o, out);
}

// One transformer block: h + attn(norm(h)), then + ffn(norm(h)), carried on for the rows in
// `kept` (ascending) only: h becomes [kept, hidden]. All of h's tokens still reach the cache.
void block(const ModelConfig& c, const LayerWeights& l, int layer, Buffer& h, const Batch& batch,
           const Rope::Table& rope, KvCache& cache, const std::vector<int64_t>& kept) {
  const int64_t n = batch.size(), d = c.hidden_size, m = static_cast<int64_t>(kept.size());
  Buffer normed(n * d), delta(m * d);
  rms_norm(h.data(), n, d, l.attn_norm, c.rms_norm_eps, normed.data());
  mla(c, l.attn, layer, normed.data(), batch, rope, cache, kept, delta.data());
  if (m == 0) {
    h.clear();
    return;
  }
  if (m < n) h = gather_rows(h.data(), d, kept);
  add_in_place(h.data(), delta.data(), m * d);
  rms_norm(h.data(), m, d, l.ffn_norm, c.rms_norm_eps, normed.data());
  if (l.moe) moe(c, *l.moe, normed.data(), m, delta.data());
  else mlp(*l.mlp, normed.data(), m, delta.data());
  add_in_place(h.data(), delta.data(), m * d);
}

}  // namespace

namespace {

// Gives the pages wholly inside [data, data + bytes) back to the system: the originals of
// repacked weights, mapped from a file (which could page them in again) or made in memory, and
// never read again. Advice only: where it fails, the pages stay.
void release_pages(const void* data, int64_t bytes) {
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + static_cast<uintptr_t>(bytes)) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

// Reads one byte of every page so the kernel maps the file in now, not during a request.
void fault_in(const Checkpoint& checkpoint, const LoadProgress& progress) {
  std::vector<const TensorView*> tensors;
  int64_t total = 0, done = 0, reported = 0;
  for (const std::string& name : checkpoint.names()) {
    tensors.push_back(&checkpoint.get(name));
    total += static_cast<int64_t>(tensors.back()->nbytes);
  }
  constexpr int64_t kPage = 4096, kReportEvery = 64 << 20;
  for (const TensorView* t : tensors) {
    const volatile unsigned char* bytes = static_cast<const unsigned char*>(t->data);
    for (size_t offset = 0; offset < t->nbytes; offset += kPage) (void)bytes[offset];
    done += static_cast<int64_t>(t->nbytes);
    if (done - reported >= kReportEvery) {
      progress(done, total);
      reported = done;
    }
  }
  progress(total, total);
}

// Tensors made on demand; progress reports the bytes made of a total estimated from the
// parameter count at the bytes per parameter so far (types differ from tensor to tensor).
TensorLookup random_lookup(const ModelConfig& config, RandomWeights& source, const LoadProgress& progress) {
  double parameters = static_cast<double>(config.parameter_count(false));
  return [&source, progress, parameters](const std::string& name, const std::vector<int64_t>& shape) {
    const TensorView* t = source.get(name, shape);
    if (t && progress && source.elements_made() > 0) {
      double bytes = static_cast<double>(source.bytes_made());
      progress(source.bytes_made(), static_cast<int64_t>(bytes * parameters / static_cast<double>(source.elements_made())));
    }
    return t;
  };
}

ModelConfig random_config(const ModelConfig& config, bool fp8) {
  ModelConfig c = config;
  c.num_nextn_predict_layers = 0;  // speculative decoding with random weights measures nothing
  c.fp8_weights = fp8;
  return c;
}

}  // namespace

std::unique_ptr<DeepSeekModel> DeepSeekModel::load(const std::string& model_dir, const LoadProgress& progress) {
  ModelConfig config = load_model_config(model_dir);
  std::unique_ptr<DeepSeekModel> model(new DeepSeekModel(config));
  model->checkpoint_ = Checkpoint::open(model_dir);
  const Checkpoint& ckpt = *model->checkpoint_;
  model->weights_ = bind_weights(
      config, [&](const std::string& name, const std::vector<int64_t>&) { return ckpt.find(name); }, model_dir);
  if (progress) fault_in(ckpt, progress);
  return model;
}

std::unique_ptr<DeepSeekModel> DeepSeekModel::random(const ModelConfig& config, DType dtype, uint64_t seed,
                                                     const LoadProgress& progress) {
  ModelConfig c = random_config(config, dtype == DType::F8_E4M3);
  std::unique_ptr<DeepSeekModel> model(new DeepSeekModel(c));
  model->random_ = std::make_unique<RandomWeights>(c, dtype, seed);
  model->weights_ = bind_weights(c, random_lookup(c, *model->random_, progress), "random weights");
  if (progress) progress(model->random_->bytes_made(), model->random_->bytes_made());
  return model;
}

std::unique_ptr<DeepSeekModel> DeepSeekModel::random(const ModelConfig& config, const QuantPlan& plan, uint64_t seed,
                                                     const LoadProgress& progress) {
  ModelConfig c = random_config(config, false);
  std::unique_ptr<DeepSeekModel> model(new DeepSeekModel(c));
  model->random_ = std::make_unique<RandomWeights>(c, plan, seed);
  model->weights_ = bind_gguf_weights(c, random_lookup(c, *model->random_, progress), "random weights");
  if (progress) progress(model->random_->bytes_made(), model->random_->bytes_made());
  return model;
}

std::unique_ptr<DeepSeekModel> DeepSeekModel::load_gguf(const std::string& path, const LoadProgress& progress) {
  auto file = std::make_unique<GgufFile>(path);
  std::unique_ptr<DeepSeekModel> model(new DeepSeekModel(gguf_model_config(*file)));
  model->weights_ = bind_gguf_weights(model->config_, *file);
  model->gguf_ = std::move(file);
  if (progress) {
    // Fault the mapping in now, as load() does, so the first request is not slow.
    const std::vector<TensorView>& tensors = model->gguf_->tensors();
    int64_t total = 0, done = 0;
    for (const TensorView& t : tensors) total += static_cast<int64_t>(t.nbytes);
    for (const TensorView& t : tensors) {
      const volatile unsigned char* bytes = static_cast<const unsigned char*>(t.data);
      for (size_t offset = 0; offset < t.nbytes; offset += 4096) (void)bytes[offset];
      progress(done += static_cast<int64_t>(t.nbytes), total);
    }
    progress(total, total);
  }
  return model;
}

DeepSeekModel::Placement DeepSeekModel::repack_weights(std::optional<int64_t> budget_bytes) {
  if (!placed_.empty()) return {};
  std::vector<Weight*> targets;
  auto add = [&](Weight& w) {
    if (w.data) targets.push_back(&w);
  };
  auto add_mlp = [&](MlpWeights& m) {
    for (Weight* w : {&m.gate, &m.up, &m.down}) add(*w);
  };
  // Every matrix that matmul reads; kv_b and the embedding are read by rows (matmul_rows, row
  // lookups), which interleaved layouts serve slowly. k_b is read by rows too, but only once
  // per head and prefill, while decode multiplies it per head and token.
  auto add_layer = [&](LayerWeights& l) {
    for (Weight* w : {&l.attn.q, &l.attn.q_a, &l.attn.q_b, &l.attn.kv_a, &l.attn.k_b, &l.attn.v_b, &l.attn.o}) add(*w);
    if (l.mlp) add_mlp(*l.mlp);
    if (l.moe) {
      for (MlpWeights& expert : l.moe->experts) add_mlp(expert);
      if (l.moe->shared) add_mlp(*l.moe->shared);
    }
  };
  for (LayerWeights& l : weights_.layers) add_layer(l);
  for (MtpWeights& m : weights_.mtp) {
    for (Weight* w : {&m.eh_proj, &m.head}) add(*w);
    add_layer(m.block);
  }
  add(weights_.lm_head);

  // Each target's new form: another layout, or the same bytes where only the pages change.
  // Without huge pages a copy gains nothing; views that skip columns and FP8 weights (whose
  // scales live apart) stay where they are; and so does what would not fit in the budget.
  const bool huge_pages = WeightMemory::huge_pages();
  const int64_t available = WeightMemory::available_bytes();
  const int64_t budget = budget_bytes ? *budget_bytes : available < 0 ? std::numeric_limits<int64_t>::max() : available / 10 * 9;
  struct Move {
    Weight* source;
    Weight to;
  };
  std::vector<Move> pending;
  for (Weight* w : targets) {
    Weight to = *w;
    const std::optional<DType> layout = repacked_dtype(*w);
    if (layout) to.dtype = *layout;
    else if (!huge_pages || w->row_stride != w->cols || w->block_scale) continue;
    pending.push_back({w, to});
  }
  // A file's pages stay cached when their mapping goes, so what is placed from a file counts
  // against the budget for good. Weights made in memory give their pages back as they are
  // placed: those go in rounds, each within the budget, until all are placed.
  const bool gives_back = random_ != nullptr;
  Placement result;
  do {
    std::vector<Move> round, later;
    std::vector<size_t> offsets;
    size_t size = 0;
    int64_t round_bytes = 0;
    for (const Move& move : pending) {
      if (round_bytes + move.to.bytes() > budget) {
        later.push_back(move);
        continue;
      }
      round_bytes += move.to.bytes();
      (move.to.dtype != move.source->dtype ? result.repacked_bytes : result.moved_bytes) += move.to.bytes();
      round.push_back(move);
      offsets.push_back(size);
      size += (static_cast<size_t>(move.to.bytes()) + 63) / 64 * 64;  // the repacked layouts want 64-byte alignment
    }
    WeightMemory& memory = *placed_.emplace_back(std::make_unique<WeightMemory>(size));
    ThreadPool::global().parallel_for(static_cast<int64_t>(round.size()), [&](int, int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const Weight source = *round[i].source;
        unsigned char* to = memory.data() + offsets[i];
        if (round[i].to.dtype != source.dtype) {
          *round[i].source = repack(source, round[i].to.dtype, to);
        } else {
          std::memcpy(to, source.data, static_cast<size_t>(source.bytes()));
          round[i].source->data = to;
        }
        if (source.data != weights_.embed.data) release_pages(source.data, source.bytes());  // a tied head's rows are still read
      }
    });
    result.peak_bytes = std::max(result.peak_bytes, round_bytes);
    if (round.empty()) break;
    pending = std::move(later);
  } while (gives_back && !pending.empty());
  return result;
}

KvCache DeepSeekModel::make_cache(int64_t capacity_tokens) const {
  return KvCache(config_.num_hidden_layers, config_.kv_lora_rank + config_.qk_rope_head_dim, capacity_tokens,
                 KvCache::kDefaultPageTokens, cache_dtype_);
}

std::vector<float> DeepSeekModel::forward(const Batch& batch, KvCache& cache) const {
  const ModelConfig& c = config_;
  const int64_t n = batch.size(), d = c.hidden_size;
  for (int64_t t = 0; t < n; ++t) {
    if (batch.tokens[t] < 0 || batch.tokens[t] >= c.vocab_size)
      fail("token id {} is outside the vocabulary [0, {})", batch.tokens[t], c.vocab_size);
    if (batch.positions[t] < 0 || batch.positions[t] >= c.max_position_embeddings)
      fail("position {} is outside the model's context [0, {})", batch.positions[t], c.max_position_embeddings);
  }
  Buffer h(n * d);
  for (int64_t t = 0; t < n; ++t) dequantize_rows(weights_.embed, batch.tokens[t], 1, h.data() + t * d);
  Rope::Table rope = rope_.table(batch.positions);
  // The last block carries on only the tokens whose logits are wanted (a prompt's last, in
  // prefill): the others' states after it would be read by nothing.
  std::vector<int64_t> all(n), wanted;
  std::iota(all.begin(), all.end(), 0);
  for (int64_t t = 0; t < n; ++t)
    if (batch.want_logits[t]) wanted.push_back(t);
  for (int l = 0; l < c.num_hidden_layers; ++l)
    block(c, weights_.layers[l], l, h, batch, rope, cache, l + 1 < c.num_hidden_layers ? all : wanted);

  const auto m = static_cast<int64_t>(wanted.size());
  Buffer normed(m * d);
  std::vector<float> logits(m * c.vocab_size);
  rms_norm(h.data(), m, d, weights_.final_norm, c.rms_norm_eps, normed.data());
  matmul(normed.data(), m, weights_.lm_head, logits.data());
  return logits;
}

}  // namespace dseek
