// Black-box attacks: Square (score-based) and HopSkipJump (decision-based).
#include <catch2/catch.hpp>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "attacks/attack.h"
#include "attacks/square.h"
#include "lib/error.h"
#include "lib/model.h"
#include "tests/attacks/toy_models.h"

using namespace mirage;

namespace {


// A fixed sign pattern over the 64 pixels.
torch::Tensor sign_pattern() {
  auto i = torch::arange(64);
  return torch::where((i * 7 % 5) < 2, torch::ones({64}), -torch::ones({64}));
}

AttackResult run_seeded(const std::string& name, const nlohmann::json& params, uint64_t seed, Model& model,
                        const torch::Tensor& x, const torch::Tensor& y, const Goal& goal = Goal::untargeted()) {
  auto attack = make_attack(name, params);
  attack->set_seed(seed);
  return attack->run(model, x, y, goal);
}

}  // namespace

TEST_CASE("black-box attacks never use a gradient and report exactly the queries the model saw",
          "[attacks][blackbox][square][hsj]") {
  test::CorrectToyBatch f;
  test::GradFreeModel guarded(*f.model);
  QueryCountingModel counter(guarded.model);
  auto [name, params] = GENERATE(table<std::string, nlohmann::json>({
      {"square", {{"norm", "linf"}, {"eps", 0.05}, {"queries", 150}, {"restarts", 2}}},
      {"square", {{"norm", "l2"}, {"eps", 0.5}, {"queries", 150}, {"loss", "ce"}}},
      {"hsj", {{"norm", "l2"}, {"queries", 700}, {"steps", 4}}},
      {"hsj", {{"norm", "linf"}, {"queries", 700}, {"steps", 4}}},
  }));
  INFO(name << " " << params.dump());
  auto attack = make_attack(name, params);
  CHECK(attack->black_box());
  for (const auto& info : attack_registry()) {
    if (info.name == name) CHECK(info.black_box);
  }
  auto r = attack->run(counter, f.x, f.y, Goal::untargeted());
  CHECK(*guarded.violations == 0);
  CHECK(r.gradient_calls == 0);
  // finalize_result's verification pass (one image per sample) is the only uncounted one.
  CHECK(r.queries.sum().item<int64_t>() + f.x.size(0) == counter.queries());
  CHECK(r.queries.min().item<int64_t>() >= 2);
}

TEST_CASE("black-box attacks stay within their query budget", "[attacks][blackbox][square][hsj]") {
  test::CorrectToyBatch f;
  SECTION("square: at most 1 + restarts * queries; a sample it cannot break spends all of it") {
    const int64_t queries = GENERATE(1, 2, 60);
    auto r = run_seeded("square", {{"eps", 1e-3}, {"queries", queries}, {"restarts", 2}}, 1, *f.model, f.x, f.y);
    CHECK(r.queries.max().item<int64_t>() <= 1 + 2 * queries);
    auto failed = (~r.success).nonzero().squeeze(1);
    REQUIRE(failed.numel() > 0);
    CHECK(r.queries.index_select(0, failed).eq(1 + 2 * queries).all().item<bool>());
  }
  SECTION("hsj: at most 1 + queries, the budget cutting searches short") {
    const int64_t queries = GENERATE(1, 30, 250, 1000);
    auto r = run_seeded("hsj", {{"queries", queries}, {"steps", 20}}, 1, *f.model, f.x, f.y);
    CHECK(r.queries.max().item<int64_t>() <= 1 + queries);
    // Whatever the budget, a sample that found a start returns a point meeting the goal.
    CHECK(r.success.eq(r.linf > 0).all().item<bool>());
  }
}

TEST_CASE("Square stays in the box and within eps", "[attacks][blackbox][square]") {
  test::CorrectToyBatch f;
  std::string norm = GENERATE(as<std::string>{}, "linf", "l2");
  double scale = GENERATE(0.1, 1.0, 4.0);
  const double eps = (norm == "linf" ? 0.05 : 0.5) * scale;
  auto r = run_seeded("square", {{"norm", norm}, {"eps", eps}, {"queries", 300}, {"restarts", 2}}, 3, *f.model, f.x, f.y);
  test::check_box_and_ball(r, norm, eps);
}

