// The AutoAttack ensemble, and the claim that makes it worth running: on an adversarially
// trained model, APGD finds at least what PGD finds with the same budget, and the ensemble at
// least what APGD finds.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "attacks/attack.h"
#include "attacks/autoattack.h"
#include "lib/error.h"
#include "lib/model.h"
#include "lib/runtime.h"
#include "tests/attacks/toy_models.h"

using namespace mirage;

namespace {

// Five classes of 1x8x8 images: a class prototype plus noise.
struct ToyData {
  torch::Tensor prototypes;
  explicit ToyData(uint64_t seed) {
    auto gen = make_generator(seed);
    prototypes = torch::rand({5, 1, 8, 8}, gen, torch::TensorOptions()) * 0.6 + 0.2;
  }
  std::pair<torch::Tensor, torch::Tensor> sample(int64_t n, at::Generator& gen) const {
    auto y = torch::randint(0, 5, {n}, gen, torch::TensorOptions().dtype(torch::kLong));
    auto x = (prototypes.index_select(0, y) + 0.15 * torch::randn({n, 1, 8, 8}, gen, torch::TensorOptions())).clamp(0, 1);
    return {x, y};
  }
};

// A toy conv net trained with PGD adversarial training (Madry et al.) at `eps`.
struct RobustToy {
  std::shared_ptr<test::ToyConvNet> net;
  std::unique_ptr<FunctionModel> model;
  ToyData data{11};
  RobustToy(double eps, int64_t iterations) {
    torch::manual_seed(5);
    net = std::make_shared<test::ToyConvNet>(8);
    auto n = net;
    model = std::make_unique<FunctionModel>([n](const at::Tensor& x) { return n->forward(x); },
                                            test::toy_spec(1, 8, 8, 5), torch::kCPU);
    torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-2));
    // Madry's training: every step of the budget (early stop would train on boundary points).
    auto pgd = make_attack("pgd", {{"eps", eps}, {"alpha", eps / 3}, {"steps", 5}, {"early_stop", false}});
    pgd->set_seed(3);
    auto gen = make_generator(4);
    for (int64_t i = 0; i < iterations; ++i) {
      auto [x, y] = data.sample(64, gen);
      auto adv = pgd->run(*model, x, y, Goal::untargeted()).adversarial.detach();
      opt.zero_grad();
      torch::nn::functional::cross_entropy(net->forward(adv), y).backward();
      opt.step();
    }
  }
};

double robust_accuracy(const AttackResult& r, const torch::Tensor& y) {
  return r.adv_pred.eq(y).to(torch::kDouble).mean().item<double>();
}

}  // namespace

TEST_CASE("on an adversarially trained model APGD-CE is at least as strong as PGD, AutoAttack at least as APGD",
          "[attacks][autoattack][slow]") {
  // At eps 0.2 the model keeps ~14% robust accuracy under last-iterate PGD: enough to bite.
  const double eps = 0.2;
  RobustToy toy(eps, 150);
  auto gen = make_generator(99);
  auto [x, y] = toy.data.sample(256, gen);
  const int64_t steps = 50;
  // PGD as torchattacks runs it: each sample returns its last iterate.
  auto pgd = make_attack("pgd", {{"eps", eps}, {"alpha", eps / 4}, {"steps", steps}, {"early_stop", false}});
  auto apgd = make_attack("apgd-ce", {{"eps", eps}, {"steps", steps}});
  auto aa = make_attack("autoattack", {{"eps", eps}, {"steps", steps}, {"queries", 300}});
  for (auto* a : {pgd.get(), apgd.get(), aa.get()}) a->set_seed(1);
  double clean = toy.model->logits(x).argmax(1).eq(y).to(torch::kDouble).mean().item<double>();
  double r_pgd = robust_accuracy(pgd->run(*toy.model, x, y, Goal::untargeted()), y);
  // mirage's default, early stop, keeps the first adversarial iterate: never weaker.
  auto pgd_stop = make_attack("pgd", {{"eps", eps}, {"alpha", eps / 4}, {"steps", steps}});
  pgd_stop->set_seed(1);
  double r_pgd_stop = robust_accuracy(pgd_stop->run(*toy.model, x, y, Goal::untargeted()), y);
  double r_apgd = robust_accuracy(apgd->run(*toy.model, x, y, Goal::untargeted()), y);
  auto aa_result = aa->run(*toy.model, x, y, Goal::untargeted());
  double r_aa = robust_accuracy(aa_result, y);
  INFO("clean " << clean << " pgd " << r_pgd << " pgd early stop " << r_pgd_stop << " apgd " << r_apgd
                 << " autoattack " << r_aa);
  CHECK(r_pgd_stop <= r_pgd);
  CHECK(clean > 0.8);
  CHECK(r_pgd > 0.1);  // the model is robust enough for the comparison to mean something
  CHECK(r_apgd <= r_pgd);
  CHECK(r_aa <= r_apgd);
  CHECK(aa_result.linf.max().item<double>() <= eps + 1e-6);
}

