// bench/bench_gan.cpp — GAN training throughput: mirage's GanTrainer::train_step() (DCGAN,
// non-saturating loss, generator EMA) against a minimal hand-written LibTorch DCGAN step as
// pytorch/examples' cpp/dcgan writes it, on the same networks (DcganGenerator /
// DcganDiscriminator with the same options and the same initial weights), batch and optimisers.
// Both sides see one pre-made random batch every step: data loading is not what is measured.
// Rounds alternate which side goes first (A B, B A, ...), so machine noise hits both alike.
//
// Prints one JSON line: {"bench": "gan_train_step", "device", "batch", "width", "threads",
// "mirage_img_s", "baseline_img_s", "ratio" (median over rounds of mirage img/s / baseline img/s),
// "cpu_ratio" (the same from process CPU time), the per-round figures, the last losses of both
// sides (equal at the start: same weights, same noise), per-step times, "grad_norm_ms" (the
// trainer's two gradient norms, the main thing it does beyond the baseline, on the steps it logs)
// and minor page faults per step (glibc handing activation memory back to the kernel and
// mapping it again; see docs/benchmarks.md)}.
#include <sys/resource.h>
#include <time.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench/benches.h"
#include "gan/config.h"
#include "gan/networks.h"
#include "gan/trainer.h"
#include "lib/runtime.h"

