#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "attacks/apgd.h"
#include "attacks/attack.h"
#include "lib/model.h"
#include "tests/attacks/toy_models.h"

using namespace mirage;

TEST_CASE("APGD checkpoints follow the paper's schedule", "[attacks][apgd]") {
  CHECK(apgd_checkpoints(100) == std::vector<int64_t>{22, 41, 57, 70, 80, 87, 93, 99});
  CHECK(apgd_checkpoints(1) == std::vector<int64_t>{1});
}

TEST_CASE("DLR loss matches its closed form", "[attacks][apgd]") {
  auto z = torch::tensor({3.0f, 1.0f, 2.0f, 0.0f}).view({1, 4});
  auto y = torch::tensor({0}, torch::kLong);
  CHECK(dlr_loss(z, y, Goal::untargeted()).item<float>() == Approx(-(3.0 - 2.0) / (3.0 - 1.0)));
  auto t = Goal::targeted_to(torch::tensor({3}, torch::kLong));
  CHECK(dlr_loss(z, y, t).item<float>() == Approx(-(3.0 - 0.0) / (3.0 - 0.5 * (1.0 + 0.0))));
}

TEST_CASE("APGD variants stay in the box and within eps", "[attacks][apgd]") {
  test::CorrectToyBatch f;
  std::string name = GENERATE(as<std::string>{}, "apgd-ce", "apgd-dlr", "apgd-t");
  std::string norm = GENERATE(as<std::string>{}, "linf", "l2");
  double eps = norm == "linf" ? 0.05 : 0.5;
  nlohmann::json params = {{"norm", norm}, {"eps", eps}, {"steps", 20}};
  if (name == "apgd-t") params["target_classes"] = 2;
  auto attack = make_attack(name, params);
  attack->set_seed(2);
  auto r = attack->run(*f.model, f.x, f.y, Goal::untargeted());
  test::check_box_and_ball(r, norm, eps);
}

TEST_CASE("APGD returns a sample it could not break unchanged, and counts its queries", "[attacks][apgd]") {
  test::CorrectToyBatch f;
  auto r = make_attack("apgd-ce", {{"eps", 1e-4}, {"steps", 10}})->run(*f.model, f.x, f.y, Goal::untargeted());
  auto failed = (~r.success).nonzero().squeeze(1);
  REQUIRE(failed.numel() > 0);
  CHECK(torch::equal(r.adversarial.index_select(0, failed), f.x.index_select(0, failed)));
  CHECK(r.linf.index_select(0, failed).max().item<float>() == 0.0f);
  // clean check + initial point + 10 steps for every (correctly classified) sample
  CHECK(r.queries.index_select(0, failed).eq(12).all().item<bool>());
}

TEST_CASE("APGD-CE is at least as strong as PGD with the same budget", "[attacks][apgd]") {
  test::CorrectToyBatch f;
  auto apgd = make_attack("apgd-ce", {{"eps", 0.03}, {"steps", 40}});
  auto pgd = make_attack("pgd", {{"eps", 0.03}, {"alpha", 0.0075}, {"steps", 40}});
  apgd->set_seed(1);
  pgd->set_seed(1);
  int64_t apgd_hits = apgd->run(*f.model, f.x, f.y, Goal::untargeted()).success.sum().item<int64_t>();
  int64_t pgd_hits = pgd->run(*f.model, f.x, f.y, Goal::untargeted()).success.sum().item<int64_t>();
  INFO("apgd " << apgd_hits << " pgd " << pgd_hits);
  CHECK(apgd_hits >= pgd_hits);
  CHECK(apgd_hits > 0);
}
