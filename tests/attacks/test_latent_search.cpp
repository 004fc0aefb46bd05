// Latent-space search (Song et al. 2018 unrestricted adversarial examples, detector evasion, and
// the NES variant) on an analytic generator: z [16] -> sigmoid(z W + E_y) as 1x8x8 images, with a
// class template E_y added for the conditional form. No training files are needed, and the
// models are linear in the pixels, so what "the class holds" means is plain.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "attacks/latent_search.h"
#include "gan/sampling.h"
#include "lib/error.h"
#include "lib/model.h"
#include "lib/runtime.h"
#include "tests/attacks/toy_models.h"
#include "tests/test_util.h"

using namespace mirage;

namespace {

constexpr int64_t kZ = 16;
constexpr int64_t kClasses = 3;

struct ToyGan {
  torch::Tensor W, E;  // [kZ, 64] latent map, [kClasses, 64] class templates
  ToyGan() {
    auto gen = make_generator(1234);
    W = torch::randn({kZ, 64}, gen) * 0.5;
    E = torch::randn({kClasses, 64}, gen) * 1.5;
  }
  LatentGenerator generator(bool conditional) const {
    LatentGenerator g;
    g.z_dim = kZ;
    g.num_classes = conditional ? kClasses : 0;
    auto W_ = W, E_ = E;
    g.generate = [W_, E_, conditional](const at::Tensor& z, const at::Tensor& y) {
      auto pre = z.matmul(W_);
      if (conditional) pre = pre + E_.index_select(0, y);
      return torch::sigmoid(pre).view({-1, 1, 8, 8});
    };
    return g;
  }
};

// logits_k = (x - 0.5) . T_k: a linear classifier with one template per class.
FunctionModel template_model(const torch::Tensor& T) {
  return FunctionModel([T](const at::Tensor& x) { return (x.flatten(1) - 0.5).matmul(T.t()); },
                       test::toy_spec(1, 8, 8, T.size(0)), torch::kCPU);
}

std::vector<uint64_t> seed_list(int64_t n, uint64_t offset = 0) {
  std::vector<uint64_t> s;
  for (int64_t i = 0; i < n; ++i) s.push_back(offset + static_cast<uint64_t>(i) * 7919);
  return s;
}

torch::Tensor round_robin(int64_t n) { return torch::arange(n, torch::kLong) % kClasses; }

// The unrestricted setting: the auxiliary model knows the generator's class templates; the
// target is a perturbed copy of it, right on most starts but with its own blind directions.
struct Unrestricted {
  ToyGan gan;
  torch::Tensor aux_T, target_T;
  Unrestricted() {
    auto gen = make_generator(99);
    aux_T = gan.E.clone();
    target_T = gan.E + torch::randn({kClasses, 64}, gen) * 1.2;
  }
};

// A detector seen as its verdict model: fake score w . (x - 0.5) + b, logits (-s/2, s/2).
FunctionModel toy_verdict(const torch::Tensor& w, double b) {
  auto spec = test::toy_spec(1, 8, 8, 2);
  spec.class_names = {"real", "fake"};
  return FunctionModel(
      [w, b](const at::Tensor& x) {
        auto s = (x.flatten(1) - 0.5).matmul(w) + b;
        return torch::stack({-0.5 * s, 0.5 * s}, 1);
      },
      spec, torch::kCPU);
}

// A fake score that most unconditional starts exceed.
struct Evasion {
  ToyGan gan;
  torch::Tensor w;
  double b = 1.3;
  Evasion() { w = torch::randn({64}, make_generator(7)) * 0.3; }
  double score(const torch::Tensor& images, int64_t i) const {
    return ((images[i].flatten() - 0.5) * w).sum().item<double>() + b;
  }
};

double fraction(const torch::Tensor& b) { return b.to(torch::kDouble).mean().item<double>(); }

}  // namespace

