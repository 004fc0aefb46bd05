#include <catch2/catch.hpp>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "attacks/attack.h"
#include "lib/error.h"
#include "lib/model.h"
#include "tests/attacks/toy_models.h"
#include "tests/test_util.h"

using namespace mirage;

TEST_CASE("FGSM on a linear model equals the closed form", "[attacks][fgsm]") {
  auto w = torch::tensor({0.5f, -2.0f, 1.0f, -0.25f});
  auto model = test::linear_two_class(w, 0.0);
  auto x = torch::full({2, 1, 1, 4}, 0.5f);
  auto y = torch::tensor({0, 1}, torch::kLong);  // label 0 ascends w.x, label 1 descends it
  double eps = GENERATE(0.01, 0.1, 0.3);
  auto attack = make_attack("fgsm", {{"eps", eps}});
  auto r = attack->run(model, x, y, Goal::untargeted());
  auto up = (x[0] + eps * w.sign().view({1, 1, 4})).clamp(0, 1);
  auto down = (x[1] - eps * w.sign().view({1, 1, 4})).clamp(0, 1);
  CHECK(torch::allclose(r.adversarial[0], up));
  CHECK(torch::allclose(r.adversarial[1], down));
  CHECK(r.linf.max().item<double>() <= eps + 1e-6);
}

TEST_CASE("PGD stays in the box and within eps, for every norm and eps", "[attacks][pgd]") {
  torch::manual_seed(0);
  auto toy = test::toy_conv_model(4);
  auto& model = *toy;
  auto x = torch::rand({6, 1, 8, 8});
  auto y = torch::randint(0, 5, {6});
  std::string norm = GENERATE(as<std::string>{}, "linf", "l2");
  double eps = GENERATE(0.01, 0.05, 0.5);
  auto attack = make_attack("pgd", {{"norm", norm}, {"eps", eps}, {"alpha", eps / 4}, {"steps", 5}, {"restarts", 2}});
  attack->set_seed(1);
  auto r = attack->run(model, x, y, Goal::untargeted());
  test::check_box_and_ball(r, norm, eps);
}

TEST_CASE("targeted PGD reaches its target on a toy model", "[attacks][pgd]") {
  auto w = torch::tensor({1.0f, 1.0f, 1.0f, 1.0f});
  auto model = test::linear_two_class(w, -2.0);  // class 1 iff mean pixel > 0.5
  auto x = torch::full({3, 1, 1, 4}, 0.4f);
  auto y = torch::zeros({3}, torch::kLong);
  auto attack = make_attack("pgd", {{"eps", "32/255"}, {"alpha", "8/255"}, {"steps", 10}}  /* needs > 0.1 per pixel */);
  auto r = attack->run(model, x, y, Goal::targeted_to(torch::ones({3}, torch::kLong)));
  CHECK(r.success.all().item<bool>());
  CHECK(r.adv_pred.eq(1).all().item<bool>());
  // Too small a budget cannot cross the boundary: success must then be reported false.
  auto weak = make_attack("pgd", {{"eps", "1/255"}, {"alpha", "1/255"}, {"steps", 10}});
  auto rw = weak->run(model, x, y, Goal::targeted_to(torch::ones({3}, torch::kLong)));
  CHECK_FALSE(rw.success.any().item<bool>());
}

TEST_CASE("PGD counts one query per sample for the clean pass, each step and the final check", "[attacks][pgd]") {
  auto model = test::linear_two_class(torch::tensor({1.0f, -1.0f}), 0.0);
  auto x = torch::rand({4, 1, 1, 2});
  auto r = make_attack("pgd", {{"steps", 7}, {"eps", 0.001}, {"early_stop", false}})
               ->run(model, x, torch::zeros({4}, torch::kLong), Goal::untargeted());
  CHECK(r.queries.eq(9).all().item<bool>());
  CHECK(r.gradient_calls == 7);
  // With early stop (the default) a sample the clean image already misclassifies stops at the
  // first step (clean pass, one step, the final check); one eps cannot break takes them all.
  auto xs = torch::tensor({0.6f, 0.5f, 0.5f, 0.6f}).view({2, 1, 1, 2});  // classes 1 and 0
  auto stopped = make_attack("pgd", {{"steps", 7}, {"eps", 0.001}})
                     ->run(model, xs, torch::zeros({2}, torch::kLong), Goal::untargeted());
  CHECK(stopped.queries.equal(torch::tensor({3, 9}, torch::kLong)));
}

