// bench/bench_attack.cpp — attack throughput and peak memory: mirage's PGD-40 (Linf; with and
// without its default early stop) and APGD-CE (100 steps) on a Fashion-MNIST-shaped CNN loaded
// from TorchScript, or on a foreign model file (a ResNet from tests/python/make_resnet.py), each
// against a minimal hand-written LibTorch PGD loop on the same module (same steps, same math),
// the two interleaved round by round in one process.
//
// mirage_bench attack [rounds=6] [batch=128] [device=cpu] [variant|all] [MODEL.pt C H W] Peak memory: each variant runs once more in a
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
  torch::Tensor mean, std;  // [1,C,1,1] when the model normalises outside (both sides apply it)
  torch::Tensor forward(const torch::Tensor& images) {
    return module.forward({mean.defined() ? (images - mean) / std : images}).toTensor();
  }
};

// A foreign model instead of the small CNN: `MODEL.pt C H W` after the other arguments (e.g.
// tests/python/make_resnet.py's resnet18_cifar.pt 3 32 32); a file named *imagenet* takes
// ImageNet-normalised input (mean/std applied by mirage and by the hand-written loop alike).
struct ModelArgs {
  std::string path;
  int64_t c = 1, h = 28, w = 28;
};

// A SmallCnn (the demo's architecture) with random weights, exported and loaded back as a user's
// TorchScript file would be. Labels are the model's own predictions, so that every sample is
// "correctly classified" and APGD attacks all of them, as PGD does.
Setup make_setup(int64_t batch, const std::string& device, const ModelArgs& m = {}) {
  Setup s;
  s.device = mirage::parse_device(device);
  torch::manual_seed(0);
  std::string path = m.path;
  mirage::ModelSpec spec;
  if (path.empty()) {
    mirage::SmallCnn net(mirage::SmallCnnOptions{});
    net->eval();
    path = (fs::temp_directory_path() / ("mirage-bench-" + std::to_string(::getpid()) + ".pt")).string();
    mirage::export_small_cnn(net, {}, path);
  } else {
    spec.channels = m.c;
    spec.height = m.h;
    spec.width = m.w;
    spec.num_classes = 10;
    if (path.find("imagenet") != std::string::npos) {
      spec.mean = {0.485, 0.456, 0.406};
      spec.std = {0.229, 0.224, 0.225};
      s.mean = torch::tensor(spec.mean, torch::kFloat).view({1, 3, 1, 1}).to(s.device);
      s.std = torch::tensor(spec.std, torch::kFloat).view({1, 3, 1, 1}).to(s.device);
    }
  }
  s.model = mirage::TorchScriptModel::load(path, s.device, spec);
  s.module = torch::jit::load(path, s.device);
  s.module.eval();
  for (auto p : s.module.parameters()) p.set_requires_grad(false);
  if (m.path.empty()) fs::remove(path);
  auto gen = mirage::make_generator(1);
  s.x = torch::rand({batch, m.c, m.h, m.w}, gen, torch::TensorOptions()).to(s.device);
  torch::NoGradGuard no_grad;
  s.y = s.forward(s.x).argmax(1);
  // The same no-grad pass through mirage's wrapper, so that each side's TorchScript executor
  // has seen one no-grad run before anything is measured.
  (void)s.model->logits(s.x);
  return s;
}

