#include "kernels/weight_memory.h"

#include <cstdint>
#include <cstring>

#include <gtest/gtest.h>

namespace dseek {
namespace {

TEST(WeightMemory, MapsWritableMemoryOnAHugePageBoundary) {
  for (size_t bytes : {size_t{1}, size_t{4096}, (size_t{2} << 20) + 1, size_t{5} << 20}) {
    WeightMemory memory(bytes);
    ASSERT_NE(memory.data(), nullptr);
    EXPECT_EQ(memory.size(), bytes);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(memory.data()) % (size_t{2} << 20), 0u) << bytes;
    std::memset(memory.data(), 0x5a, bytes);
    EXPECT_EQ(memory.data()[bytes - 1], 0x5a);
  }
}

TEST(WeightMemory, ZeroBytesMapsNothing) {
  WeightMemory memory(0);
  EXPECT_EQ(memory.data(), nullptr);
  EXPECT_EQ(memory.size(), 0u);
}

TEST(WeightMemory, ReadsTheAvailableMemory) {
  const int64_t available = WeightMemory::available_bytes();
  EXPECT_GT(available, int64_t{1} << 20);  // Linux has /proc/meminfo
}

}  // namespace
}  // namespace dseek
