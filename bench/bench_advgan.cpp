// bench/bench_advgan.cpp — AdvGAN against its baseline, PGD, on the same model and images: a small
// CNN trained briefly on Fashion-MNIST (synthetic 10-class images when the set is not installed),
// a short AdvGAN run against it, then AdvGAN's single forward pass and PGD-10 (alpha = eps / 4, same
// eps) on the same 1000 test images, interleaved round by round. AdvGAN pays once (training) to
// attack at the cost of one generator pass; the ratio says how much faster per image it is and the
// success rates what that speed costs.
//
// mirage_bench advgan [eps=0.1] [advgan_steps=600] [rounds=3] [device=cpu] [kappa=1] [threads=0]
// Prints one JSON line: {"bench": "advgan", "eps", "advgan_success", "pgd_success", "advgan_img_s",
// "pgd_img_s", "ratio" (advgan/pgd images per second), training figures}.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "attacks/advgan.h"
#include "attacks/pgd.h"
#include "bench/benches.h"
#include "lib/classifier.h"
#include "lib/dataset.h"
#include "lib/runtime.h"

namespace {

using bench::median;
using bench::seconds_since;

// 10 classes of 28x28 images: a fixed random smooth template per class plus noise, so that a CNN
// learns them and an attack has something to undo.
std::shared_ptr<mirage::Dataset> synthetic(int64_t n, uint64_t seed) {
  auto gen = mirage::make_generator(seed);
  auto templates = torch::nn::functional::interpolate(
      torch::rand({10, 1, 7, 7}, mirage::make_generator(1), torch::TensorOptions()),
      torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{28, 28}).mode(torch::kBilinear).align_corners(false));
  auto y = torch::randint(0, 10, {n}, gen, torch::TensorOptions().dtype(torch::kLong));
  auto x = (templates.index_select(0, y) + 0.25 * torch::randn({n, 1, 28, 28}, gen, torch::TensorOptions())).clamp(0, 1);
  mirage::DatasetInfo info;
  info.name = "synthetic";
  info.channels = 1;
  info.height = 28;
  info.width = 28;
  info.num_classes = 10;
  return std::make_shared<mirage::TensorDataset>(x, y, info);
}

bool have_fashion_mnist() {
  std::error_code ec;
  return std::filesystem::exists(mirage::fashion_mnist_dir() + "/t10k-images-idx3-ubyte.gz", ec);
}

}  // namespace