TEST_CASE("gradient search makes the target wrong while the auxiliary classifier still sees the class", "[latent]") {
  Unrestricted u;
  auto target = template_model(u.target_T);
  auto aux = template_model(u.aux_T);
  const int64_t n = 30;
  auto seeds = seed_list(n);
  auto classes = round_robin(n);
  LatentSearchOptions o;
  o.steps = 60;
  o.lr = 0.05;
  o.lambda_z = 1;
  auto gen = u.gan.generator(true);
  auto r = latent_search(gen, target, &aux, seeds, classes, classes, Goal::untargeted(), o);

  REQUIRE(r.z.sizes() == torch::IntArrayRef({n, kZ}));
  REQUIRE(r.images.sizes() == torch::IntArrayRef({n, 1, 8, 8}));
  const double start_error = fraction(r.target_start_pred.ne(classes));
  const double end_error = fraction(r.target_pred.ne(classes));
  INFO("target error " << start_error << " -> " << end_error << ", success " << fraction(r.success));
  CHECK(start_error < 0.35);
  CHECK(end_error > start_error + 0.4);
  CHECK(fraction(r.success) > 0.7);
  // Every success is what the returned code does: G(z, y) fools the target, aux keeps y.
  torch::NoGradGuard no_grad;
  auto images = gen.generate(r.z, classes);
  CHECK(torch::allclose(images, r.images, 1e-6, 1e-6));
  auto target_pred = target.logits(images).argmax(1);
  auto aux_pred = aux.logits(images).argmax(1);
  CHECK(torch::equal(target_pred, r.target_pred));
  CHECK(torch::equal(aux_pred, r.aux_pred));
  CHECK(torch::equal(r.success, target_pred.ne(classes) & aux_pred.eq(classes)));
  // The start is G(z0, y) with z0 from the seed alone.
  for (int64_t i = 0; i < n; i += 7) {
    CHECK(torch::equal(r.z0[i], latent_for_seed(seeds[static_cast<size_t>(i)], kZ)));
  }
  CHECK(torch::allclose(r.start_images, gen.generate(r.z0, classes), 1e-6, 1e-6));
  CHECK(torch::allclose(r.z_distance, (r.z - r.z0).norm(2, 1)));
  CHECK(torch::allclose(r.linf, (r.images - r.start_images).flatten(1).abs().amax(1)));
  // Without the auxiliary term the same search may wander off the class: with it, no success does.
  CHECK(torch::equal(r.aux_pred.masked_select(r.success), classes.masked_select(r.success)));
  CHECK(torch::equal(r.classes, classes));
}

TEST_CASE("a targeted search reaches its target class", "[latent]") {
  Unrestricted u;
  auto target = template_model(u.target_T);
  const int64_t n = 12;
  auto classes = round_robin(n);
  auto targets = (classes + 1) % kClasses;
  LatentSearchOptions o;
  o.steps = 80;
  o.lr = 0.05;
  o.lambda_z = 1;
  auto r = latent_search(u.gan.generator(true), target, nullptr, seed_list(n), classes, classes,
                         Goal::targeted_to(targets), o);
  CHECK(fraction(r.success) > 0.7);
  CHECK(torch::equal(r.success, r.target_pred.eq(targets)));
  CHECK((r.aux_pred == -1).all().item<bool>());

  // Early stop returns the first success on the path; searching on keeps the closest success of
  // the same (longer) path, so it is never farther, and it still succeeds.
  o.early_stop = false;
  auto on = latent_search(u.gan.generator(true), target, nullptr, seed_list(n), classes, classes,
                          Goal::targeted_to(targets), o);
  for (int64_t i = 0; i < n; ++i) {
    if (!r.success[i].item<bool>()) continue;
    CHECK(on.success[i].item<bool>());
    CHECK(on.z_distance[i].item<double>() <= r.z_distance[i].item<double>() + 1e-4);
  }
  CHECK(on.queries.min().item<int64_t>() == o.steps + 1);
  CHECK(r.queries.max().item<int64_t>() <= o.steps + 1);
  CHECK(r.queries.sum().item<int64_t>() < on.queries.sum().item<int64_t>());
}

TEST_CASE("a larger distance weight keeps the found codes closer to the start", "[latent]") {
  Unrestricted u;
  auto target = template_model(u.target_T);
  const int64_t n = 24;
  auto classes = round_robin(n);
  // Targeted two classes away and without early stop: most samples keep moving all 60 steps, so
  // where they end is the balance of the two terms.
  auto targets = (classes + 2) % kClasses;
  LatentSearchOptions o;
  o.steps = 60;
  o.lr = 0.05;
  o.eps_z = 0.05;
  o.early_stop = false;
  std::vector<double> mean_distance;
  for (double lambda_z : {0.0, 10.0, 100.0, 3000.0}) {
    o.lambda_z = lambda_z;
    auto r = latent_search(u.gan.generator(true), target, nullptr, seed_list(n), classes, classes,
                           Goal::targeted_to(targets), o);
    mean_distance.push_back(r.z_distance.mean().item<double>());
    if (lambda_z == 3000.0) {
      // Adam moves each coordinate about lr a step: a dominant penalty holds it within a few
      // steps of the soft box.
      CHECK((r.z - r.z0).abs().max().item<double>() < o.eps_z + 4 * o.lr);
    }
  }
  INFO("mean ||z - z0||: " << mean_distance[0] << " " << mean_distance[1] << " " << mean_distance[2] << " "
                           << mean_distance[3]);
  for (size_t i = 1; i < mean_distance.size(); ++i) CHECK(mean_distance[i] < mean_distance[i - 1]);
  // Fewer steps, less far.
  o.lambda_z = 10.0;
  o.steps = 15;
  auto short_run = latent_search(u.gan.generator(true), target, nullptr, seed_list(n), classes, classes,
                                 Goal::targeted_to(targets), o);
  CHECK(short_run.z_distance.mean().item<double>() < mean_distance[1]);
}

