#include "kernels/bandwidth.h"

#include <gtest/gtest.h>

namespace dseek {
namespace {

TEST(Bandwidth, MeasuresPositiveRates) {
  // Small buffers keep the test quick; the figures only need to be sane.
  double read = measure_read_bandwidth(32 << 20);
  double copy = measure_copy_bandwidth(16 << 20);
  EXPECT_GT(read, 0.1);
  EXPECT_LT(read, 10000.0);
  EXPECT_GT(copy, 0.1);
  EXPECT_LT(copy, 10000.0);
}

}  // namespace
}  // namespace dseek
