// One forward pass's worth of tokens, from any number of sequences: a prompt's prefill,
// one decode token per running sequence, or a continuous-batching step mixing both.
#pragma once

#include <cstdint>
#include <vector>

namespace dseek {

struct Batch {
  std::vector<int32_t> tokens;
  std::vector<int64_t> positions;  // position of each token in its sequence
  std::vector<int> sequences;      // the KV-cache sequence each token belongs to
  std::vector<uint8_t> want_logits;

  void add(int32_t token, int64_t position, int sequence, bool logits) {
    tokens.push_back(token);
    positions.push_back(position);
    sequences.push_back(sequence);
    want_logits.push_back(logits ? 1 : 0);
  }
  int64_t size() const { return static_cast<int64_t>(tokens.size()); }
  void clear() { *this = Batch{}; }
};

}  // namespace dseek