TEST_CASE("Square breaks most samples of the toy model at a generous eps", "[attacks][blackbox][square]") {
  test::CorrectToyBatch f;
  std::string norm = GENERATE(as<std::string>{}, "linf", "l2");
  const double eps = norm == "linf" ? 0.1 : 1.0;  // APGD-CE breaks all 16 here, and 8 / 12 at half of it
  auto r = run_seeded("square", {{"norm", norm}, {"eps", eps}, {"queries", 1000}}, 1, *f.model, f.x, f.y);
  const int64_t broken = r.success.sum().item<int64_t>();
  // The starting point alone (a budget of one query) breaks few: the search does the work.
  auto init_only = run_seeded("square", {{"norm", norm}, {"eps", eps}, {"queries", 1}}, 1, *f.model, f.x, f.y);
  INFO(norm << ": " << broken << " of 16 broken, mean queries " << r.queries.to(torch::kDouble).mean().item<double>()
            << "; " << init_only.success.sum().item<int64_t>() << " by the initial point");
  CHECK(broken >= 14);
  CHECK(init_only.success.sum().item<int64_t>() <= 4);
  // Success stops the search: broken samples used fewer queries than the budget.
  CHECK(r.queries.masked_select(r.success).max().item<int64_t>() < 1001);
}

TEST_CASE("Square on a linear model succeeds just above the minimal Linf distance, and not below it",
          "[attacks][blackbox][square]") {
  auto w = sign_pattern();
  auto model = test::linear_two_class(w, -1.0, test::toy_spec(1, 8, 8, 2));
  auto x = torch::full({4, 1, 8, 8}, 0.5f);  // w . x + b = 0.5 * sum(w) - 1
  auto y = torch::zeros({4}, torch::kLong);
  const double margin = 1.0 - 0.5 * w.sum().item<double>();
  REQUIRE(margin > 0);
  const double d_min = margin / w.abs().sum().item<double>();  // minimal Linf distance to class 1
  auto above = run_seeded("square", {{"eps", 1.3 * d_min}, {"queries", 2000}}, 5, model, x, y);
  CHECK(above.success.all().item<bool>());
  CHECK(above.adv_pred.eq(1).all().item<bool>());
  CHECK(above.linf.max().item<double>() <= 1.3 * d_min + 1e-6);
  auto below = run_seeded("square", {{"eps", 0.95 * d_min}, {"queries", 300}}, 5, model, x, y);
  CHECK_FALSE(below.success.any().item<bool>());
  // A failed sample returns its best point: closer to the boundary than the clean image.
  torch::NoGradGuard g;
  CHECK((model.logits(below.adversarial).select(1, 1) > model.logits(x).select(1, 1)).all().item<bool>());
}

TEST_CASE("targeted Square reaches its targets", "[attacks][blackbox][square]") {
  test::CorrectToyBatch f;
  std::string norm = GENERATE(as<std::string>{}, "linf", "l2");
  auto goal = make_goal("runner-up", *f.model, f.x, f.y, 0);
  const double eps = norm == "linf" ? 0.1 : 1.0;
  auto r = run_seeded("square", {{"norm", norm}, {"eps", eps}, {"queries", 1000}}, 2, *f.model, f.x, f.y, goal);
  const int64_t reached = r.success.sum().item<int64_t>();
  INFO(norm << ": " << reached << " of 16 reached their target");
  CHECK(reached >= 12);
  CHECK(r.adv_pred.masked_select(r.success).eq(goal.targets.masked_select(r.success)).all().item<bool>());
}