TEST_CASE("detector evasion: the search lowers a detector's fake score below its threshold", "[latent]") {
  Evasion ev;
  auto verdict = toy_verdict(ev.w, ev.b);
  const int64_t n = 24;
  auto labels = torch::ones({n}, torch::kLong);
  auto goal = Goal::targeted_to(torch::zeros({n}, torch::kLong));
  LatentSearchOptions o;
  o.steps = 50;
  o.lr = 0.05;
  o.lambda_z = 1;
  auto r = latent_search(ev.gan.generator(false), verdict, nullptr, seed_list(n), {}, labels, goal, o);
  const double start_fake = fraction(r.target_start_pred.eq(1));
  INFO("flagged fake at the start " << start_fake << ", evaded " << fraction(r.success));
  CHECK(start_fake > 0.7);
  CHECK(fraction(r.success) > 0.85);
  CHECK((r.classes == -1).all().item<bool>());
  for (int64_t i = 0; i < n; ++i) {
    if (!r.success[i].item<bool>()) continue;
    CHECK(ev.score(r.images, i) < 0);
    CHECK(r.target_pred[i].item<int64_t>() == 0);
  }
  // Starts already called real are kept as they are (distance 0): nothing to search.
  for (int64_t i = 0; i < n; ++i) {
    if (r.target_start_pred[i].item<int64_t>() == 0) CHECK(r.z_distance[i].item<double>() == 0);
  }
}

TEST_CASE("the NES search evades from outputs alone and counts every query", "[latent]") {
  Evasion ev;
  auto verdict = toy_verdict(ev.w, ev.b);
  test::GradFreeModel guarded(verdict);
  QueryCountingModel counter(guarded.model);
  const int64_t n = 16;
  auto labels = torch::ones({n}, torch::kLong);
  auto goal = Goal::targeted_to(torch::zeros({n}, torch::kLong));
  LatentSearchOptions o;
  o.steps = 40;
  o.lr = 0.05;
  o.lambda_z = 1;
  o.gradient_free = true;
  o.nes_samples = 10;
  o.nes_sigma = 0.05;
  auto gen = ev.gan.generator(false);

  SECTION("with early stop: succeeds where the gradient search does, with fewer queries for early finds") {
    auto r = latent_search(gen, counter, nullptr, seed_list(n), {}, labels, goal, o);
    o.gradient_free = false;
    auto white = latent_search(gen, verdict, nullptr, seed_list(n), {}, labels, goal, o);
    INFO("NES " << fraction(r.success) << " gradient " << fraction(white.success));
    CHECK(*guarded.violations == 0);
    CHECK(fraction(white.success) > 0.85);
    CHECK(fraction(r.success) >= fraction(white.success) - 0.15);
    const int64_t full = 1 + o.steps * (2 * o.nes_samples + 1);
    CHECK(r.queries.max().item<int64_t>() <= full);
    // A start that is already real costs the one query that saw it.
    auto real_at_start = r.target_start_pred.eq(0);
    if (real_at_start.any().item<bool>()) CHECK((r.queries.masked_select(real_at_start) == 1).all().item<bool>());
    // The model saw what the result counts, plus the final re-evaluation of each returned image.
    CHECK(counter.queries() == r.queries.sum().item<int64_t>() + n);
  }
  SECTION("without early stop: exactly 1 + steps * (2 * nes_samples + 1) queries per sample") {
    o.early_stop = false;
    o.steps = 10;
    auto r = latent_search(gen, counter, nullptr, seed_list(n), {}, labels, goal, o);
    CHECK(*guarded.violations == 0);
    CHECK((r.queries == 1 + o.steps * (2 * o.nes_samples + 1)).all().item<bool>());
    CHECK(counter.queries() == r.queries.sum().item<int64_t>() + n);
    CHECK(r.steps_run == o.steps);
  }
}

