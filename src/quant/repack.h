// Weights rearranged at load time into the layouts the running CPU's fastest kernels read, as
// ik_llama.cpp's run-time repacking and llama.cpp's CPU "extra" buffers do: Q4_K, Q5_0 and Q8_0
// rows interleaved 16 at a time (BlockQ4_KR16, BlockQ5_0R16, BlockQ8_0R16) for AVX-512 VNNI, where one vpdpbusd
// multiplies 16 rows by 4 activations with no shuffles or horizontal sums, and prefill panels
// copy lines without transposes.
#pragma once

#include <cstdint>
#include <optional>

#include "kernels/weight.h"
#include "quant/blocks.h"

namespace dseek {

// The layout repack() gives `w` on this CPU, or nullopt where its own serves best: Q4_K_R16,
// Q5_0_R16 and Q8_0_R16 for dense Q4_K, Q5_0 and Q8_0 weights of whole groups of 16 rows (and,
// for the 32-value formats, of whole pairs of blocks) while the AVX-512 VNNI kernels are active.
std::optional<DType> repacked_dtype(const Weight& w);

// w's rows (dense: row_stride == cols) in layout `to` at `out`, which holds the result's bytes()
// and is 64-byte aligned; returns the view of them.
Weight repack(const Weight& w, DType to, void* out);

// The format an interleaved one was made from: Q4_K for Q4_K_R16, and so on.
DType interleaved_source(DType interleaved);

// Blocks [b0, b0 + count) of row `row` of an interleaved weight (in its own blocks: 64 values
// for Q5_0_R16 and Q8_0_R16), as the blocks of interleaved_source it was made from, at out.
void unpack_interleaved_row(const Weight& w, int64_t row, int64_t b0, int64_t count, void* out);

}  // namespace dseek
