// The one GAN trainer: losses, gradient penalty, config defaults, a step moving D and G the right
// way, resume == uninterrupted, divergence handling.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <filesystem>

#include "gan/config.h"
#include "gan/losses.h"
#include "gan/networks.h"
#include "gan/trainer.h"
#include "lib/dataset.h"
#include "lib/error.h"
#include "lib/runtime.h"
#include "tests/test_util.h"

using namespace mirage;
using mirage::test::TempDir;

namespace {

// 64 random 28x28 gray images with labels 0..9: enough to exercise every architecture.
std::shared_ptr<Dataset> random_images(int64_t n = 64, int64_t channels = 1) {
  at::Generator gen = make_generator(7);
  at::Tensor images = torch::randint(0, 256, {n, channels, 28, 28}, gen, torch::kLong).to(torch::kUInt8);
  at::Tensor labels = torch::arange(n, torch::kLong).remainder(10);
  DatasetInfo info;
  info.name = "random";
  info.channels = channels;
  info.height = 28;
  info.width = 28;
  info.num_classes = 10;
  return std::make_shared<TensorDataset>(images, labels, info);
}

GanConfig tiny_config(const std::string& arch) {
  GanConfig c;
  c.arch = arch;
  c.g_width = 4;
  c.d_width = 4;
  c.batch_size = 8;
  c.steps = 4;
  c.resnet_blocks = 1;
  c.sr_blocks = 1;
  c.pool_size = 4;
  c.ema_start = 1;
  c.ema_decay = 0.9;
  c.sample_every = 0;
  c.checkpoint_every = 0;
  c.seed = 3;
  if (arch == "conditional") {
    c.arch = "dcgan";
    c.conditional = true;
    c.num_classes = 10;
  }
  return c;
}

std::unique_ptr<GanDataSource> source_for(const GanConfig& c, std::shared_ptr<Dataset> data) {
  if (c.arch == "toy") return toy_source(c.mixture, c.seed, torch::kCPU);
  std::shared_ptr<Dataset> a;
  if (c.arch == "pix2pix" || c.arch == "cyclegan") a = random_images(64);
  return dataset_source(data, a, c.arch == "cyclegan", 1, 28, 1, c.seed, torch::kCPU);
}

std::vector<at::Tensor> all_state(GanModel& model) {
  std::vector<at::Tensor> out;
  for (auto group : {model.generators(), model.discriminators(), model.ema_generators()}) {
    for (const auto& [name, net] : group) {
      for (const auto& p : net->parameters()) out.push_back(p.detach().clone());
      for (const auto& b : net->buffers()) out.push_back(b.detach().clone());
    }
  }
  return out;
}

}  // namespace

TEST_CASE("adversarial losses have their closed forms", "[gan][trainer]") {
  at::Tensor zero = torch::zeros({4});
  CHECK(discriminator_loss(GanLoss::kNonSaturating, zero, zero).item<double>() == Approx(2 * std::log(2.0)));
  CHECK(generator_loss(GanLoss::kNonSaturating, zero).item<double>() == Approx(std::log(2.0)));
  at::Tensor r = torch::tensor({2.0, 0.5}), f = torch::tensor({-3.0, 0.0});
  CHECK(discriminator_loss(GanLoss::kHinge, r, f).item<double>() == Approx((0 + 0.5) / 2 + (0 + 1) / 2.0));
  CHECK(discriminator_loss(GanLoss::kWasserstein, r, f).item<double>() == Approx(-1.5 - 1.25));
  CHECK(generator_loss(GanLoss::kWasserstein, f).item<double>() == Approx(1.5));
  CHECK(discriminator_loss(GanLoss::kLeastSquares, r, f).item<double>() == Approx(0.5 * ((1 + 0.25) / 2 + (9 + 0) / 2.0)));
  CHECK(generator_loss(GanLoss::kLeastSquares, f).item<double>() == Approx(0.5 * (16 + 1) / 2.0));
  // The non-saturating G loss keeps a gradient where D confidently rejects fakes.
  at::Tensor sure_fake = torch::full({1}, -10.0, torch::requires_grad());
  generator_loss(GanLoss::kNonSaturating, sure_fake).backward();
  CHECK(sure_fake.grad().abs().item<double>() > 0.99);
  CHECK(parse_gan_loss("wgan-gp") == GanLoss::kWasserstein);
  CHECK_THROWS_AS(parse_gan_loss("wgan"), UsageError);
}

