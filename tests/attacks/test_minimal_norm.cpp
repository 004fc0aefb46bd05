// Tests of MI-FGSM, DeepFool and Carlini-Wagner L2.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "attacks/attack.h"
#include "lib/error.h"
#include "lib/model.h"
#include "tests/attacks/toy_models.h"

using namespace mirage;

namespace {

torch::Tensor reevaluate(Model& model, const torch::Tensor& adv, const torch::Tensor& y, const Goal& goal) {
  torch::NoGradGuard g;
  return goal_met(model.logits(adv), y, goal);
}

double mean_over(const torch::Tensor& v, const torch::Tensor& mask) {
  return v.index({mask}).mean().item<double>();
}

}  // namespace

// ---- mi-fgsm ------------------------------------------------------------------------------

TEST_CASE("MI-FGSM stays in the box and within eps", "[attacks][mifgsm]") {
  test::CorrectToyBatch t;
  double eps = GENERATE(0.01, 0.05, 0.3);
  double decay = GENERATE(0.0, 0.5, 1.0);
  auto r = make_attack("mi-fgsm", {{"eps", eps}, {"alpha", eps / 3}, {"steps", 6}, {"decay", decay}})
               ->run(*t.model, t.x, t.y, Goal::untargeted());
  CHECK(r.adversarial.min().item<float>() >= 0.0f);
  CHECK(r.adversarial.max().item<float>() <= 1.0f);
  CHECK(r.linf.max().item<double>() <= eps + 1e-6);
}

TEST_CASE("MI-FGSM with decay 0 is BIM exactly, with momentum it is not", "[attacks][mifgsm]") {
  test::CorrectToyBatch t;
  bool targeted = GENERATE(false, true);
  Goal goal = targeted ? Goal::targeted_to((t.y + 1) % 5) : Goal::untargeted();
  nlohmann::json params = {{"eps", 0.1}, {"alpha", 0.02}, {"steps", 8}};
  auto bim = make_attack("bim", params)->run(*t.model, t.x, t.y, goal);
  auto p0 = params;
  p0["decay"] = 0;
  auto mi0 = make_attack("mi-fgsm", p0)->run(*t.model, t.x, t.y, goal);
  CHECK(torch::equal(mi0.adversarial, bim.adversarial));
  auto mi1 = make_attack("mi-fgsm", params)->run(*t.model, t.x, t.y, goal);
  CHECK_FALSE(torch::equal(mi1.adversarial, bim.adversarial));
}

TEST_CASE("MI-FGSM's momentum carries the step through a gradient flip (closed form)", "[attacks][mifgsm]") {
  // z1 = 3 x0 - 5 relu(x0 - 0.52) + x1: d z1/dx = (3, 1) below x0 = 0.52, (-2, 1) above.
  // From x = (0.5, 0.5), label 0 (ascend z1), alpha 0.05: step 1 moves (+,+); at x0 = 0.55 the
  // normalised gradient (-2,1)/1.5 plus the momentum (3,1)/2 is (0.17, 1.17) -> (+,+) again,
  // where BIM (decay 0) steps x0 back down. Step 3: (-1.33, 0.67) + (0.17, 1.17) -> (-,+).
  FunctionModel model(
      [](const at::Tensor& x) {
        auto f = x.flatten(1);
        auto z = 3 * f.select(1, 0) - 5 * torch::relu(f.select(1, 0) - 0.52) + f.select(1, 1);
        return torch::stack({torch::zeros_like(z), z}, 1);
      },
      test::toy_spec(1, 1, 2, 2), torch::kCPU);
  auto x = torch::full({1, 1, 1, 2}, 0.5f);
  auto y = torch::zeros({1}, torch::kLong);
  auto run = [&](double decay, int steps) {
    // Without early stop: the sample is adversarial from step 1, and the test follows it further.
    return make_attack("mi-fgsm", {{"eps", 0.3}, {"alpha", 0.05}, {"steps", steps}, {"decay", decay}, {"early_stop", false}})
        ->run(model, x, y, Goal::untargeted())
        .adversarial.flatten();
  };
  CHECK(torch::allclose(run(1.0, 2), torch::tensor({0.6f, 0.6f})));
  CHECK(torch::allclose(run(0.0, 2), torch::tensor({0.5f, 0.6f})));
  CHECK(torch::allclose(run(1.0, 3), torch::tensor({0.55f, 0.65f})));
}

