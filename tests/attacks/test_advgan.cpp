// AdvGAN: a trained generator breaks a toy classifier on held-out data far more often than random
// noise of the same eps, never leaves the eps-ball (whatever its weights), reaches a target class,
// survives a save/load round trip bit for bit, refuses folders that are not its checkpoints, and is
// a function of its seed.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "attacks/advgan.h"
#include "lib/error.h"
#include "lib/runtime.h"
#include "tests/attacks/toy_models.h"
#include "tests/test_util.h"

using namespace mirage;
namespace fs = std::filesystem;

namespace {

constexpr double kEps = 0.15;

// The toy conv net (5 classes on 1x8x8) with random images labelled by its own predictions, so
// every sample starts correctly classified: 512 to train on, 256 held out.
struct ToyTask {
  std::unique_ptr<FunctionModel> model;
  std::shared_ptr<TensorDataset> train;
  torch::Tensor test_x, test_y;
  ToyTask() {
    torch::manual_seed(0);
    model = test::toy_conv_model(6);
    auto gen = make_generator(11);
    auto x = torch::rand({768, 1, 8, 8}, gen, torch::TensorOptions());
    torch::Tensor y;
    {
      torch::NoGradGuard g;
      y = model->logits(x).argmax(1);
    }
    DatasetInfo info;
    info.name = "toy";
    info.channels = 1;
    info.height = 8;
    info.width = 8;
    info.num_classes = 5;
    train = std::make_shared<TensorDataset>(x.slice(0, 0, 512), y.slice(0, 0, 512), info);
    test_x = x.slice(0, 512);
    test_y = y.slice(0, 512);
  }
};

ToyTask& task() {
  static ToyTask t;
  return t;
}

AdvGanOptions toy_options(uint64_t seed = 1) {
  AdvGanOptions o;
  o.eps = kEps;
  o.epochs = 12;
  o.batch_size = 64;
  o.seed = seed;
  // A logit margin: with kappa 0 samples settle on the boundary and held-out ones fall either side
  // (docs/attacks.md, advgan).
  o.kappa = 1.0;
  return o;
}

// Trained once for the whole suite.
AdvGanTraining& untargeted() {
  static AdvGanTraining t = train_advgan(*task().model, *task().train, toy_options());
  return t;
}

double success_rate(const AttackResult& r) { return r.success.to(torch::kDouble).mean().item<double>(); }

}  // namespace

TEST_CASE("AdvGAN breaks held-out samples far more often than random noise of the same eps", "[advgan]") {
  auto& t = task();
  auto& trained = untargeted();
  REQUIRE(trained.history.size() == 12);
  INFO("train success " << trained.success_rate << ", last epoch adv loss " << trained.history.back().loss_adv);
  CHECK(trained.success_rate > 0.8);
  CHECK(trained.max_linf <= kEps + 1e-6);

  AdvGan attack(trained.generator, "memory");
  auto r = attack.run(*t.model, t.test_x, t.test_y, Goal::untargeted());
  test::check_box_and_ball(r, "linf", kEps);
  // One query per sample (the clean pass), no gradient of the model: G alone makes the images.
  CHECK(r.queries.eq(1).all().item<bool>());
  CHECK(r.gradient_calls == 0);

  // Random sign noise at the full budget: the strongest perturbation that ignores the model.
  auto gen = make_generator(5);
  auto noise = kEps * (torch::rand(t.test_x.sizes(), gen, torch::TensorOptions()) < 0.5).to(torch::kFloat).mul(2).sub(1);
  torch::Tensor noise_pred;
  {
    torch::NoGradGuard g;
    noise_pred = t.model->logits(clamp_box(t.test_x + noise)).argmax(1);
  }
  const double noise_rate = noise_pred.ne(t.test_y).to(torch::kDouble).mean().item<double>();
  const double advgan_rate = success_rate(r);
  INFO("held-out: advgan " << advgan_rate << ", random noise " << noise_rate);
  CHECK(advgan_rate > 0.8);
  CHECK(advgan_rate > noise_rate + 0.4);
}