TEST_CASE("the WGAN-GP penalty matches a finite-difference gradient", "[gan][trainer]") {
  torch::manual_seed(1);
  at::Tensor w = torch::randn({5, 6}, torch::kDouble).requires_grad_(true);
  auto critic = [&](const at::Tensor& x) { return torch::tanh(x.flatten(1).matmul(w.t())).pow(2).sum(1); };
  at::Tensor x = torch::randn({3, 1, 2, 3}, torch::kDouble);
  at::Tensor gp = gradient_penalty_at(critic, x);
  // Central differences of each sample's score, then (||g|| - 1)^2 averaged.
  double expected = 0;
  const double h = 1e-6;
  for (int64_t i = 0; i < 3; ++i) {
    at::Tensor xi = x[i].flatten();
    double sq = 0;
    for (int64_t k = 0; k < xi.numel(); ++k) {
      at::Tensor up = x.clone(), down = x.clone();
      up[i].view(-1)[k] += h;
      down[i].view(-1)[k] -= h;
      torch::NoGradGuard ng;
      double g = (critic(up)[i].item<double>() - critic(down)[i].item<double>()) / (2 * h);
      sq += g * g;
    }
    expected += std::pow(std::sqrt(sq) - 1, 2) / 3;
  }
  CHECK(gp.item<double>() == Approx(expected).epsilon(1e-6));
  // The penalty trains the critic: its gradient reaches the weights.
  gp.backward();
  REQUIRE(w.grad().defined());
  CHECK(w.grad().abs().sum().item<double>() > 0);
  // A linear critic has gradient w everywhere: the penalty is (||w|| - 1)^2 exactly.
  at::Tensor v = torch::tensor({0.6, 0.8, 1.0}, torch::kDouble);
  auto linear = [&](const at::Tensor& p) { return p.matmul(v); };
  at::Generator gen = make_generator(0);
  at::Tensor gp_lin = gradient_penalty(linear, torch::randn({4, 3}, torch::kDouble), torch::randn({4, 3}, torch::kDouble), gen);
  CHECK(gp_lin.item<double>() == Approx(std::pow(std::sqrt(2.0) - 1, 2)));
}

TEST_CASE("GAN configs resolve per-loss defaults and reject bad values", "[gan][trainer]") {
  GanConfig w;
  w.loss = "wgan-gp";
  w.finalize();
  CHECK(w.n_critic == 5);
  CHECK(w.gp_weight == 10);
  CHECK(w.beta1 == 0.0);
  CHECK(w.beta2 == 0.9);
  CHECK(w.lr_g == Approx(1e-4));
  CHECK(w.d_norm == "layer");
  GanConfig ns;
  ns.finalize();
  CHECK(ns.n_critic == 1);
  CHECK(ns.gp_weight == 0);
  CHECK(ns.d_norm == "batch");
  CHECK(ns.z_dim == 100);
  GanConfig cyc;
  cyc.arch = "cyclegan";
  cyc.finalize();
  CHECK(cyc.loss == "lsgan");
  CHECK(cyc.d_norm == "instance");
  // Round trip through JSON, and finalize is idempotent.
  GanConfig back = GanConfig::from_json(w.to_json(), "test");
  back.finalize();
  CHECK(back.to_json() == w.to_json());
  GanConfig bad = GanConfig();
  bad.loss = "wgan-gp";
  bad.d_norm = "batch";
  CHECK_THROWS_AS(bad.finalize(), UsageError);
  bad = GanConfig();
  bad.size = 30;
  CHECK_THROWS_AS(bad.finalize(), UsageError);
  bad = GanConfig();
  bad.conditional = true;  // no classes
  CHECK_THROWS_AS(bad.finalize(), UsageError);
  CHECK_THROWS_AS(GanConfig::from_json({{"lr", 1}}, "cfg.json"), UsageError);
  CHECK_THROWS_AS(GanConfig::from_json({{"steps", "many"}}, "cfg.json"), UsageError);
  // Numbers may be written as text (flags, hand-written configs); a fractional count may not.
  GanConfig text = GanConfig::from_json({{"steps", "3e3"}, {"lr_g", "1/5000"}, {"spectral_norm", "yes"}}, "cfg.json");
  CHECK(text.steps == 3000);
  CHECK(text.lr_g == Approx(2e-4));
  CHECK(text.spectral_norm);
  CHECK_THROWS_AS(GanConfig::from_json({{"steps", 2.5}}, "cfg.json"), UsageError);
  CHECK(GanConfig::fields().names().size() == GanConfig().to_json().size());
}