int bench_advgan(const std::vector<std::string>& args) {
  const double eps = args.size() > 0 ? std::atof(args[0].c_str()) : 0.1;
  const int64_t advgan_steps = args.size() > 1 ? std::atoll(args[1].c_str()) : 600;
  const int rounds = args.size() > 2 ? std::atoi(args[2].c_str()) : 3;
  const std::string device_text = args.size() > 3 ? args[3] : "cpu";
  const double kappa = args.size() > 4 ? std::atof(args[4].c_str()) : 1.0;  // a logit margin (docs/attacks.md)
  const int threads = args.size() > 5 ? std::atoi(args[5].c_str()) : 0;
  if (!(eps > 0 && eps <= 1) || advgan_steps < 1 || rounds < 1 || threads < 0) {
    std::fprintf(stderr, "usage: mirage_bench advgan [eps=0.1] [advgan_steps=600] [rounds=3] [device=cpu] [kappa=1] [threads=0]\n");
    return 2;
  }
  mirage::RuntimeOptions ro;
  ro.device = device_text;
  ro.threads = threads;
  auto runtime = mirage::init_runtime(ro);
  const c10::Device device = runtime.device;

  const bool fmnist = have_fashion_mnist();
  auto train = fmnist ? mirage::open_fashion_mnist("train") : synthetic(20000, 2);
  auto test = fmnist ? mirage::open_fashion_mnist("test") : synthetic(1000, 3);

  // The target: mirage's small CNN, two epochs on 10k images.
  torch::manual_seed(0);
  mirage::SmallCnn net(mirage::SmallCnnOptions{});
  mirage::ClassifierTrainOptions co;
  co.epochs = 2;
  co.limit = 10000;
  auto t0 = std::chrono::steady_clock::now();
  mirage::train_classifier(net, *train, nullptr, co, device);
  const double classifier_seconds = seconds_since(t0);
  auto model = mirage::as_model(net, {}, device);

  // A short AdvGAN: `advgan_steps` batches of 64 in one epoch, default G width (8).
  mirage::AdvGanOptions ao;
  ao.eps = eps;
  ao.epochs = 1;
  ao.batch_size = 64;
  ao.limit = advgan_steps * ao.batch_size;
  ao.seed = 1;
  ao.kappa = kappa;
  t0 = std::chrono::steady_clock::now();
  auto trained = mirage::train_advgan(*model, *train, ao);
  const double advgan_train_seconds = seconds_since(t0);
  mirage::AdvGan advgan(trained.generator, "memory");

  mirage::PgdOptions po;
  po.eps = eps;
  po.alpha = eps / 4;
  po.steps = 10;
  mirage::Pgd pgd(po);
  pgd.set_seed(1);

  auto batch = test->get([] {
    std::vector<int64_t> v(1000);
    for (int64_t i = 0; i < 1000; ++i) v[static_cast<size_t>(i)] = i;
    return v;
  }());
  auto x = batch.images.to(device), y = batch.labels.to(device);
  constexpr int64_t kBatch = 250;
  // Success on the initially correct samples, as `mirage attack` reports it.
  auto run_all = [&](mirage::Attack& attack, int64_t& correct, int64_t& broken) {
    correct = broken = 0;
    for (int64_t i = 0; i < x.size(0); i += kBatch) {
      auto xb = x.slice(0, i, i + kBatch), yb = y.slice(0, i, i + kBatch);
      auto r = attack.run(*model, xb, yb, mirage::Goal::untargeted());
      auto ok = r.clean_pred.eq(yb);
      correct += ok.sum().item<int64_t>();
      broken += (ok & r.success).sum().item<int64_t>();
    }
  };
  int64_t correct = 0, advgan_broken = 0, pgd_broken = 0;
  run_all(advgan, correct, advgan_broken);  // warm-up
  run_all(pgd, correct, pgd_broken);
  std::vector<double> t_advgan, t_pgd;
  for (int r = 0; r < rounds; ++r) {
    for (int side = 0; side < 2; ++side) {
      const bool advgan_now = (side == 0) == (r % 2 == 0);
      auto ts = std::chrono::steady_clock::now();
      if (advgan_now) {
        run_all(advgan, correct, advgan_broken);
        t_advgan.push_back(seconds_since(ts));
      } else {
        run_all(pgd, correct, pgd_broken);
        t_pgd.push_back(seconds_since(ts));
      }
    }
  }
  const double n = static_cast<double>(x.size(0));
  const double advgan_img_s = n / median(t_advgan), pgd_img_s = n / median(t_pgd);
  const double denom = static_cast<double>(std::max<int64_t>(correct, 1));
  std::printf(
      "{\"bench\": \"advgan\", \"baseline\": \"pgd-10, alpha eps/4\", \"data\": \"%s\", \"device\": \"%s\", "
      "\"threads\": %d, \"eps\": %.4f, \"kappa\": %.2f, \"images\": %lld, \"clean_correct\": %lld, \"advgan_success\": %.4f, "
      "\"pgd_success\": %.4f, \"advgan_img_s\": %.1f, \"pgd_img_s\": %.1f, \"ratio\": %.2f, "
      "\"advgan_train_steps\": %lld, \"advgan_train_seconds\": %.1f, \"advgan_train_img_s\": %.1f, "
      "\"advgan_train_success\": %.4f, \"classifier_seconds\": %.1f}\n",
      fmnist ? "fashion-mnist" : "synthetic", device.str().c_str(), runtime.threads, eps, kappa,
      static_cast<long long>(x.size(0)), static_cast<long long>(correct), static_cast<double>(advgan_broken) / denom,
      static_cast<double>(pgd_broken) / denom, advgan_img_s, pgd_img_s, advgan_img_s / pgd_img_s,
      static_cast<long long>(advgan_steps), advgan_train_seconds, trained.images_per_second, trained.success_rate,
      classifier_seconds);
  std::fflush(stdout);
  return 0;
}