TEST_CASE("Square's schedule and squares follow the reference", "[attacks][blackbox][square]") {
  CHECK(square_p_selection(0, 10000, 0.8) == 0.8);
  CHECK(square_p_selection(10, 10000, 0.8) == 0.8);
  CHECK(square_p_selection(11, 10000, 0.8) == 0.4);
  CHECK(square_p_selection(201, 10000, 0.8) == 0.1);
  CHECK(square_p_selection(8001, 10000, 0.8) == Approx(0.8 / 512));
  // Rescaled to the budget: iteration 3 of 1000 is iteration 30 of 10000.
  CHECK(square_p_selection(3, 1000, 0.8) == 0.4);
  CHECK(square_p_selection(1, 1000, 0.8) == 0.8);

  CHECK(torch::allclose(square_eta(1), torch::full({1, 1}, -1.0f)));
  // eta(3): top row the rings of a 1x3 patch, bottom two rows minus those of a 2x3 patch.
  auto unit = [](torch::Tensor t) { return t / t.pow(2).sum().sqrt(); };
  auto top = unit(torch::tensor({{0.25f, 1.25f, 0.25f}}));
  auto bottom = unit(torch::tensor({{0.25f, 0.25f, 0.25f}, {0.25f, 1.25f, 0.25f}}));
  auto expected = unit(torch::cat({top, -bottom}, 0));
  CHECK(torch::allclose(square_eta(3), expected));
  for (int64_t s : {2, 5, 8}) {
    auto eta = square_eta(s);
    CHECK(eta.pow(2).sum().item<float>() == Approx(1.0f));
    CHECK(eta.narrow(0, 0, s / 2).min().item<float>() >= 0.0f);
    CHECK(eta.narrow(0, s / 2, s - s / 2).max().item<float>() < 0.0f);
  }
}

TEST_CASE("HopSkipJump returns points that meet the goal and shrinks them with more iterations",
          "[attacks][blackbox][hsj]") {
  test::CorrectToyBatch f;
  std::string norm = GENERATE(as<std::string>{}, "l2", "linf");
  auto few = run_seeded("hsj", {{"norm", norm}, {"steps", 1}, {"queries", 20000}}, 4, *f.model, f.x, f.y);
  auto many = run_seeded("hsj", {{"norm", norm}, {"steps", 15}, {"queries", 20000}}, 4, *f.model, f.x, f.y);
  for (const auto* r : {&few, &many}) {
    CHECK(r->success.all().item<bool>());
    CHECK(r->adversarial.min().item<float>() >= 0.0f);
    CHECK(r->adversarial.max().item<float>() <= 1.0f);
  }
  const auto& d_few = norm == "l2" ? few.l2 : few.linf;
  const auto& d_many = norm == "l2" ? many.l2 : many.linf;
  INFO(norm << ": mean distance after 1 step " << d_few.mean().item<double>() << ", after 15 "
            << d_many.mean().item<double>());
  CHECK(d_many.mean().item<double>() < 0.8 * d_few.mean().item<double>());
  CHECK((d_many < d_few).to(torch::kLong).sum().item<int64_t>() >= 12);
  // Same seed, same start and first iteration: more steps cost more queries.
  CHECK((many.queries >= few.queries).all().item<bool>());
}

TEST_CASE("HopSkipJump approaches the closed-form distance to a linear boundary", "[attacks][blackbox][hsj]") {
  auto w = sign_pattern() * (1.0 + 0.5 * torch::arange(64) / 64.0);
  // Score -1.5 at the grey image; uniform noise lands on class 1 about a third of the time.
  const double b = -0.5 * w.sum().item<double>() - 1.5;
  auto model = test::linear_two_class(w, b, test::toy_spec(1, 8, 8, 2));
  auto x = torch::full({3, 1, 8, 8}, 0.5f) + 0.05f * torch::randn({3, 1, 8, 8}, at::make_generator<at::CPUGeneratorImpl>(1));
  auto y = torch::zeros({3}, torch::kLong);
  auto score = (x.flatten(1) * w).sum(1) + b;
  REQUIRE((score < 0).all().item<bool>());
  std::string norm = GENERATE(as<std::string>{}, "l2", "linf");
  // Minimal distances to {w . x' + b = 0}: |score| / ||w||_2 (L2), |score| / ||w||_1 (Linf); the box does not bind.
  auto d_min = -score / (norm == "l2" ? w.norm() : w.abs().sum());
  auto r = run_seeded("hsj", {{"norm", norm}, {"steps", 30}, {"queries", 20000}}, 7, model, x, y);
  auto d = norm == "l2" ? r.l2 : r.linf;
  INFO(norm << ": found " << d << " minimal " << d_min);
  CHECK(r.success.all().item<bool>());
  CHECK((d >= d_min * (1 - 1e-4)).all().item<bool>());
  CHECK((d <= d_min * (norm == "l2" ? 1.03 : 1.05)).all().item<bool>());
}

