// lib/runtime.h — device, seed and threads of a run.
#pragma once
#include <ATen/core/Generator.h>
#include <c10/core/Device.h>
#include <cstdint>
#include <string>

namespace mirage {

struct RuntimeOptions {
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  uint64_t seed = 0;
  int threads = 0;  // 0 = all cores
};

struct Runtime {
  c10::Device device = c10::Device(c10::kCPU);
  uint64_t seed = 0;
  int threads = 1;
};

// "auto" is cuda:0 when CUDA is available, else cpu. A bad string or an absent CUDA device
// is a UsageError naming --device.
c10::Device parse_device(const std::string& text);

// Applies the options to this process: intra-op threads, the allocator (tune_allocator),
// LibTorch's global seed (used by module initialisation and dropout) and the CUDA seed. Call
// once, at the start of a command.
Runtime init_runtime(const RuntimeOptions& options);

// glibc: keeps large, short-lived tensor buffers in the heap instead of mmapping and unmapping
// them every step (M_MMAP_THRESHOLD 32 MB, M_TRIM_THRESHOLD 1 GB) unless MALLOC_MMAP_THRESHOLD_ /
// MALLOC_TRIM_THRESHOLD_ are set. A no-op elsewhere.
void tune_allocator();

// A fresh CPU generator for one random stream of a run. Code that draws random numbers takes
// a generator (or a seed to make one) instead of touching global state.
at::Generator make_generator(uint64_t seed);

// What a device has left, for out-of-memory messages: "N MiB available" for the CPU (from
// /proc/meminfo), "free memory unknown" where it cannot be read (CUDA in this build).
std::string free_memory_text(c10::Device device);

// An independent seed for a named sub-stream ("shuffle", "epoch-3", ...) of a run's seed.
uint64_t derive_seed(uint64_t seed, const std::string& stream);

}  // namespace mirage
