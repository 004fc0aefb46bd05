// bench/bench_attack.cpp — attack throughput and peak memory: mirage's PGD-40 (Linf) and
// APGD-CE (100 steps) on a Fashion-MNIST-shaped CNN loaded from TorchScript, each against a
// minimal hand-written LibTorch PGD loop on the same module (same steps, same math), the two
// interleaved round by round in one process. Peak memory: each variant runs once more in a
// child process (this binary, "attack --mem VARIANT ..."), whose peak RSS (CPU) or peak CUDA
// allocation is compared the same way.
//
// Prints a JSON line per figure: {"bench", "device", "batch", "mirage_img_s", "baseline_img_s",
// "ratio", "mirage_peak_mb", "baseline_peak_mb", "memory_ratio"}.
#include <sys/resource.h>
#include <torch/script.h>
#include <torch/torch.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "attacks/attack.h"
#include "bench/benches.h"
#include "lib/classifier.h"
#include "lib/model.h"
#include "lib/runtime.h"

namespace {

using bench::median;
using bench::process_cpu_seconds;
using bench::seconds_since;

namespace fs = std::filesystem;

struct Setup {
  std::unique_ptr<mirage::TorchScriptModel> model;  // what mirage attacks
  torch::jit::Module module;                        // the same file, for the hand-written loop
  torch::Tensor x, y;
  c10::Device device = torch::kCPU;
};

// A SmallCnn (the demo's architecture) with random weights, exported and loaded back as a user's
// TorchScript file would be. Labels are the model's own predictions, so that every sample is
// "correctly classified" and APGD attacks all of them, as PGD does.
Setup make_setup(int64_t batch, const std::string& device) {
  Setup s;
  s.device = mirage::parse_device(device);
  torch::manual_seed(0);
  mirage::SmallCnn net(mirage::SmallCnnOptions{});
  net->eval();
  const std::string path = (fs::temp_directory_path() / ("mirage-bench-" + std::to_string(::getpid()) + ".pt")).string();
  mirage::export_small_cnn(net, {}, path);
  s.model = mirage::TorchScriptModel::load(path, s.device);
  s.module = torch::jit::load(path, s.device);
  s.module.eval();
  for (auto p : s.module.parameters()) p.set_requires_grad(false);
  fs::remove(path);
  auto gen = mirage::make_generator(1);
  s.x = torch::rand({batch, 1, 28, 28}, gen, torch::TensorOptions()).to(s.device);
  torch::NoGradGuard no_grad;
  s.y = s.module.forward({s.x}).toTensor().argmax(1);
  // The same no-grad pass through mirage's wrapper, so that each side's TorchScript executor
  // has seen one no-grad run before anything is measured.
  (void)s.model->logits(s.x);
  return s;
}

// The baseline: PGD as one writes it by hand in LibTorch (torchattacks' PGD loop): uniform
// random start, `steps` of sign-gradient ascent on cross-entropy, projection, box clamp.
torch::Tensor hand_written_pgd(torch::jit::Module& module, const torch::Tensor& x, const torch::Tensor& y, double eps,
                               double alpha, int64_t steps, at::Generator& gen) {
  auto noise = torch::rand(x.sizes(), gen, torch::TensorOptions()).to(x.device()).mul(2 * eps).sub(eps);
  auto adv = (x + noise).clamp(0, 1);
  for (int64_t i = 0; i < steps; ++i) {
    adv.requires_grad_(true);
    auto loss = torch::nn::functional::cross_entropy(
        module.forward({adv}).toTensor(), y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    auto grad = torch::autograd::grad({loss}, {adv})[0];
    torch::NoGradGuard no_grad;
    adv = adv.detach() + alpha * grad.sign();
    adv = torch::min(torch::max(adv, x - eps), x + eps).clamp(0, 1);
  }
  return adv.detach();
}

struct Variant {
  std::string name;    // pgd-40 | apgd-ce
  int64_t steps;       // of the hand-written loop with the same number of gradient steps
  nlohmann::json params;
};

const std::array<Variant, 3>& variants() {
  static const std::array<Variant, 3> list = {
      Variant{"pgd", 40, {{"eps", 0.1}, {"alpha", 0.01}, {"steps", 40}}},
      Variant{"apgd-ce", 100, {{"eps", 0.1}, {"steps", 100}}},
      Variant{"pgd-100", 100, {{"eps", 0.1}, {"alpha", 0.01}, {"steps", 100}}},
  };
  return list;
}

// "pgd-100" is PGD with 100 steps: the same loop as "pgd".
std::string attack_name(const Variant& v) { return v.name.substr(0, v.name.find("-100")); }

// Runs one variant once in this process and prints its peak memory in MB.
int measure_memory(const std::string& which, const std::string& side, int64_t batch, const std::string& device) {
  Setup s = make_setup(batch, device);
  const Variant* v = nullptr;
  for (const auto& c : variants()) v = c.name == which ? &c : v;
  if (!v) return 2;
  struct rusage before {};
  ::getrusage(RUSAGE_SELF, &before);
  if (side == "mirage") {
    auto attack = mirage::make_attack(attack_name(*v), v->params);
    auto r = attack->run(*s.model, s.x, s.y, mirage::Goal::untargeted());
    (void)r.success.sum().item<int64_t>();
  } else {
    auto gen = mirage::make_generator(2);
    auto adv = hand_written_pgd(s.module, s.x, s.y, 0.1, 0.01, v->steps, gen);
    (void)adv.sum().item<double>();
  }
  struct rusage after {};
  ::getrusage(RUSAGE_SELF, &after);
  // ru_maxrss is in KB on Linux; what the attack added on top of the set-up's peak.
  std::printf("%.1f\n", static_cast<double>(after.ru_maxrss - before.ru_maxrss) / 1024.0);
  return 0;
}

double child_peak_mb(const std::string& which, const std::string& side, int64_t batch, const std::string& device) {
  std::string cmd = "/proc/" + std::to_string(::getpid()) + "/exe attack --mem " + which + " " + side + " " +
                    std::to_string(batch) + " " + device;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return -1;
  double mb = -1;
  if (std::fscanf(pipe, "%lf", &mb) != 1) mb = -1;
  ::pclose(pipe);
  return mb;
}

}  // namespace

int bench_attack(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "--mem") {
    if (args.size() < 5) return 2;
    return measure_memory(args[1], args[2], std::atoll(args[3].c_str()), args[4]);
  }
  const int rounds = args.size() > 0 ? std::atoi(args[0].c_str()) : 6;
  const int64_t batch = args.size() > 1 ? std::atoll(args[1].c_str()) : 128;
  const std::string device = args.size() > 2 ? args[2] : "cpu";
  mirage::RuntimeOptions ro;
  ro.device = device;
  auto runtime = mirage::init_runtime(ro);
  Setup s = make_setup(batch, device);
  const std::string only = args.size() > 3 ? args[3] : "";
  for (const auto& v : variants()) {
    if (!only.empty() && v.name != only) continue;
    auto attack = mirage::make_attack(attack_name(v), v.params);
    auto gen = mirage::make_generator(2);
    auto run_mirage = [&] {
      auto r = attack->run(*s.model, s.x, s.y, mirage::Goal::untargeted());
      return r.success.sum().item<int64_t>();
    };
    auto run_base = [&] {
      auto adv = hand_written_pgd(s.module, s.x, s.y, 0.1, 0.01, v.steps, gen);
      torch::NoGradGuard no_grad;
      return s.module.forward({adv}).toTensor().argmax(1).ne(s.y).sum().item<int64_t>();
    };
    run_mirage();  // warm-up: oneDNN primitives, allocator, cuDNN autotuning
    run_base();
    double t_mirage = 0, t_base = 0;
    int64_t broken_mirage = 0, broken_base = 0;
    // Alternate which side goes first, so that neither always runs on a warmer cache.
    for (int r = 0; r < rounds; ++r) {
      for (int side = 0; side < 2; ++side) {
        const bool mirage_now = (side == 0) == (r % 2 == 0);
        auto t0 = std::chrono::steady_clock::now();
        if (mirage_now) {
          broken_mirage = run_mirage();
          t_mirage += seconds_since(t0);
        } else {
          broken_base = run_base();
          t_base += seconds_since(t0);
        }
      }
    }
    const double images = static_cast<double>(rounds) * static_cast<double>(batch);
    const double mem_mirage = child_peak_mb(v.name, "mirage", batch, device);
    const double mem_base = child_peak_mb(v.name, "baseline", batch, device);
    std::printf(
        "{\"bench\": \"attack_%s\", \"baseline\": \"hand-written pgd, %lld steps\", \"device\": \"%s\", \"batch\": %lld, "
        "\"threads\": %d, \"mirage_img_s\": %.2f, \"baseline_img_s\": %.2f, \"ratio\": %.3f, \"mirage_broken\": %lld, "
        "\"baseline_broken\": %lld, \"mirage_peak_mb\": %.1f, \"baseline_peak_mb\": %.1f, \"memory_ratio\": %.3f}\n",
        v.name.c_str(), static_cast<long long>(v.steps), s.device.str().c_str(), static_cast<long long>(batch),
        runtime.threads, images / t_mirage, images / t_base, t_base / t_mirage, static_cast<long long>(broken_mirage),
        static_cast<long long>(broken_base), mem_mirage, mem_base, mem_mirage > 0 ? mem_base / mem_mirage : 0.0);
    std::fflush(stdout);
  }
  return 0;
}
