#include "lib/runtime.h"

#include <fstream>

#include <malloc.h>

#include <cstdlib>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>
#include <torch/utils.h>

#include <thread>

#include "lib/error.h"

namespace mirage {

c10::Device parse_device(const std::string& text) {
  if (text == "auto") {
    return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  }
  if (text == "cpu") return c10::Device(c10::kCPU);
  if (text.rfind("cuda", 0) == 0) {
    int index = 0;
    if (text.size() > 4) {
      if (text[4] != ':' || text.size() == 5 ||
          text.find_first_not_of("0123456789", 5) != std::string::npos) {
        throw UsageError("--device: '" + text + "' is not auto, cpu, cuda or cuda:N");
      }
      index = std::stoi(text.substr(5));
    }
    if (!torch::cuda::is_available()) {
      throw UsageError("--device " + text + ": CUDA is not available in this build or machine");
    }
    if (index >= static_cast<int>(torch::cuda::device_count())) {
      throw UsageError("--device " + text + ": only " + std::to_string(torch::cuda::device_count()) +
                       " CUDA device(s)");
    }
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw UsageError("--device: '" + text + "' is not auto, cpu, cuda or cuda:N");
}

void tune_allocator() {
#ifdef __GLIBC__
  // glibc mmaps every block above its (dynamic) threshold and unmaps it on free: training and
  // attack loops allocate and free the same large activation buffers every step, and paid ~3000
  // page faults a step for it (docs/benchmarks.md: 1.5x slower GAN steps). A fixed 32 MB
  // threshold and a 1 GB trim threshold keep those buffers in the heap. The environment
  // variables, when set, win.
  if (!std::getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 32 << 20);
  if (!std::getenv("MALLOC_TRIM_THRESHOLD_")) mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

Runtime init_runtime(const RuntimeOptions& options) {
  Runtime runtime;
  runtime.device = parse_device(options.device);
  runtime.seed = options.seed;
  if (options.threads < 0) throw UsageError("--threads must be >= 0 (0 = all cores)");
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  runtime.threads = options.threads > 0 ? options.threads : std::max(1, cores);
  // LibTorch as packaged here starts with one intra-op thread; use what the user asked for.
  torch::set_num_threads(runtime.threads);
  tune_allocator();
  torch::manual_seed(options.seed);
  if (torch::cuda::is_available()) torch::cuda::manual_seed_all(options.seed);
  return runtime;
}

at::Generator make_generator(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

uint64_t derive_seed(uint64_t seed, const std::string& stream) {
  // FNV-1a over the stream name, mixed with the seed by splitmix64: distinct names give
  // unrelated streams, the same (seed, name) always the same one.
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : stream) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (h | 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::string free_memory_text(c10::Device device) {
  if (device.is_cpu()) {
    std::ifstream in("/proc/meminfo");
    std::string key;
    int64_t kb = 0;
    std::string unit;
    while (in >> key >> kb >> unit) {
      if (key == "MemAvailable:") return std::to_string(kb / 1024) + " MiB available";
    }
  }
  return "free memory unknown";
}

}  // namespace mirage