TEST_CASE("MI-FGSM counts steps + 1 queries and steps gradient calls, and is deterministic", "[attacks][mifgsm]") {
  test::CorrectToyBatch t;
  int steps = GENERATE(1, 4);
  auto run = [&](uint64_t seed) {
    auto a = make_attack("mi-fgsm", {{"steps", steps}, {"early_stop", false}});
    a->set_seed(seed);
    return a->run(*t.model, t.x, t.y, Goal::untargeted());
  };
  auto r = run(5);
  CHECK(r.queries.eq(steps + 1).all().item<bool>());
  CHECK(r.gradient_calls == steps);
  CHECK(torch::equal(r.adversarial, run(5).adversarial));
}

// ---- deepfool -----------------------------------------------------------------------------

TEST_CASE("DeepFool on a linear model takes the closed-form step to the boundary", "[attacks][deepfool]") {
  auto w = torch::tensor({0.5f, -2.0f, 1.0f, -0.25f});
  const double b = 0.075;
  auto model = test::linear_two_class(w, b);
  // Row 0: w.x + b = -0.3 (class 0); row 1: +0.325 (class 1). Both far from the box edges.
  auto x = torch::stack({torch::full({4}, 0.5f), torch::tensor({0.7f, 0.3f, 0.6f, 0.4f})}).view({2, 1, 1, 4});
  auto y = torch::tensor({0, 1}, torch::kLong);
  std::string norm = GENERATE(as<std::string>{}, "l2", "linf");
  double overshoot = GENERATE(0.0, 0.02, 0.5);
  auto r = make_attack("deepfool", {{"norm", norm}, {"overshoot", overshoot}})->run(model, x, y, Goal::untargeted());
  auto f = ((x.flatten(1) * w).sum(1) + b).abs();
  auto side = torch::tensor({1.0f, -1.0f}).view({2, 1});  // which way the boundary lies
  torch::Tensor expected;
  if (norm == "l2") {
    auto n2 = w.norm().item<float>();
    expected = (1 + overshoot) * (f / n2 + 1e-4).view({2, 1}) * side * w / n2;
  } else {
    auto n1 = w.abs().sum().item<float>();
    expected = (1 + overshoot) * (f / n1 + 1e-4).view({2, 1}) * side * w.sign();
  }
  CHECK(torch::allclose((r.adversarial - x).flatten(1), expected, 1e-5, 1e-6));
  CHECK(r.success.all().item<bool>());
  // clean pass, the step's pass, and the pass that finds the sample adversarial; one backward.
  CHECK(r.queries.eq(3).all().item<bool>());
  CHECK(r.gradient_calls == 1);
}

TEST_CASE("DeepFool breaks most toy-model samples and reports success truthfully", "[attacks][deepfool]") {
  test::CorrectToyBatch t;
  std::string norm = GENERATE(as<std::string>{}, "l2", "linf");
  auto r = make_attack("deepfool", {{"norm", norm}})->run(*t.model, t.x, t.y, Goal::untargeted());
  INFO("successes " << r.success.sum().item<int64_t>());
  CHECK(r.success.sum().item<int64_t>() >= 14);
  CHECK(torch::equal(r.success, reevaluate(*t.model, r.adversarial, t.y, Goal::untargeted())));
  CHECK(r.adversarial.min().item<float>() >= 0.0f);
  CHECK(r.adversarial.max().item<float>() <= 1.0f);
  // 5 classes, all candidates: 4 backward passes per iteration.
  CHECK(r.gradient_calls % 4 == 0);
  CHECK(r.queries.min().item<int64_t>() >= 3);
}

TEST_CASE("DeepFool's steps are smaller than PGD's for the same success (minimal norm)", "[attacks][deepfool]") {
  test::CorrectToyBatch t;
  auto df = make_attack("deepfool", {})->run(*t.model, t.x, t.y, Goal::untargeted());
  auto pgd = make_attack("pgd", {{"norm", "l2"}, {"eps", 2.0}, {"alpha", 0.25}, {"steps", 20}});
  pgd->set_seed(1);
  auto rp = pgd->run(*t.model, t.x, t.y, Goal::untargeted());
  auto both = df.success & rp.success;
  REQUIRE(both.sum().item<int64_t>() >= 8);
  INFO("deepfool " << mean_over(df.l2, both) << " pgd " << mean_over(rp.l2, both));
  CHECK(mean_over(df.l2, both) < mean_over(rp.l2, both));
}