TEST_CASE("AdvGAN never exceeds eps, even when the generator's raw output is huge", "[advgan]") {
  auto& t = task();
  const double eps = GENERATE(0.01, kEps, 0.5);
  AdvGanOptions o = toy_options();
  o.eps = eps;
  auto g = std::make_shared<AdvGanGenerator>(o, 1, 8, 8);
  {
    torch::NoGradGuard no_grad;
    // Every weight blown up: tanh saturates, delta sits at +-eps wherever the box allows.
    for (auto& p : g->net()->parameters()) p.mul_(1e4).add_(1.0);
  }
  AdvGan attack(g, "memory");
  auto x = torch::cat({t.test_x.slice(0, 0, 32), torch::zeros({4, 1, 8, 8}), torch::ones({4, 1, 8, 8})});
  auto y = torch::zeros({x.size(0)}, torch::kLong);
  auto r = attack.run(*t.model, x, y, Goal::untargeted());
  test::check_box_and_ball(r, "linf", eps);
  CHECK(torch::isfinite(r.adversarial).all().item<bool>());
  // Saturated, not shrunk: some pixel moved by the whole budget.
  CHECK(r.linf.max().item<double>() >= eps * (1 - 1e-4));
}

TEST_CASE("targeted AdvGAN sends held-out samples to its target class", "[advgan]") {
  auto& t = task();
  AdvGanOptions o = toy_options(2);
  o.targeted = true;
  o.target_class = 3;
  o.eps = 0.3;
  auto trained = train_advgan(*t.model, *t.train, o);
  INFO("train targeted success " << trained.success_rate);
  CHECK(trained.success_rate > 0.8);
  AdvGan attack(trained.generator, "memory");
  const auto targets = torch::full({t.test_x.size(0)}, 3, torch::kLong);
  auto r = attack.run(*t.model, t.test_x, t.test_y, Goal::targeted_to(targets));
  test::check_box_and_ball(r, "linf", 0.3);
  auto counted = t.test_y.ne(3);
  const double rate = (r.adv_pred.eq(3) & counted).sum().item<double>() / counted.sum().item<double>();
  INFO("held-out targeted success " << rate);
  CHECK(rate > 0.8);
  CHECK(attack.options_json()["targeted"] == true);
  CHECK(attack.options_json()["target_class"] == 3);
  // A target the model does not have is refused before training.
  o.target_class = 5;
  CHECK_THROWS_AS(train_advgan(*t.model, *t.train, o), UsageError);
}

TEST_CASE("an AdvGAN checkpoint round trip gives identical adversarial images", "[advgan]") {
  auto& t = task();
  auto& trained = untargeted();
  test::TempDir dir;
  const std::string ckpt = dir.file("advgan");
  save_advgan(*trained.generator, ckpt, /*overwrite=*/false);
  CHECK(fs::exists(ckpt + "/generator.pt"));
  auto config = test::read_json(ckpt + "/config.json");
  CHECK(config["kind"] == "advgan");
  CHECK(config["options"]["eps"] == kEps);
  CHECK(config["image"]["height"] == 8);
  CHECK(config["target_model"]["num_classes"] == 5);
  CHECK(config["training"]["success_rate"] == trained.success_rate);
  CHECK(config["training"]["history"].size() == 12);
  // No staging folder is left beside it.
  CHECK(test::count_files(dir.path()) == 1);

  auto loaded = load_advgan(ckpt);
  CHECK(torch::equal(loaded->adversarial(t.test_x), trained.generator->adversarial(t.test_x)));
  // The registry builds the same attack from the folder.
  auto attack = make_attack("advgan", {{"checkpoint", ckpt}});
  auto r = attack->run(*t.model, t.test_x, t.test_y, Goal::untargeted());
  CHECK(torch::equal(r.adversarial, trained.generator->adversarial(t.test_x)));
  CHECK(attack->options_json()["checkpoint"] == ckpt);
  CHECK(attack->options_json()["eps"] == kEps);
  CHECK(attack->options_json()["targeted"] == false);

  SECTION("an existing checkpoint is replaced only with overwrite") {
    CHECK_THROWS_AS(save_advgan(*trained.generator, ckpt, false), UsageError);
    save_advgan(*trained.generator, ckpt, true);
    CHECK(torch::equal(load_advgan(ckpt)->adversarial(t.test_x), trained.generator->adversarial(t.test_x)));
  }
  SECTION("images of another shape are a usage error naming the checkpoint") {
    auto msg = test::message_of<UsageError>(
        [&] { attack->run(*t.model, torch::rand({2, 1, 12, 12}), torch::zeros({2}, torch::kLong), Goal::untargeted()); });
    CHECK(msg.find(ckpt) != std::string::npos);
    CHECK(msg.find("1x8x8") != std::string::npos);
  }
  SECTION("a truncated or damaged checkpoint is an input error") {
    std::ofstream(ckpt + "/generator.pt", std::ios::trunc) << "not a torch archive";
    CHECK_THROWS_AS(load_advgan(ckpt), InputError);
    std::ofstream(ckpt + "/config.json", std::ios::trunc) << "{\"kind\": \"advgan\", \"opt";
    CHECK_THROWS_AS(load_advgan(ckpt), InputError);
  }
  SECTION("a missing generator file is an input error") {
    fs::remove(ckpt + "/generator.pt");
    CHECK_THROWS_AS(load_advgan(ckpt), InputError);
  }
}