namespace {

using bench::median;
using bench::process_cpu_seconds;
using bench::seconds_since;

// Minor page faults of this process so far: fresh pages the allocator maps and the kernel
// zero-fills on first touch, a cost that depends on how a loop's tensors come and go.
long minor_faults() {
  struct rusage u {};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// The same batch every step, so that both sides time the networks and the loop only.
class FixedSource final : public mirage::GanDataSource {
 public:
  explicit FixedSource(torch::Tensor x) : x_(std::move(x)) {}
  mirage::GanBatch batch(int64_t, int64_t) override {
    mirage::GanBatch b;
    b.x = x_;
    return b;
  }
  std::string name() const override { return "fixed"; }

 private:
  torch::Tensor x_;
};

// The baseline: pytorch/examples' cpp/dcgan step on mirage's networks. D: zero_grad, BCE on
// D(real) against 1, backward, BCE on D(G(z).detach()) against 0, backward, step; G: zero_grad,
// BCE on D(G(z)) against 1, backward, step. The example has no EMA; one ema_update() of a
// generator copy is added so that both sides do the same work. Losses are read only at the end
// of a round (the example logs every kLogInterval batches).
struct Baseline {
  mirage::DcganGenerator g{nullptr}, ema{nullptr};
  mirage::DcganDiscriminator d{nullptr};
  std::unique_ptr<torch::optim::Adam> opt_g, opt_d;
  at::Generator gen;
  int64_t z_dim = 100;
  double ema_decay = 0.999;
  torch::Tensor g_loss, d_loss;

  void step(const torch::Tensor& real) {
    namespace F = torch::nn::functional;
    const int64_t n = real.size(0);
    torch::Tensor z = torch::randn({n, z_dim}, gen).to(real.device());

    opt_d->zero_grad();
    torch::Tensor real_out = d->forward(real);
    torch::Tensor d_loss_real = F::binary_cross_entropy_with_logits(real_out, torch::ones_like(real_out));
    d_loss_real.backward();
    torch::Tensor fake = g->forward(z);
    torch::Tensor fake_out = d->forward(fake.detach());
    torch::Tensor d_loss_fake = F::binary_cross_entropy_with_logits(fake_out, torch::zeros_like(fake_out));
    d_loss_fake.backward();
    d_loss = d_loss_real + d_loss_fake;
    opt_d->step();

    opt_g->zero_grad();
    torch::Tensor g_out = d->forward(fake);
    g_loss = F::binary_cross_entropy_with_logits(g_out, torch::ones_like(g_out));
    g_loss.backward();
    opt_g->step();

    mirage::ema_update(*ema, *g, ema_decay);
  }
};

}  // namespace

int bench_gan(const std::vector<std::string>& args) {
  const int rounds = args.size() > 0 ? std::atoi(args[0].c_str()) : 6;
  const int64_t batch = args.size() > 1 ? std::atoll(args[1].c_str()) : 64;
  const std::string device_name = args.size() > 2 ? args[2] : "cpu";
  const int64_t width = args.size() > 3 ? std::atoll(args[3].c_str()) : 32;
  const int steps = args.size() > 4 ? std::atoi(args[4].c_str()) : 20;
  const int threads = args.size() > 5 ? std::atoi(args[5].c_str()) : 0;
  const int warmup = 3;
  if (rounds < 1 || batch < 1 || width < 1 || steps < 1 || threads < 0) {
    std::fprintf(stderr,
                 "usage: mirage_bench gan [rounds=6] [batch=64] [device=cpu] [width=32] [steps=20] [threads=0]\n");
    return 2;
  }
  mirage::RuntimeOptions ro;
  ro.device = device_name;
  ro.threads = threads;
  auto runtime = mirage::init_runtime(ro);
  const c10::Device device = runtime.device;

  mirage::GanConfig config;
  config.arch = "dcgan";
  config.loss = "ns";
  config.size = 28;
  config.channels = 1;
  config.g_width = width;
  config.d_width = width;
  config.ema_decay = 0.999;
  config.batch_size = batch;
  config.finalize();

  auto data_gen = mirage::make_generator(1);
  FixedSource source(torch::rand({batch, 1, 28, 28}, data_gen, torch::TensorOptions()).to(device));
  mirage::GanTrainer trainer(config, source, device);

  // The same networks, options and initial weights as the trainer's model, and the same noise
  // stream (the trainer draws z from derive_seed(seed, "gan-train")).
  Baseline base;
  mirage::DcganGeneratorOptions go;
  go.z_dim = config.z_dim;
  go.channels = config.channels;
  go.size = config.size;
  go.width = config.g_width;
  mirage::DcganDiscriminatorOptions dopt;
  dopt.channels = config.channels;
  dopt.size = config.size;
  dopt.width = config.d_width;
  dopt.norm = config.d_norm;
  base.g = mirage::DcganGenerator(go);
  base.ema = mirage::DcganGenerator(go);
  base.d = mirage::DcganDiscriminator(dopt);
  mirage::copy_weights(*base.g, *trainer.model().generators().at(0).second);
  mirage::copy_weights(*base.ema, *base.g);
  mirage::copy_weights(*base.d, *trainer.model().discriminators().at(0).second);
  base.g->to(device);
  base.ema->to(device);
  base.d->to(device);
  base.opt_g = std::make_unique<torch::optim::Adam>(
      base.g->parameters(), torch::optim::AdamOptions(config.lr_g).betas({config.beta1, config.beta2}));
  base.opt_d = std::make_unique<torch::optim::Adam>(
      base.d->parameters(), torch::optim::AdamOptions(config.lr_d).betas({config.beta1, config.beta2}));
  base.gen = mirage::make_generator(mirage::derive_seed(config.seed, "gan-train"));
  base.z_dim = config.z_dim;
  base.ema_decay = config.ema_decay;
  const torch::Tensor real = source.batch(0, batch).x;

  mirage::GanStepMetrics last;
  // Each side ends its run with a host read (the trainer reads its losses every step), so that
  // on CUDA the time includes the queued kernels.
  auto run_mirage = [&](int n) {
    for (int i = 0; i < n; ++i) last = trainer.train_step();
  };
  auto run_base = [&](int n) {
    for (int i = 0; i < n; ++i) base.step(real);
    (void)base.g_loss.item<double>();
  };
  run_mirage(warmup);  // warm-up: oneDNN primitives, allocator, cuDNN autotuning
  run_base(warmup);

  double t_mirage = 0, t_base = 0;
  long faults_mirage = 0, faults_base = 0;
  std::vector<double> ratios, cpu_ratios;
  for (int r = 0; r < rounds; ++r) {
    double tm = 0, tb = 0, cm = 0, cb = 0;
    for (int side = 0; side < 2; ++side) {
      const bool mirage_now = (side == 0) == (r % 2 == 0);
      auto t0 = std::chrono::steady_clock::now();
      const double c0 = process_cpu_seconds();
      const long f0 = minor_faults();
      if (mirage_now) {
        run_mirage(steps);
        tm = seconds_since(t0);
        cm = process_cpu_seconds() - c0;
        faults_mirage += minor_faults() - f0;
      } else {
        run_base(steps);
        tb = seconds_since(t0);
        cb = process_cpu_seconds() - c0;
        faults_base += minor_faults() - f0;
      }
    }
    t_mirage += tm;
    t_base += tb;
    ratios.push_back(tb / tm);  // mirage img/s over baseline img/s
    cpu_ratios.push_back(cb / cm);
  }
  // What the trainer does beyond the baseline's math on a logged step (every log_every), timed
  // on the baseline's nets, whose gradients are set: its gradient norms, the squared sum of
  // every parameter's gradient, read back once.
  const std::vector<torch::Tensor> params = [&] {
    std::vector<torch::Tensor> all = base.g->parameters();
    for (const auto& p : base.d->parameters()) all.push_back(p);
    return all;
  }();
  auto t0 = std::chrono::steady_clock::now();
  const int norm_reps = 20;
  double sink = 0;
  for (int i = 0; i < norm_reps; ++i) {
    std::vector<torch::Tensor> squares;
    for (const auto& p : params) squares.push_back(p.grad().pow(2).sum());
    sink += torch::stack(squares).sum().item<double>();
  }
  const double grad_norm_ms = 1e3 * seconds_since(t0) / norm_reps;
  (void)sink;
  const double images = static_cast<double>(rounds) * steps * static_cast<double>(batch);
  auto list = [](const std::vector<double>& v) {
    std::string out;
    char buf[32];
    for (double x : v) {
      std::snprintf(buf, sizeof(buf), "%s%.3f", out.empty() ? "" : ", ", x);
      out += buf;
    }
    return out;
  };
  std::printf(
      "{\"bench\": \"gan_train_step\", \"baseline\": \"hand-written pytorch/examples dcgan step + ema_update\", "
      "\"device\": \"%s\", \"batch\": %lld, \"width\": %lld, \"steps_per_round\": %d, \"rounds\": %d, "
      "\"threads\": %d, \"mirage_img_s\": %.1f, \"baseline_img_s\": %.1f, \"ratio\": %.3f, "
      "\"ratio_min\": %.3f, \"ratio_max\": %.3f, \"ratios\": [%s], \"cpu_ratio\": %.3f, \"cpu_ratios\": [%s], "
      "\"mirage_d_loss\": %.4f, \"mirage_g_loss\": %.4f, \"baseline_d_loss\": %.4f, \"baseline_g_loss\": %.4f, "
      "\"mirage_step_ms\": %.1f, \"baseline_step_ms\": %.1f, \"grad_norm_ms\": %.2f, \"parameters\": %zu, "
      "\"mirage_faults_per_step\": %.0f, \"baseline_faults_per_step\": %.0f}\n",
      device.str().c_str(), static_cast<long long>(batch), static_cast<long long>(width), steps, rounds,
      runtime.threads, images / t_mirage, images / t_base, median(ratios),
      *std::min_element(ratios.begin(), ratios.end()), *std::max_element(ratios.begin(), ratios.end()),
      list(ratios).c_str(), median(cpu_ratios), list(cpu_ratios).c_str(), last.d_loss, last.g_loss,
      base.d_loss.item<double>(), base.g_loss.item<double>(),
      1e3 * t_mirage / (rounds * steps), 1e3 * t_base / (rounds * steps), grad_norm_ms, params.size(),
      static_cast<double>(faults_mirage) / (rounds * steps), static_cast<double>(faults_base) / (rounds * steps));
  std::fflush(stdout);
  return 0;
}
