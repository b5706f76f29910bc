// Deterministic mutation fuzzing of the safetensors reader: whatever the bytes, reading either
// succeeds with a self-consistent result or throws dseek::Error. Anything else is a bug.
#include <algorithm>
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "io/safetensors.h"
#include "io_test_util.h"
#include "util/error.h"

namespace dseek {
namespace {

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}

  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng_() % n); }

  // Applies 1 to 4 random edits.
  std::string mutate(std::string s) {
    for (size_t edits = 1 + below(4); edits > 0; --edits) edit(s);
    return s;
  }

 private:
  void edit(std::string& s) {
    static const char* const kTokens[] = {
        "0", "7", "-", "[", "]", "{", "}", "\"", ",", ":", " ", "-1", "1.5", "1e999", "null", "true",
        "18446744073709551615", "18446744073709551616", "9223372036854775807", "9223372036854775808",
        "4294967296", "\\u0000", "\\ud800", "\xff\xfe", "[[[[[[[[[[", "\"__metadata__\":", "\"dtype\":\"F64\"",
        "\"shape\":[]", "\"data_offsets\":[0,0]"};
    switch (below(8)) {
      case 0:  // flip bits, often in the 8-byte length prefix when there is one
        if (!s.empty()) s[below(4) == 0 ? below(std::min<size_t>(8, s.size())) : below(s.size())] ^=
            static_cast<char>(1 + below(255));
        break;
      case 1:
        s.resize(below(s.size() + 1));
        break;
      case 2:
      case 3:
        s.insert(below(s.size() + 1), kTokens[below(std::size(kTokens))]);
        break;
      case 4:
        if (!s.empty()) s.erase(below(s.size()), 1 + below(16));
        break;
      case 5: {  // copy a slice elsewhere: duplicate keys, entries and brackets
        if (s.empty()) break;
        size_t from = below(s.size());
        std::string slice = s.substr(from, 1 + below(200));
        s.insert(below(s.size() + 1), slice);
        break;
      }
      default:
        swap_numbers(s);
        break;
    }
  }

  // Swaps two numbers (offsets, dims) or replaces one with a neighbour's value plus a digit.
  void swap_numbers(std::string& s) {
    std::vector<std::pair<size_t, size_t>> runs;  // [begin, end) of digit runs
    for (size_t i = 0; i < s.size();) {
      if (std::isdigit(static_cast<unsigned char>(s[i]))) {
        size_t j = i;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
        runs.emplace_back(i, j);
        i = j;
      } else {
        ++i;
      }
    }
    if (runs.size() < 2) return;
    auto [a, b] = std::minmax(below(runs.size()), below(runs.size()));
    if (a == b) return;
    const std::string first = s.substr(runs[a].first, runs[a].second - runs[a].first);
    std::string second = s.substr(runs[b].first, runs[b].second - runs[b].first);
    if (below(3) == 0) second += static_cast<char>('0' + below(10));
    // Replace the later run first so the earlier run's position stays valid.
    s.replace(runs[b].first, runs[b].second - runs[b].first, first);
    s.replace(runs[a].first, runs[a].second - runs[a].first, second);
  }

  std::mt19937_64 rng_;
};

// What every accepted header must satisfy, whatever the input looked like.
void check_consistent(const std::vector<TensorView>& tensors, size_t data_size, bool relative) {
  uintptr_t prev_end = 0;
  for (const TensorView& t : tensors) {
    for (int64_t d : t.shape) ASSERT_GE(d, 0) << t.name;
    ASSERT_EQ(t.nbytes, static_cast<size_t>(t.numel()) * dtype_size(t.dtype)) << t.name;
    if (!relative || t.nbytes == 0) continue;
    const auto begin = reinterpret_cast<uintptr_t>(t.data);
    ASSERT_LE(begin + t.nbytes, data_size) << t.name;
    ASSERT_GE(begin, prev_end) << t.name;  // sorted by offset and not overlapping
    prev_end = begin + t.nbytes;
  }
}

struct Split {
  std::string prefix_and_header;  // length prefix + header JSON
  std::string data;
};

Split split_file(const std::string& path) {
  const std::string bytes = io_test::read_bytes(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  return {bytes.substr(0, 8 + n), bytes.substr(8 + n)};
}

TEST(SafetensorsFuzz, HeaderMutations) {
  const Split real = split_file(io_test::fixture("models/v2-lite-tiny/model.safetensors"));
  const std::string header = real.prefix_and_header.substr(8);
  Mutator m(20240611);
  int accepted = 0, rejected = 0;
  for (int i = 0; i < 4000 && !HasFailure(); ++i) {
    const std::string mutated = m.mutate(header);
    // Mostly the real data size; sometimes a little less or more than the header needs.
    size_t data_size = real.data.size();
    if (m.below(4) == 0) data_size = data_size - std::min(data_size, m.below(64)) + m.below(64);
    try {
      SafetensorsHeader h = parse_safetensors_header(mutated, data_size, "fuzz.safetensors");
      check_consistent(h.tensors, data_size, true);
      ++accepted;
    } catch (const Error&) {
      ++rejected;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "iteration " << i << " threw " << typeid(e).name() << ": " << e.what() << "\n" << mutated;
    }
  }
  EXPECT_GT(accepted, 0);
  EXPECT_GT(rejected, 0);
}

volatile unsigned touched = 0;  // keeps the reads below from being optimized away

// Mutates whole files: length prefix, header and data size together, read through the mapping.
void fuzz_file(const std::string& source, int iterations, uint64_t seed) {
  const Split real = split_file(source);
  io_test::TempDir dir;
  const std::string path = dir.file("fuzz.safetensors");
  Mutator m(seed);
  int accepted = 0, rejected = 0;
  for (int i = 0; i < iterations && !::testing::Test::HasFailure(); ++i) {
    std::string bytes = m.mutate(real.prefix_and_header) + real.data;
    if (m.below(8) == 0) bytes.resize(m.below(bytes.size() + 1));
    io_test::write_bytes(path, bytes);
    try {
      SafetensorsFile file(path);
      check_consistent(file.tensors(), 0, false);
      // Touch each tensor's first and last byte: a pointer outside the mapping would crash here.
      unsigned sum = 0;
      for (const TensorView& t : file.tensors())
        if (t.nbytes > 0)
          sum += static_cast<const unsigned char*>(t.data)[0] + static_cast<const unsigned char*>(t.data)[t.nbytes - 1];
      touched = sum;
      ++accepted;
    } catch (const Error&) {
      ++rejected;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "iteration " << i << " threw " << typeid(e).name() << ": " << e.what();
    }
  }
  EXPECT_GT(accepted, 0);
  EXPECT_GT(rejected, 0);
}

TEST(SafetensorsFuzz, RealFileMutations) {
  fuzz_file(io_test::fixture("models/v2-lite-tiny/model.safetensors"), 150, 7);
}

TEST(SafetensorsFuzz, SmallFileMutations) {
  io_test::TempDir dir;
  const std::string path = dir.file("small.safetensors");
  write_safetensors(path,
                    {{"a", DType::F32, {2, 2}, std::vector<unsigned char>(16, 1)},
                     {"b", DType::BF16, {3}, std::vector<unsigned char>(6, 2)},
                     {"c.weight_scale_inv", DType::F32, {1, 1}, std::vector<unsigned char>(4, 3)},
                     {"d", DType::F8_E4M3, {0}, {}},
                     {"e", DType::I64, {}, std::vector<unsigned char>(8, 4)}},
                    {{"format", "pt"}});
  fuzz_file(path, 1500, 99);
}

}  // namespace
}  // namespace dseek