TEST_CASE("gradient search counts one query per evaluated step", "[latent]") {
  Evasion ev;
  auto verdict = toy_verdict(ev.w, ev.b);
  QueryCountingModel counter(verdict);
  const int64_t n = 10;
  LatentSearchOptions o;
  o.steps = 7;
  o.early_stop = false;
  o.batch_size = 4;  // three batches, the last one short
  int64_t calls = 0, last_done = 0, total = 0;
  auto r = latent_search(ev.gan.generator(false), counter, nullptr, seed_list(n), {}, torch::ones({n}, torch::kLong),
                         Goal::targeted_to(torch::zeros({n}, torch::kLong)), o, [&](int64_t done, int64_t of) {
                           ++calls;
                           CHECK(done > last_done);
                           last_done = done;
                           total = of;
                         });
  CHECK((r.queries == o.steps + 1).all().item<bool>());
  CHECK(counter.queries() == r.queries.sum().item<int64_t>() + n);
  CHECK(calls == 3 * o.steps);
  CHECK(total == 3 * o.steps);
  CHECK(r.z.size(0) == n);
}

TEST_CASE("the same seeds give the same codes, in both modes", "[latent]") {
  Unrestricted u;
  auto target = template_model(u.target_T);
  auto aux = template_model(u.aux_T);
  const int64_t n = 8;
  auto classes = round_robin(n);
  LatentSearchOptions o;
  o.steps = 15;
  o.lr = 0.05;
  o.nes_samples = 5;
  o.gradient_free = GENERATE(false, true);
  o.truncation = GENERATE(0.0, 1.5);
  INFO("gradient_free " << o.gradient_free << " truncation " << o.truncation);
  auto gen = u.gan.generator(true);
  auto a = latent_search(gen, target, &aux, seed_list(n), classes, classes, Goal::untargeted(), o);
  auto b = latent_search(gen, target, &aux, seed_list(n), classes, classes, Goal::untargeted(), o);
  CHECK(torch::equal(a.z, b.z));
  CHECK(torch::equal(a.queries, b.queries));
  CHECK_FALSE(torch::equal(a.z, a.z0));
  if (o.truncation > 0) CHECK(a.z0.abs().max().item<double>() <= o.truncation);
  auto c = latent_search(gen, target, &aux, seed_list(n, 1), classes, classes, Goal::untargeted(), o);
  CHECK_FALSE(torch::equal(a.z0, c.z0));
}

TEST_CASE("latent search refuses what it cannot do, with messages naming the problem", "[latent]") {
  Unrestricted u;
  auto target = template_model(u.target_T);
  auto aux = template_model(u.aux_T);
  const int64_t n = 4;
  auto classes = round_robin(n);
  LatentSearchOptions o;
  o.steps = 2;
  auto unconditional = u.gan.generator(false);
  auto conditional = u.gan.generator(true);

  auto msg = test::message_of<UsageError>(
      [&] { latent_search(unconditional, target, nullptr, seed_list(n), classes, classes, Goal::untargeted(), o); });
  CHECK(msg.find("no classes") != std::string::npos);
  msg = test::message_of<UsageError>(
      [&] { latent_search(unconditional, target, &aux, seed_list(n), {}, classes, Goal::untargeted(), o); });
  CHECK(msg.find("conditional GAN") != std::string::npos);

  FunctionModel wide([](const at::Tensor& x) { return x.flatten(1).narrow(1, 0, 3); }, test::toy_spec(3, 16, 16, 3),
                     torch::kCPU);
  msg = test::message_of<UsageError>(
      [&] { latent_search(conditional, wide, nullptr, seed_list(n), classes, classes, Goal::untargeted(), o); });
  INFO(msg);
  CHECK(msg.find("1x8x8") != std::string::npos);
  CHECK(msg.find("3x16x16") != std::string::npos);
  msg = test::message_of<UsageError>(
      [&] { latent_search(conditional, target, &wide, seed_list(n), classes, classes, Goal::untargeted(), o); });
  CHECK(msg.find("auxiliary") != std::string::npos);

  msg = test::message_of<UsageError>([&] {
    latent_search(conditional, target, nullptr, seed_list(n), classes, classes.slice(0, 0, 3), Goal::untargeted(), o);
  });
  CHECK(msg.find("labels") != std::string::npos);
  test::message_of<UsageError>([&] {
    latent_search(conditional, target, nullptr, seed_list(n), classes + 5, classes, Goal::untargeted(), o);
  });

  auto empty = latent_search(conditional, target, &aux, {}, torch::empty({0}, torch::kLong),
                             torch::empty({0}, torch::kLong), Goal::untargeted(), o);
  CHECK(empty.seeds.empty());
  CHECK(empty.z.size(0) == 0);
  CHECK(empty.success.numel() == 0);
}