TEST_CASE("one training step lowers D's loss on the step's data and G's loss against the new D", "[gan][trainer]") {
  GanConfig c = tiny_config("dcgan");
  c.d_norm = "layer";  // no batch statistics: the before/after comparison sees the same function
  c.lr_g = c.lr_d = 1e-3;
  c.ema_decay = 0;
  c.log_every = 1;  // gradient norms are measured on logged steps
  auto data = random_images();
  auto source = source_for(c, data);
  GanTrainer trainer(c, *source, torch::kCPU);
  auto g = std::dynamic_pointer_cast<DcganGeneratorImpl>(trainer.model().generators()[0].second);
  auto d = std::dynamic_pointer_cast<DcganDiscriminatorImpl>(trainer.model().discriminators()[0].second);
  REQUIRE(g);
  REQUIRE(d);
  GanBatch real = source->batch(0, c.batch_size);  // the batch the first D step trains on
  at::Tensor z = torch::randn({8, 100});
  at::Tensor fake_before;
  double d_before, g_before_new_d;
  {
    torch::NoGradGuard ng;
    fake_before = g->forward(z);
    d_before = discriminator_loss(GanLoss::kNonSaturating, d->forward(real.x), d->forward(fake_before)).item<double>();
  }
  GanStepMetrics m = trainer.train_step();
  CHECK(std::isfinite(m.d_loss));
  CHECK(std::isfinite(m.g_loss));
  CHECK(m.d_grad_norm > 0);
  CHECK(m.g_grad_norm > 0);
  torch::NoGradGuard ng;
  // D learned to tell this real batch from the old fakes...
  double d_after = discriminator_loss(GanLoss::kNonSaturating, d->forward(real.x), d->forward(fake_before)).item<double>();
  CHECK(d_after < d_before);
  // ...and G moved to fool the updated D more than its old self did.
  g_before_new_d = generator_loss(GanLoss::kNonSaturating, d->forward(fake_before)).item<double>();
  double g_after = generator_loss(GanLoss::kNonSaturating, d->forward(g->forward(z))).item<double>();
  CHECK(g_after < g_before_new_d);
  CHECK(trainer.step() == 1);
}

TEST_CASE("a resumed run ends exactly where an uninterrupted one does", "[gan][trainer]") {
  const std::string arch = GENERATE(as<std::string>{}, "dcgan", "conditional", "pix2pix", "cyclegan", "srgan", "toy");
  CAPTURE(arch);
  GanConfig c = tiny_config(arch);
  if (arch == "toy") c.batch_size = 16;
  auto data = random_images();
  TempDir dir;
  // Initial weights come from LibTorch's global generator, which a command seeds once
  // (init_runtime): seed it the same for both runs.
  torch::manual_seed(5);
  auto s1 = source_for(c, data);
  GanTrainer straight(c, *s1, torch::kCPU);
  straight.run({});
  std::vector<at::Tensor> expected = all_state(straight.model());

  GanConfig half = c;
  half.steps = 2;
  torch::manual_seed(5);
  auto s2 = source_for(c, data);
  GanTrainer first(half, *s2, torch::kCPU);
  first.run({}, dir.file("ckpt"));
  REQUIRE(std::filesystem::exists(dir.file("ckpt/state.pt")));
  REQUIRE(std::filesystem::exists(dir.file("ckpt/generator.pt")));
  torch::manual_seed(12345);  // a new process: global RNG elsewhere; resume restores it
  auto s3 = source_for(c, data);
  GanTrainer second(c, *s3, torch::kCPU);
  second.resume(dir.file("ckpt"));
  CHECK(second.step() == 2);
  second.run({});
  std::vector<at::Tensor> got = all_state(second.model());
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(torch::equal(got[i], expected[i]));
}

TEST_CASE("resume refuses a checkpoint of another configuration or a truncated state", "[gan][trainer]") {
  GanConfig c = tiny_config("dcgan");
  c.steps = 1;
  auto data = random_images();
  TempDir dir;
  auto s = source_for(c, data);
  GanTrainer t(c, *s, torch::kCPU);
  t.run({}, dir.file("ckpt"));
  GanConfig other = c;
  other.z_dim = 50;
  auto s2 = source_for(other, data);
  GanTrainer u(other, *s2, torch::kCPU);
  try {
    u.resume(dir.file("ckpt"));
    FAIL("resumed a checkpoint with another z_dim");
  } catch (const UsageError& e) {
    CHECK_THAT(e.what(), Catch::Contains("z_dim"));
  }
  const std::string state = dir.file("ckpt/state.pt");
  std::filesystem::resize_file(state, std::filesystem::file_size(state) / 2);
  auto s3 = source_for(c, data);
  GanTrainer v(c, *s3, torch::kCPU);
  CHECK_THROWS_AS(v.resume(dir.file("ckpt")), InputError);
  CHECK_THROWS_AS(read_checkpoint_config(dir.file("nothing-here")), UsageError);
}