// The baseline: PGD as one writes it by hand in LibTorch (torchattacks' PGD loop): uniform
// random start, `steps` of sign-gradient ascent on cross-entropy, projection, box clamp.
torch::Tensor hand_written_pgd(Setup& s, const torch::Tensor& x, const torch::Tensor& y, double eps,
                               double alpha, int64_t steps, at::Generator& gen) {
  auto noise = torch::rand(x.sizes(), gen, torch::TensorOptions()).to(x.device()).mul(2 * eps).sub(eps);
  auto adv = (x + noise).clamp(0, 1);
  for (int64_t i = 0; i < steps; ++i) {
    adv.requires_grad_(true);
    auto loss = torch::nn::functional::cross_entropy(
        s.forward(adv), y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    auto grad = torch::autograd::grad({loss}, {adv})[0];
    torch::NoGradGuard no_grad;
    adv = adv.detach() + alpha * grad.sign();
    adv = torch::min(torch::max(adv, x - eps), x + eps).clamp(0, 1);
  }
  return adv.detach();
}

struct Variant {
  std::string name;    // what the JSON line says
  std::string attack;  // what make_attack builds
  int64_t steps;       // of the hand-written loop with the same number of gradient steps
  nlohmann::json params;
};

// "pgd" runs the whole budget as the loop does (early_stop false); "pgd-early-stop" is mirage's
// default (a sample stops at its first adversarial iterate and leaves the batch) against the
// same 40-step loop, which has no such thing.
const std::array<Variant, 4>& variants() {
  static const std::array<Variant, 4> list = {
      Variant{"pgd", "pgd", 40, {{"eps", 0.1}, {"alpha", 0.01}, {"steps", 40}, {"early_stop", false}}},
      Variant{"pgd-early-stop", "pgd", 40, {{"eps", 0.1}, {"alpha", 0.01}, {"steps", 40}}},
      Variant{"apgd-ce", "apgd-ce", 100, {{"eps", 0.1}, {"steps", 100}, {"early_stop", false}}},
      Variant{"pgd-100", "pgd", 100, {{"eps", 0.1}, {"alpha", 0.01}, {"steps", 100}, {"early_stop", false}}},
  };
  return list;
}


// Runs one variant once in this process and prints its peak memory in MB.
int measure_memory(const std::string& which, const std::string& side, int64_t batch, const std::string& device,
                   const ModelArgs& m) {
  Setup s = make_setup(batch, device, m);
  const Variant* v = nullptr;
  for (const auto& c : variants()) v = c.name == which ? &c : v;
  if (!v) return 2;
  struct rusage before {};
  ::getrusage(RUSAGE_SELF, &before);
  if (side == "mirage") {
    auto attack = mirage::make_attack(v->attack, v->params);
    auto r = attack->run(*s.model, s.x, s.y, mirage::Goal::untargeted());
    (void)r.success.sum().item<int64_t>();
  } else {
    auto gen = mirage::make_generator(2);
    auto adv = hand_written_pgd(s, s.x, s.y, 0.1, 0.01, v->steps, gen);
    (void)adv.sum().item<double>();
  }
  struct rusage after {};
  ::getrusage(RUSAGE_SELF, &after);
  // ru_maxrss is in KB on Linux; what the attack added on top of the set-up's peak.
  std::printf("%.1f\n", static_cast<double>(after.ru_maxrss - before.ru_maxrss) / 1024.0);
  return 0;
}

double child_peak_mb(const std::string& which, const std::string& side, int64_t batch, const std::string& device,
                     const ModelArgs& m) {
  std::string cmd = "/proc/" + std::to_string(::getpid()) + "/exe attack --mem " + which + " " + side + " " +
                    std::to_string(batch) + " " + device;
  if (!m.path.empty()) cmd += " " + m.path + " " + std::to_string(m.c) + " " + std::to_string(m.h) + " " + std::to_string(m.w);
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
    ModelArgs m;
    if (args.size() >= 9) m = {args[5], std::atoll(args[6].c_str()), std::atoll(args[7].c_str()), std::atoll(args[8].c_str())};
    return measure_memory(args[1], args[2], std::atoll(args[3].c_str()), args[4], m);
  }
  const int rounds = args.size() > 0 ? std::atoi(args[0].c_str()) : 6;
  const int64_t batch = args.size() > 1 ? std::atoll(args[1].c_str()) : 128;
  const std::string device = args.size() > 2 ? args[2] : "cpu";
  mirage::RuntimeOptions ro;
  ro.device = device;
  auto runtime = mirage::init_runtime(ro);
  ModelArgs m;
  if (args.size() >= 8) m = {args[4], std::atoll(args[5].c_str()), std::atoll(args[6].c_str()), std::atoll(args[7].c_str())};
  Setup s = make_setup(batch, device, m);
  const std::string only = args.size() > 3 && args[3] != "all" ? args[3] : "";
  for (const auto& v : variants()) {
    if (!only.empty() && v.name != only) continue;
    auto attack = mirage::make_attack(v.attack, v.params);
    auto gen = mirage::make_generator(2);
    auto run_mirage = [&] {
      auto r = attack->run(*s.model, s.x, s.y, mirage::Goal::untargeted());
      return r.success.sum().item<int64_t>();
    };
    auto run_base = [&] {
      auto adv = hand_written_pgd(s, s.x, s.y, 0.1, 0.01, v.steps, gen);
      torch::NoGradGuard no_grad;
      return s.forward(adv).argmax(1).ne(s.y).sum().item<int64_t>();
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
    const double mem_mirage = child_peak_mb(v.name, "mirage", batch, device, m);
    const double mem_base = child_peak_mb(v.name, "baseline", batch, device, m);
    std::printf(
        "{\"bench\": \"attack_%s\", \"model\": \"%s\", \"baseline\": \"hand-written pgd, %lld steps\", \"device\": \"%s\", \"batch\": %lld, "
        "\"threads\": %d, \"mirage_img_s\": %.2f, \"baseline_img_s\": %.2f, \"ratio\": %.3f, \"mirage_broken\": %lld, "
        "\"baseline_broken\": %lld, \"mirage_peak_mb\": %.1f, \"baseline_peak_mb\": %.1f, \"memory_ratio\": %.3f}\n",
        v.name.c_str(), m.path.empty() ? "small-cnn" : fs::path(m.path).filename().c_str(), static_cast<long long>(v.steps), s.device.str().c_str(), static_cast<long long>(batch),
        runtime.threads, images / t_mirage, images / t_base, t_base / t_mirage, static_cast<long long>(broken_mirage),
        static_cast<long long>(broken_base), mem_mirage, mem_base, mem_mirage > 0 ? mem_base / mem_mirage : 0.0);
    std::fflush(stdout);
  }
  return 0;
}