TEST_CASE("HopSkipJump returns a sample unchanged when it finds no adversarial start", "[attacks][blackbox][hsj]") {
  // Always class 0: nothing meets the untargeted goal for label 0.
  FunctionModel constant([](const at::Tensor& x) { return torch::cat({torch::ones({x.size(0), 1}), torch::zeros({x.size(0), 1})}, 1); },
                         test::toy_spec(1, 8, 8, 2), torch::kCPU);
  auto x = torch::rand({3, 1, 8, 8});
  auto y = torch::zeros({3}, torch::kLong);
  auto r = run_seeded("hsj", {{"init_attempts", 25}}, 1, constant, x, y);
  CHECK_FALSE(r.success.any().item<bool>());
  CHECK(torch::equal(r.adversarial, x));
  CHECK(r.queries.eq(1 + 25).all().item<bool>());
  auto capped = run_seeded("hsj", {{"init_attempts", 25}, {"queries", 10}}, 1, constant, x, y);
  CHECK(capped.queries.eq(1 + 10).all().item<bool>());
}

TEST_CASE("targeted HopSkipJump ends on its targets", "[attacks][blackbox][hsj]") {
  test::CorrectToyBatch f;
  auto goal = make_goal("runner-up", *f.model, f.x, f.y, 0);
  auto r = run_seeded("hsj", {{"steps", 5}, {"queries", 3000}}, 2, *f.model, f.x, f.y, goal);
  // Success exactly where a start of the target class was found (the toy net has 5 classes).
  CHECK(r.success.sum().item<int64_t>() >= 8);
  CHECK(r.adv_pred.masked_select(r.success).eq(goal.targets.masked_select(r.success)).all().item<bool>());
  CHECK(torch::equal(r.adversarial.index_select(0, (~r.success).nonzero().squeeze(1)),
                     f.x.index_select(0, (~r.success).nonzero().squeeze(1))));
}

TEST_CASE("black-box attacks give the same output for the same seed and differ for another",
          "[attacks][blackbox][square][hsj][determinism]") {
  test::CorrectToyBatch f;
  auto [name, params] = GENERATE(table<std::string, nlohmann::json>({
      {"square", {{"norm", "linf"}, {"queries", 100}}},
      {"square", {{"norm", "l2"}, {"queries", 100}}},
      {"hsj", {{"norm", "l2"}, {"queries", 800}, {"steps", 3}}},
      {"hsj", {{"norm", "linf"}, {"queries", 800}, {"steps", 3}}},
  }));
  INFO(name << " " << params.dump());
  auto a = run_seeded(name, params, 11, *f.model, f.x, f.y);
  auto b = run_seeded(name, params, 11, *f.model, f.x, f.y);
  auto c = run_seeded(name, params, 12, *f.model, f.x, f.y);
  CHECK(torch::equal(a.adversarial, b.adversarial));
  CHECK(torch::equal(a.queries, b.queries));
  CHECK_FALSE(torch::equal(a.adversarial, c.adversarial));
}

TEST_CASE("bad Square and HopSkipJump parameters are UsageErrors naming them", "[attacks][blackbox][square][hsj]") {
  CHECK_THROWS_AS(make_attack("square", {{"p_init", 1.5}}), UsageError);
  CHECK_THROWS_WITH(make_attack("square", {{"loss", "dlr"}}), Catch::Contains("loss"));
  CHECK_THROWS_WITH(make_attack("square", {{"norm", "l1"}}), Catch::Contains("l1"));
  CHECK_THROWS_WITH(make_attack("square", {{"queries", 0}}), Catch::Contains("queries"));
  CHECK_THROWS_WITH(make_attack("hsj", {{"eps", 0.1}}), Catch::Contains("eps"));
  CHECK_THROWS_WITH(make_attack("hsj", {{"gamma", -1}}), Catch::Contains("gamma"));
  CHECK_THROWS_WITH(make_attack("hsj", {{"init_evals", 0}}), Catch::Contains("init_evals"));
  CHECK(make_attack("hsj", {})->options_json()["norm"] == "l2");
  CHECK(make_attack("square", {{"norm", "l2"}})->options_json()["eps"] == 0.5);
}
