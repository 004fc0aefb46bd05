// bench/benches.h — every benchmark, run by name from bench/main.cpp. Each prints JSON lines
// with a ratio against a baseline measured in the same process.
#pragma once
#include <time.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

int bench_train_step(const std::vector<std::string>& args);  // [rounds] [steps]
int bench_attack(const std::vector<std::string>& args);      // [rounds] [batch] [device] [variant]
int bench_gan(const std::vector<std::string>& args);         // [rounds] [batch] [device] [width] [steps] [threads]
int bench_score(const std::vector<std::string>& args);       // [rounds] [images] [batch] [width] [threads]
int bench_compaction(const std::vector<std::string>& args);  // [model] [n] [eps] [steps] [queries] [batch] [data] [rounds]
int bench_advgan(const std::vector<std::string>& args);      // [eps] [advgan_steps] [rounds] [device] [kappa] [threads]

// Timing helpers every benchmark shares.
namespace bench {

inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// CPU seconds of this process (all threads): on a shared machine, time stolen by other
// processes does not count, so this ratio is steadier than the wall-clock one.
inline double process_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

}  // namespace bench
