#include "kernels/weight_memory.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

#include "util/error.h"

namespace dseek {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

}  // namespace

WeightMemory::WeightMemory(size_t bytes) : size_(bytes) {
  if (bytes == 0) return;
  // A huge page extra, to start on a huge page boundary.
  const size_t whole = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* p = mmap(nullptr, whole + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    fail("cannot map {:.2f} GB for the weights: {}", static_cast<double>(bytes) / 1e9, std::strerror(errno));
  auto* base = static_cast<unsigned char*>(p);
  const uintptr_t start = (reinterpret_cast<uintptr_t>(base) + kHugePage - 1) / kHugePage * kHugePage;
  auto* aligned = reinterpret_cast<unsigned char*>(start);
  // Unmap the unaligned ends, so that the mapping is exactly [aligned, aligned + whole).
  if (aligned > base) munmap(base, static_cast<size_t>(aligned - base));
  if (const size_t tail = kHugePage - static_cast<size_t>(aligned - base); tail > 0) munmap(aligned + whole, tail);
  madvise(aligned, whole, MADV_HUGEPAGE);  // advice: without it, 4 KiB pages
  data_ = aligned;
  mapped_ = whole;
}

WeightMemory::~WeightMemory() {
  if (data_) munmap(data_, mapped_);
}

bool WeightMemory::huge_pages() {
  std::ifstream file("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string setting;
  std::getline(file, setting);
  return setting.find("[always]") != std::string::npos || setting.find("[madvise]") != std::string::npos;
}

int64_t WeightMemory::available_bytes() {
  std::ifstream file("/proc/meminfo");
  std::string key, unit;
  int64_t kib = 0;
  while (file >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return -1;
}

}  // namespace dseek