TEST_CASE("the same seed gives the same adversarial examples, another seed differs", "[attacks][determinism]") {
  torch::manual_seed(0);
  auto toy = test::toy_conv_model(4);
  auto& model = *toy;
  auto x = torch::rand({4, 1, 8, 8});
  auto y = torch::randint(0, 5, {4});
  auto run = [&](uint64_t seed) {
    auto a = make_attack("pgd", {{"steps", 3}});
    a->set_seed(seed);
    return a->run(model, x, y, Goal::untargeted()).adversarial;
  };
  CHECK(torch::equal(run(3), run(3)));
  CHECK_FALSE(torch::equal(run(3), run(4)));
}

TEST_CASE("Lp projections land in the ball and leave inside points alone", "[attacks][projection]") {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
  auto d = torch::randn({5, 1, 4, 4}, gen, torch::TensorOptions());
  for (Norm norm : {Norm::kLinf, Norm::kL2, Norm::kL1}) {
    double eps = 0.3;
    auto p = project_ball(d, norm, eps);
    CHECK(lp_norms(p, norm).max().item<double>() <= eps * (1 + 1e-5));
    auto small = d * (0.1 * eps / lp_norms(d, norm).view({-1, 1, 1, 1}));
    CHECK(torch::allclose(project_ball(small, norm, eps), small));
  }
  // L1: projecting (3, 1) onto the radius-2 ball soft-thresholds by 1 -> (2, 0).
  auto v = torch::tensor({3.0f, 1.0f}).view({1, 1, 1, 2});
  CHECK(torch::allclose(project_ball(v, Norm::kL1, 2.0), torch::tensor({2.0f, 0.0f}).view({1, 1, 1, 2})));
}

TEST_CASE("bad attack names and parameters are UsageErrors naming them", "[attacks][errors]") {
  CHECK_THROWS_WITH(make_attack("nope", {}), Catch::Contains("nope"));
  CHECK_THROWS_WITH(make_attack("pgd", {{"epsilon", 0.1}}), Catch::Contains("epsilon"));
  CHECK_THROWS_WITH(make_attack("pgd", {{"eps", 0}}), Catch::Contains("eps"));
  CHECK_THROWS_WITH(make_attack("pgd", {{"eps", "nan"}}), Catch::Contains("eps"));
  CHECK_THROWS_WITH(make_attack("pgd", {{"steps", 0}}), Catch::Contains("steps"));
  CHECK_THROWS_WITH(make_attack("pgd", {{"norm", "l7"}}), Catch::Contains("norm"));
  CHECK_THROWS_AS(make_attack("fgsm", {{"eps", "8/0"}}), UsageError);
  CHECK(make_attack("pgd", {{"eps", "8/255"}})->options_json()["eps"].get<double>() == Approx(8.0 / 255));
}

TEST_CASE("an attack spec on one line gives the name and the parameters make_attack reads", "[attacks][spec]") {
  const AttackSpec s = parse_attack_spec("pgd:eps=8/255, steps=3");
  CHECK(s.text == "pgd:eps=8/255, steps=3");
  CHECK(s.name == "pgd");
  CHECK(s.params == nlohmann::json{{"eps", "8/255"}, {"steps", "3"}});
  CHECK(make_attack(s.name, s.params)->name() == "pgd");
  const AttackSpec bare = parse_attack_spec("fgsm");
  CHECK(bare.name == "fgsm");
  CHECK(bare.params.empty());
  // The same key=value reader as `mirage attack -p`, and its errors.
  CHECK(test::message_of<UsageError>([] { parse_attack_spec("pgd:eps"); }).find("expected key=value") != std::string::npos);
  CHECK_THROWS_AS(parse_attack_spec(":eps=1"), UsageError);
  CHECK_THROWS_AS(make_attack("pgd", parse_attack_spec("pgd:epz=0.1").params), UsageError);  // unknown key
}