namespace {

// Real batches that turn to NaN from step `bad_step` on.
class PoisonedSource final : public GanDataSource {
 public:
  PoisonedSource(std::unique_ptr<GanDataSource> inner, int64_t bad_step) : inner_(std::move(inner)), bad_(bad_step) {}
  GanBatch batch(int64_t step, int64_t n) override {
    GanBatch b = inner_->batch(step, n);
    if (step >= bad_) b.x = b.x.clone().fill_(std::nan(""));
    return b;
  }
  std::string name() const override { return "poisoned"; }

 private:
  std::unique_ptr<GanDataSource> inner_;
  int64_t bad_;
};

}  // namespace

TEST_CASE("a NaN loss stops training with DivergedError and keeps the last good checkpoint", "[gan][trainer]") {
  GanConfig c = tiny_config("dcgan");
  c.steps = 5;
  c.checkpoint_every = 1;
  auto data = random_images();
  PoisonedSource source(source_for(c, data), 3);  // batches 0..2 are fine: steps 1..3
  TempDir dir;
  GanTrainer t(c, source, torch::kCPU);
  std::vector<int64_t> checkpoints;
  GanTrainHooks hooks;
  hooks.on_checkpoint = [&](int64_t step, const std::string&) { checkpoints.push_back(step); };
  try {
    t.run(hooks, dir.file("ckpt"));
    FAIL("training on NaN data did not stop");
  } catch (const DivergedError& e) {
    CHECK_THAT(e.what(), Catch::Contains("step 4"));
    CHECK(e.exit_code() == kExitGateFailed);
  }
  CHECK(checkpoints == std::vector<int64_t>{1, 2, 3});
  auto fresh = source_for(c, data);
  GanTrainer back(c, *fresh, torch::kCPU);
  back.resume(dir.file("ckpt"));
  CHECK(back.step() == 3);
  for (const auto& [name, net] : back.model().generators()) {
    for (const auto& p : net->parameters()) CHECK(torch::isfinite(p).all().item<bool>());
  }
}

TEST_CASE("sample grids of every architecture are images in [0,1]", "[gan][trainer]") {
  const std::string arch = GENERATE(as<std::string>{}, "dcgan", "conditional", "pix2pix", "cyclegan", "srgan");
  CAPTURE(arch);
  GanConfig c = tiny_config(arch);
  auto data = random_images();
  auto s = source_for(c, data);
  GanTrainer t(c, *s, torch::kCPU);
  t.train_step();
  at::Generator gen = make_generator(1);
  at::Tensor images = t.model().samples(t.fixed_batch(), 16, gen);
  REQUIRE(images.dim() == 4);
  CHECK(images.size(2) == 28);
  CHECK(images.min().item<double>() >= 0);
  CHECK(images.max().item<double>() <= 1);
  auto figures = t.model().validate(t.fixed_batch());
  if (arch == "srgan") {
    CHECK(figures.count("psnr") == 1);
    CHECK(figures.count("psnr_bicubic") == 1);
  }
  if (arch == "pix2pix") CHECK(figures.count("l1") == 1);
}


TEST_CASE("a trainer given a ready model trains exactly as one given its config", "[gan][trainer]") {
  const std::string arch = GENERATE(as<std::string>{}, "dcgan", "pix2pix");
  CAPTURE(arch);
  GanConfig c = tiny_config(arch);
  c.steps = 2;
  auto data = random_images();
  torch::manual_seed(5);
  auto s1 = source_for(c, data);
  GanTrainer from_config(c, *s1, torch::kCPU);
  from_config.run({});
  GanConfig finalized = c;
  finalized.finalize();
  torch::manual_seed(5);
  auto s2 = source_for(c, data);
  GanTrainer from_model(make_gan_model(finalized, torch::kCPU), *s2, torch::kCPU);
  from_model.run({});
  CHECK(from_model.config().to_json() == from_config.config().to_json());
  auto a = all_state(from_config.model()), b = all_state(from_model.model());
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(torch::equal(a[i], b[i]));
}
