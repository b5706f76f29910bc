// Memory bandwidth of this machine, measured with every thread of the global pool: the
// yardstick for decode speed, which is bound by streaming the weights.
#pragma once

#include <cstddef>

namespace dseek {

// GB/s (1e9 bytes) reading a buffer of `bytes` (use about 1 GiB, well past the caches), each
// thread summing its own contiguous part: the best 64 MiB segment of a few passes.
double measure_read_bandwidth(size_t bytes);

// GB/s copying `bytes` from one buffer to another, STREAM-style: read plus written bytes count.
double measure_copy_bandwidth(size_t bytes);

}  // namespace dseek