TEST_CASE("a folder that is not an AdvGAN checkpoint is a usage error naming it", "[advgan]") {
  test::TempDir dir;
  const std::string empty = dir.file("empty");
  fs::create_directories(empty);
  CHECK(test::message_of<UsageError>([&] { load_advgan(empty); }).find(empty) != std::string::npos);
  const std::string gan = dir.file("gan");
  fs::create_directories(gan);
  std::ofstream(gan + "/config.json") << "{\"arch\": \"dcgan\", \"kind\": \"gan\"}";
  auto msg = test::message_of<UsageError>([&] { load_advgan(gan); });
  CHECK(msg.find(gan) != std::string::npos);
  CHECK(msg.find("not an AdvGAN checkpoint") != std::string::npos);
  CHECK_THROWS_AS(load_advgan(dir.file("missing")), UsageError);
  // The registry says how to give a checkpoint.
  auto none = test::message_of<UsageError>([] { make_attack("advgan", nlohmann::json::object()); });
  CHECK(none.find("--advgan") != std::string::npos);
  CHECK_THROWS_AS(make_attack("advgan", {{"checkpoint", gan}}), UsageError);
}

TEST_CASE("AdvGAN training is a function of its seed", "[advgan][determinism]") {
  auto& t = task();
  auto weights = [&](uint64_t seed) {
    AdvGanOptions o = toy_options(seed);
    o.epochs = 2;
    o.limit = 256;
    auto trained = train_advgan(*t.model, *t.train, o);
    std::vector<torch::Tensor> w;
    for (auto& p : trained.generator->net()->parameters()) w.push_back(p.detach().clone());
    return w;
  };
  auto a = weights(7), b = weights(7), c = weights(8);
  REQUIRE(a.size() == b.size());
  bool same = true, differs = false;
  for (size_t i = 0; i < a.size(); ++i) {
    same = same && torch::equal(a[i], b[i]);
    differs = differs || !torch::equal(a[i], c[i]);
  }
  CHECK(same);
  CHECK(differs);
}

TEST_CASE("AdvGAN options are checked before any work", "[advgan]") {
  auto& t = task();
  AdvGanOptions o = toy_options();
  SECTION("eps") { o.eps = 0; }
  SECTION("epochs") { o.epochs = 0; }
  SECTION("lr") { o.lr = -1; }
  SECTION("loss weights") { o.hinge_weight = -1; }
  CHECK_THROWS_AS(train_advgan(*t.model, *t.train, o), UsageError);
}

TEST_CASE("AdvGAN needs image sides that are multiples of 4", "[advgan]") {
  CHECK_THROWS_AS(AdvGanGenerator(AdvGanOptions{}, 1, 30, 28), UsageError);
  CHECK_NOTHROW(AdvGanGenerator(AdvGanOptions{}, 3, 32, 28));
}


namespace {

std::vector<torch::Tensor> generator_weights(AdvGanGenerator& g) {
  std::vector<torch::Tensor> w;
  for (auto& p : g.net()->parameters()) w.push_back(p.detach().clone());
  return w;
}

}  // namespace

