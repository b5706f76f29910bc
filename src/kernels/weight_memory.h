// Memory of the model's own for weights it keeps in a layout of its choosing (quant/repack.h):
// one anonymous mapping, advised to use transparent huge pages. Decode streams gigabytes of
// weights per second, and through 4 KiB pages it takes a TLB miss, and the prefetchers a
// restart, every 4 KiB: measured here, 2 MiB pages stream 1.1–1.4× faster.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dseek {

class WeightMemory {
 public:
  explicit WeightMemory(size_t bytes);  // zero bytes maps nothing; throws Error when out of memory
  ~WeightMemory();
  WeightMemory(const WeightMemory&) = delete;
  WeightMemory& operator=(const WeightMemory&) = delete;

  unsigned char* data() const { return data_; }
  size_t size() const { return size_; }

  // Whether the system backs advised anonymous memory with huge pages (transparent_hugepage
  // "always" or "madvise").
  static bool huge_pages();
  // MemAvailable of /proc/meminfo in bytes (free memory plus reclaimable caches, such as the
  // pages of a mapped checkpoint); -1 where it cannot be read.
  static int64_t available_bytes();

 private:
  unsigned char* data_ = nullptr;
  size_t size_ = 0;     // bytes asked for
  size_t mapped_ = 0;   // bytes mapped: whole huge pages
};

}  // namespace dseek