TEST_CASE("AutoAttack runs each stage only on the samples still robust and records each stage", "[attacks][autoattack]") {
  torch::manual_seed(0);
  auto model = test::toy_conv_model(6);
  auto x = torch::rand({24, 1, 8, 8});
  auto y = torch::randint(0, 5, {24});
  const double eps = 0.02;
  auto aa = make_attack("autoattack", {{"eps", eps}, {"steps", 10}, {"queries", 50}});
  aa->set_seed(4);
  auto r = aa->run(*model, x, y, Goal::untargeted());
  auto clean_correct = r.clean_pred.eq(y).sum().item<int64_t>();
  const auto& stages = r.details["stages"];
  REQUIRE(stages.size() == 4);
  CHECK(stages[0]["attack"] == "apgd-ce");
  CHECK(stages[1]["attack"] == "apgd-t");
  CHECK(stages[2]["attack"] == "fab-t");
  CHECK(stages[3]["attack"] == "square");
  int64_t robust = clean_correct;
  for (const auto& s : stages) {
    CHECK(s["attacked"] == robust);  // exactly the samples every earlier stage left robust
    robust -= s["broken"].get<int64_t>();
    CHECK(s["robust"] == robust);
  }
  CHECK(r.adv_pred.eq(y).sum().item<int64_t>() == robust);
  CHECK(r.linf.max().item<double>() <= eps + 1e-6);
  CHECK(r.adversarial.min().item<float>() >= 0.0f);
  CHECK(r.adversarial.max().item<float>() <= 1.0f);

  // The first stage is APGD-CE with the stage's own seed: run alone, it breaks the same samples.
  auto alone = make_attack("apgd-ce", autoattack_stage_params("apgd-ce", [&] {
                             AutoAttackOptions o;
                             o.eps = eps;
                             o.steps = 10;
                             return o;
                           }()));
  alone->set_seed(derive_seed(4, "autoattack:apgd-ce"));
  auto first = alone->run(*model, x, y, Goal::untargeted());
  CHECK(first.success.logical_and(first.clean_pred.eq(y)).sum().item<int64_t>() == stages[0]["broken"]);

  // Same seed, same output.
  auto again = make_attack("autoattack", {{"eps", eps}, {"steps", 10}, {"queries", 50}});
  again->set_seed(4);
  CHECK(torch::equal(again->run(*model, x, y, Goal::untargeted()).adversarial, r.adversarial));
}

TEST_CASE("AutoAttack takes a custom stage list and rejects unknown stages", "[attacks][autoattack][errors]") {
  torch::manual_seed(0);
  auto model = test::toy_conv_model(4);
  auto x = torch::rand({8, 1, 8, 8});
  auto y = torch::randint(0, 5, {8});
  auto aa = make_attack("autoattack", {{"eps", 0.05}, {"steps", 5}, {"attacks", "apgd-ce,apgd-dlr"}});
  auto r = aa->run(*model, x, y, Goal::untargeted());
  CHECK(r.details["stages"].size() == 2);
  CHECK_THROWS_AS(make_attack("autoattack", {{"attacks", "apgd-ce,pgd"}}), UsageError);
  CHECK_THROWS_AS(make_attack("autoattack", {{"eps", 0}}), UsageError);
  CHECK_THROWS_AS(make_attack("autoattack", {{"norm", "l1"}}), UsageError);
}
