// Weights rearranged at load time into the layouts the running CPU's fastest kernels read, as
// ik_llama.cpp's run-time repacking and llama.cpp's CPU "extra" buffers do: Q4_K rows
// interleaved 16 at a time (BlockQ4_KR16) for AVX-512 VNNI, where one vpdpbusd multiplies 16
// rows by 4 activations with no shuffles, and prefill panels copy lines without transposes.
#pragma once

#include <cstdint>
#include <optional>

#include "kernels/weight.h"
#include "quant/blocks.h"

namespace dseek {

// The layout repack() gives `w` on this CPU, or nullopt where its own serves best: Q4_K_R16 for
// dense Q4_K weights of whole groups of 16 rows while the AVX-512 VNNI kernels are active.
std::optional<DType> repacked_dtype(const Weight& w);

// w's rows (dense: row_stride == cols) in layout `to` at `out`, which holds the result's bytes()
// and is 64-byte aligned; returns the view of them.
Weight repack(const Weight& w, DType to, void* out);

// Blocks [b0, b0 + count) of row `row` of a Q4_K_R16 weight, as the Q4_K blocks it was made from.
void unpack_q4_k_r16_row(const Weight& w, int64_t row, int64_t b0, int64_t count, BlockQ4_K* out);

}  // namespace dseek
