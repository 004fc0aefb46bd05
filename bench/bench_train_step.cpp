// bench/bench_train_step.cpp — classifier forward+backward throughput: mirage's training step
// (SmallCnn + classifier_train_step) against a minimal hand-written LibTorch loop on the same
// architecture, batch and optimiser, interleaved in one process so machine noise hits both.
// Prints a JSON line per figure: {"bench", "mirage_img_s", "baseline_img_s", "ratio"}.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/benches.h"
#include "lib/classifier.h"
#include "lib/runtime.h"

namespace {

// The baseline: the same net written the way the LibTorch tutorials do.
struct BaselineNet : torch::nn::Module {
  torch::nn::Conv2d c1{torch::nn::Conv2dOptions(1, 32, 3).padding(1)};
  torch::nn::BatchNorm2d b1{32};
  torch::nn::Conv2d c2{torch::nn::Conv2dOptions(32, 64, 3).padding(1)};
  torch::nn::BatchNorm2d b2{64};
  torch::nn::Linear f1{64 * 7 * 7, 128}, f2{128, 10};
  BaselineNet() {
    register_module("c1", c1);
    register_module("b1", b1);
    register_module("c2", c2);
    register_module("b2", b2);
    register_module("f1", f1);
    register_module("f2", f2);
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(b1(c1(x))), 2);
    x = torch::max_pool2d(torch::relu(b2(c2(x))), 2);
    x = torch::relu(f1(x.flatten(1)));
    return f2(torch::dropout(x, 0.25, is_training()));
  }
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int bench_train_step(const std::vector<std::string>& args) {
  int rounds = args.size() > 0 ? std::atoi(args[0].c_str()) : 5;
  int steps = args.size() > 1 ? std::atoi(args[1].c_str()) : 20;
  const int64_t batch = 128;
  mirage::RuntimeOptions ro;
  ro.device = "cpu";
  auto runtime = mirage::init_runtime(ro);

  mirage::SmallCnn net(mirage::SmallCnnOptions{});
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-3));
  auto base = std::make_shared<BaselineNet>();
  torch::optim::Adam base_opt(base->parameters(), torch::optim::AdamOptions(1e-3));
  auto gen = mirage::make_generator(1);
  torch::Tensor x = torch::rand({batch, 1, 28, 28}, gen, torch::TensorOptions());
  torch::Tensor y = torch::randint(0, 10, {batch}, gen, torch::TensorOptions().dtype(torch::kLong));

  auto run_mirage = [&] {
    for (int i = 0; i < steps; ++i) mirage::classifier_train_step(net, opt, x, y);
  };
  auto run_base = [&] {
    for (int i = 0; i < steps; ++i) {
      base_opt.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(base->forward(x), y);
      loss.backward();
      base_opt.step();
      (void)loss.item<double>();
    }
  };
  run_mirage();  // warm-up: oneDNN primitives, allocator
  run_base();
  double t_mirage = 0, t_base = 0;
  for (int r = 0; r < rounds; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    run_mirage();
    t_mirage += seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    run_base();
    t_base += seconds_since(t0);
  }
  double images = static_cast<double>(rounds) * steps * batch;
  std::printf("{\"bench\": \"classifier_train_step\", \"batch\": %lld, \"threads\": %d, \"mirage_img_s\": %.1f, "
              "\"baseline_img_s\": %.1f, \"ratio\": %.3f}\n",
              static_cast<long long>(batch), runtime.threads, images / t_mirage, images / t_base, t_base / t_mirage);
  return 0;
}