TEST_CASE("targeted DeepFool (mirage's extension) reaches the runner-up class", "[attacks][deepfool]") {
  test::CorrectToyBatch t;
  auto goal = make_goal("runner-up", *t.model, t.x, t.y, 0);
  auto r = make_attack("deepfool", {})->run(*t.model, t.x, t.y, goal);
  CHECK(r.success.sum().item<int64_t>() >= 14);
  CHECK(torch::equal(r.success, r.adv_pred.eq(goal.targets)));
}

TEST_CASE("DeepFool returns the last iterate of a sample it cannot break", "[attacks][deepfool]") {
  // w.x + b <= -3 on the whole box: class 1 is out of reach.
  auto model = test::linear_two_class(torch::tensor({1.0f, 1.0f}), -5.0);
  auto x = torch::full({2, 1, 1, 2}, 0.5f);
  auto r = make_attack("deepfool", {{"steps", 5}})->run(model, x, torch::zeros({2}, torch::kLong), Goal::untargeted());
  CHECK_FALSE(r.success.any().item<bool>());
  CHECK(torch::allclose(r.adversarial, torch::ones_like(x)));  // pushed to the box corner
  CHECK(r.queries.eq(1 + 5).all().item<bool>());
  CHECK(r.gradient_calls == 5);
}

// ---- cw -----------------------------------------------------------------------------------

TEST_CASE("CW finds smaller L2 perturbations than PGD-L2 and stays in the box", "[attacks][cw]") {
  test::CorrectToyBatch t;
  auto cw = make_attack("cw", {{"steps", 100}, {"binary_search_steps", 5}, {"initial_const", 0.1}})
                ->run(*t.model, t.x, t.y, Goal::untargeted());
  auto pgd = make_attack("pgd", {{"norm", "l2"}, {"eps", 2.0}, {"alpha", 0.25}, {"steps", 20}});
  pgd->set_seed(1);
  auto rp = pgd->run(*t.model, t.x, t.y, Goal::untargeted());
  INFO("cw successes " << cw.success.sum().item<int64_t>() << " pgd " << rp.success.sum().item<int64_t>());
  CHECK(cw.success.sum().item<int64_t>() >= 14);
  REQUIRE(rp.success.sum().item<int64_t>() >= 8);
  INFO("cw mean L2 " << mean_over(cw.l2, cw.success) << " pgd " << mean_over(rp.l2, rp.success));
  CHECK(mean_over(cw.l2, cw.success) < mean_over(rp.l2, rp.success));
  CHECK(cw.adversarial.min().item<float>() >= 0.0f);
  CHECK(cw.adversarial.max().item<float>() <= 1.0f);
  CHECK(torch::equal(cw.success, reevaluate(*t.model, cw.adversarial, t.y, Goal::untargeted())));
}

TEST_CASE("targeted CW reaches its targets", "[attacks][cw]") {
  test::CorrectToyBatch t;
  auto goal = Goal::targeted_to((t.y + 1) % 5);
  auto r = make_attack("cw", {{"steps", 100}, {"binary_search_steps", 5}, {"initial_const", 0.1}})
               ->run(*t.model, t.x, t.y, goal);
  INFO("successes " << r.success.sum().item<int64_t>());
  CHECK(r.success.sum().item<int64_t>() >= 14);
  CHECK(torch::equal(r.success, r.adv_pred.eq(goal.targets)));
}

TEST_CASE("CW's kappa buys a logit margin of at least kappa", "[attacks][cw]") {
  test::CorrectToyBatch t;
  const double kappa = 0.05;  // the toy net's clean logits spread over ~0.2
  auto r = make_attack("cw", {{"steps", 100}, {"binary_search_steps", 5}, {"initial_const", 0.1}, {"kappa", kappa}})
               ->run(*t.model, t.x, t.y, Goal::untargeted());
  REQUIRE(r.success.sum().item<int64_t>() >= 8);
  torch::NoGradGuard g;
  auto z = t.model->logits(r.adversarial);
  auto z_y = z.gather(1, t.y.view({-1, 1})).squeeze(1);
  auto other = z.scatter(1, t.y.view({-1, 1}), -1e9).amax(1);
  CHECK((other - z_y).index({r.success}).min().item<double>() >= kappa - 1e-4);
}