TEST_CASE("AdvGAN resumed from its epoch-2 checkpoint ends bit for bit where an uninterrupted run does",
          "[advgan][resume]") {
  auto& t = task();
  test::TempDir dir;
  AdvGanOptions o = toy_options(9);
  o.epochs = 4;
  o.limit = 256;
  AdvGanRun straight_run;
  straight_run.checkpoint = dir.file("straight");
  torch::manual_seed(5);
  auto straight = train_advgan(*t.model, *t.train, o, straight_run);
  REQUIRE(straight.history.size() == 4);

  AdvGanOptions half = o;
  half.epochs = 2;
  AdvGanRun first;
  first.checkpoint = dir.file("resumed");
  torch::manual_seed(5);
  train_advgan(*t.model, *t.train, half, first);
  REQUIRE(fs::exists(dir.file("resumed/state.pt")));
  CHECK(test::read_json(dir.file("resumed/config.json"))["training"]["history"].size() == 2);

  torch::manual_seed(12345);  // a new process: global RNG elsewhere; resume restores it
  AdvGanRun second = first;
  second.resume = true;
  std::vector<int64_t> epochs_seen;
  second.on_epoch = [&](const AdvGanEpoch& e) { epochs_seen.push_back(e.epoch); };
  auto resumed = train_advgan(*t.model, *t.train, o, second);
  CHECK(resumed.resumed);
  CHECK(resumed.resumed_epochs == 2);
  CHECK(epochs_seen == std::vector<int64_t>{3, 4});

  auto want = generator_weights(*straight.generator), got = generator_weights(*resumed.generator);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(torch::equal(got[i], want[i]));
  // The same losses, step for step (D's included), and the same final figures.
  REQUIRE(resumed.history.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    INFO("epoch " << i + 1);
    CHECK(resumed.history[i].epoch == straight.history[i].epoch);
    CHECK(resumed.history[i].loss_d == straight.history[i].loss_d);
    CHECK(resumed.history[i].loss_gan == straight.history[i].loss_gan);
    CHECK(resumed.history[i].loss_adv == straight.history[i].loss_adv);
    CHECK(resumed.history[i].loss_hinge == straight.history[i].loss_hinge);
    CHECK(resumed.history[i].success_rate == straight.history[i].success_rate);
  }
  CHECK(resumed.success_rate == straight.success_rate);
  // Both folders are attack checkpoints giving the same images.
  CHECK(torch::equal(load_advgan(dir.file("resumed"))->adversarial(t.test_x),
                     load_advgan(dir.file("straight"))->adversarial(t.test_x)));
  auto config = test::read_json(dir.file("resumed/config.json"));
  CHECK(config["training"]["history"].size() == 4);
  CHECK(config["training"]["success_rate"] == straight.success_rate);
  CHECK(config["options"]["epochs"] == 4);

  SECTION("a checkpoint of other options is refused naming the field") {
    AdvGanOptions other = o;
    other.eps = 0.2;
    auto msg = test::message_of<UsageError>([&] { train_advgan(*t.model, *t.train, other, second); });
    CHECK(msg.find("options.eps") != std::string::npos);
  }
}

TEST_CASE("AdvGAN options name their fields once: round trip, unknown keys and bad values refused", "[advgan]") {
  AdvGanOptions o = toy_options(4);
  o.targeted = true;
  o.target_class = 2;
  o.data = "toy";
  AdvGanOptions back = AdvGanOptions::from_json(o.to_json(), "test");
  CHECK(back.to_json() == o.to_json());
  CHECK(AdvGanOptions::from_json({{"eps", "8/255"}}, "test").eps == Approx(8.0 / 255));
  auto unknown = test::message_of<UsageError>([] { AdvGanOptions::from_json({{"epoch", 3}}, "runs/a/config.json"); });
  CHECK(unknown.find("runs/a/config.json") != std::string::npos);
  CHECK(unknown.find("'epoch'") != std::string::npos);
  CHECK_THROWS_AS(AdvGanOptions::from_json({{"epochs", "many"}}, "test"), UsageError);
  auto bad = test::message_of<UsageError>([] { AdvGanOptions::from_json({{"eps", 2}}, "cfg.json"); });
  CHECK(bad.find("cfg.json") != std::string::npos);
  CHECK(bad.find("eps") != std::string::npos);
}

TEST_CASE("AdvGAN runs in the GAN trainer and trains no discriminator when gan_weight is 0", "[advgan]") {
  auto& t = task();
  AdvGanOptions o = toy_options(3);
  o.gan_weight = 0;
  o.epochs = 1;
  auto model = std::make_unique<AdvGanModel>(*t.model, o, "toy", t.train->size());
  AdvGanModel& m = *model;
  CHECK(m.config().steps == 8);  // 512 samples / 64
  CHECK(m.config().adv_weight == 0);
  std::vector<torch::Tensor> d_before, g_before = generator_weights(*m.generator());
  for (auto& p : m.discriminators().at(0).second->parameters()) d_before.push_back(p.detach().clone());
  auto source = labelled_source(t.train, 1, 8, 8, 1, torch::kCPU);
  GanTrainer trainer(std::move(model), *source, torch::kCPU);
  std::vector<GanStepMetrics> steps;
  GanTrainHooks hooks;
  hooks.on_metrics = [&](const GanStepMetrics& s) { steps.push_back(s); };
  trainer.run(hooks);
  REQUIRE(steps.size() == 8);
  for (const auto& s : steps) {
    CHECK(s.d_loss == 0);
    CHECK(s.terms.count("adv") == 1);
    CHECK(s.terms.count("hinge") == 1);
  }
  auto d_params = m.discriminators().at(0).second->parameters();
  for (size_t i = 0; i < d_params.size(); ++i) CHECK(torch::equal(d_params[i], d_before[i]));
  auto g_after = generator_weights(*m.generator());
  bool moved = false;
  for (size_t i = 0; i < g_after.size(); ++i) moved = moved || !torch::equal(g_after[i], g_before[i]);
  CHECK(moved);
}