TEST_CASE("CW leaves misclassified samples alone and returns unbreakable ones unchanged", "[attacks][cw]") {
  auto model = test::linear_two_class(torch::tensor({1.0f, 1.0f}), -5.0);  // always class 0
  auto x = torch::full({2, 1, 1, 2}, 0.5f);
  auto y = torch::tensor({1, 0}, torch::kLong);  // sample 0 is already misclassified
  auto r = make_attack("cw", {{"steps", 20}, {"binary_search_steps", 3}, {"abort_early", false}})
               ->run(model, x, y, Goal::untargeted());
  CHECK(torch::equal(r.adversarial, x));
  CHECK(r.success[0].item<bool>());
  CHECK_FALSE(r.success[1].item<bool>());
  CHECK(r.queries[0].item<int64_t>() == 1);
  CHECK(r.queries[1].item<int64_t>() == 1 + 3 * 20);  // one forward per iteration, no early abort
  CHECK(r.gradient_calls == 3 * 20);
}

TEST_CASE("CW's early abort saves queries without losing successes, and is deterministic", "[attacks][cw]") {
  test::CorrectToyBatch t;
  auto run = [&](bool abort_early) {
    auto a = make_attack("cw", {{"steps", 100}, {"binary_search_steps", 3}, {"initial_const", 1.0},
                                {"abort_early", abort_early}});
    a->set_seed(3);
    return a->run(*t.model, t.x, t.y, Goal::untargeted());
  };
  auto full = run(false), early = run(true);
  CHECK(full.queries.eq(1 + 300).all().item<bool>());
  CHECK(early.queries.max().item<int64_t>() <= 1 + 300);
  CHECK(early.queries.sum().item<int64_t>() < full.queries.sum().item<int64_t>());
  CHECK(early.success.sum().item<int64_t>() == full.success.sum().item<int64_t>());
  CHECK(torch::equal(early.adversarial, run(true).adversarial));
}

// ---- parameters ---------------------------------------------------------------------------

TEST_CASE("MI-FGSM, DeepFool and CW reject bad parameters", "[attacks][mifgsm][deepfool][cw]") {
  CHECK_THROWS_AS(make_attack("mi-fgsm", {{"steps", 0}}), UsageError);
  CHECK_THROWS_WITH(make_attack("mi-fgsm", {{"decay", -0.1}}), Catch::Contains("decay"));
  CHECK_THROWS_WITH(make_attack("mi-fgsm", {{"norm", "l2"}}), Catch::Contains("l2"));
  CHECK_THROWS_AS(make_attack("mi-fgsm", {{"eps", 0}}), UsageError);
  CHECK_THROWS_AS(make_attack("deepfool", {{"steps", 0}}), UsageError);
  CHECK_THROWS_WITH(make_attack("deepfool", {{"overshoot", -0.01}}), Catch::Contains("overshoot"));
  CHECK_THROWS_WITH(make_attack("deepfool", {{"candidates", 1}}), Catch::Contains("candidates"));
  CHECK_THROWS_AS(make_attack("deepfool", {{"norm", "l1"}}), UsageError);
  CHECK_THROWS_AS(make_attack("deepfool", {{"eps", 0.1}}), UsageError);  // minimal-norm: no eps
  CHECK_THROWS_AS(make_attack("cw", {{"steps", 0}}), UsageError);
  CHECK_THROWS_AS(make_attack("cw", {{"binary_search_steps", 0}}), UsageError);
  CHECK_THROWS_WITH(make_attack("cw", {{"kappa", -1}}), Catch::Contains("kappa"));
  CHECK_THROWS_AS(make_attack("cw", {{"lr", 0}}), UsageError);
  CHECK_THROWS_AS(make_attack("cw", {{"initial_const", -1}}), UsageError);
  CHECK(make_attack("mi-fgsm", {{"decay", 0}})->options_json()["decay"].get<double>() == 0.0);
  CHECK(make_attack("deepfool", {})->options_json()["candidates"] == "all");
  CHECK(make_attack("cw", {})->options_json()["steps"].get<int64_t>() == 1000);
}
