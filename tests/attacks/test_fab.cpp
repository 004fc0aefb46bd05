#include <catch2/catch.hpp>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "attacks/attack.h"
#include "attacks/fab.h"
#include "lib/error.h"
#include "lib/model.h"
#include "tests/attacks/toy_models.h"

using namespace mirage;

namespace {

// The smallest `norm` of d with w . (t + d) = b and t + d in [0,1]^D, solved apart from
// fab_projection: by bisection on the dual variable (Linf: the radius; L2: the multiplier of the
// clipped KKT point clip(-a w)), or by enumerating every vertex of the linear program (L1).
double reference_min_norm(const std::vector<double>& t, const std::vector<double>& w_in, double b, Norm norm) {
  const size_t n = t.size();
  double c = -b;
  for (size_t i = 0; i < n; ++i) c += w_in[i] * t[i];
  const double s = c >= 0 ? 1.0 : -1.0;
  c = std::abs(c);
  std::vector<double> aw(n), room(n);
  for (size_t i = 0; i < n; ++i) {
    const double wi = s * w_in[i];
    aw[i] = std::abs(wi);
    room[i] = wi < 0 ? 1 - t[i] : t[i];
  }
  auto amount = [&](size_t i, double a) { return std::min(norm == Norm::kLinf ? a : a * aw[i], room[i]); };
  auto decrease = [&](double a) {
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += aw[i] * amount(i, a);
    return sum;
  };
  if (norm == Norm::kLinf || norm == Norm::kL2) {
    double lo = 0, hi = 1;
    while (decrease(hi) < c && hi < 1e15) hi *= 2;
    for (int it = 0; it < 200; ++it) {
      const double mid = 0.5 * (lo + hi);
      (decrease(mid) < c ? lo : hi) = mid;
    }
    if (norm == Norm::kLinf) return hi;
    double sq = 0;
    for (size_t i = 0; i < n; ++i) sq += amount(i, hi) * amount(i, hi);
    return std::sqrt(sq);
  }
  // L1: each coordinate moves against w by some amount in [0, room]; a vertex has every
  // coordinate at 0 or at its room but at most one.
  double best = std::numeric_limits<double>::infinity();
  for (uint32_t full = 0; full < (1u << n); ++full) {
    double dec = 0, cost = 0;
    for (size_t i = 0; i < n; ++i) {
      if (full & (1u << i)) dec += aw[i] * room[i], cost += room[i];
    }
    if (std::abs(dec - c) < 1e-12) best = std::min(best, cost);
    if (dec > c) continue;
    for (size_t j = 0; j < n; ++j) {
      if ((full & (1u << j)) || aw[j] == 0) continue;
      const double part = (c - dec) / aw[j];
      if (part <= room[j]) best = std::min(best, cost + part);
    }
  }
  return best;
}

std::vector<double> row(const torch::Tensor& m, int64_t i) {
  auto r = m[i].contiguous();
  return std::vector<double>(r.data_ptr<double>(), r.data_ptr<double>() + r.numel());
}

}  // namespace

TEST_CASE("FAB projections land on the hyperplane in the box with the smallest norm", "[attacks][fab]") {
  const Norm norm = GENERATE(Norm::kLinf, Norm::kL2, Norm::kL1);
  const int64_t dim = GENERATE(6, 9, 13, 20);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(17 + dim);
  auto opts = torch::TensorOptions().dtype(torch::kDouble);
  const int64_t m = 64;
  auto t = torch::rand({m, dim}, gen, opts);
  auto w = torch::randn({m, dim}, gen, opts);
  w.masked_fill_(torch::rand({m, dim}, gen, opts) < 0.15, 0.0);  // coordinates that cannot help
  // b from a random point of the box, so the hyperplane meets it; both sides of t occur.
  auto z_star = torch::rand({m, dim}, gen, opts);
  auto b = (w * z_star).sum(1);
  INFO("norm " << norm_name(norm) << " dim " << dim);

  auto d = fab_projection(t, w, b, norm);
  auto z = t + d;
  CHECK(z.min().item<double>() >= -1e-12);
  CHECK(z.max().item<double>() <= 1 + 1e-12);
  auto gap = ((w * z).sum(1) - b).abs() / (1 + w.abs().sum(1));
  CHECK(gap.max().item<double>() <= 1e-9);
  auto found = lp_norms(d, norm);
  CHECK((lp_norms(z_star - t, norm) - found).min().item<double>() >= -1e-9);
  // (The L1 reference enumerates 2^dim vertices: small dims only.)
  for (int64_t i = 0; i < (norm == Norm::kL1 && dim > 10 ? 0 : m); ++i) {
    const double expected = reference_min_norm(row(t, i), row(w, i), b[i].item<double>(), norm);
    INFO("row " << i);
    CHECK(found[i].item<double>() == Approx(expected).epsilon(1e-7).margin(1e-9));
  }
  // Feasible points near the answer (moved within the hyperplane, kept in the box) never beat it.
  for (int trial = 0; trial < 20; ++trial) {
    auto e = 0.05 * torch::randn({m, dim}, gen, opts);
    e = e - ((e * w).sum(1, true) / (w * w).sum(1, true).clamp_min(1e-30)) * w;
    auto other = z + e;
    auto inside = (other.amin(1) >= 0) & (other.amax(1) <= 1);
    auto worse = lp_norms(other - t, norm) >= found - 1e-12;
    CHECK((worse | ~inside).all().item<bool>());
  }
  // The same problems in float32, as the attack runs them: still feasible and near-minimal.
  auto d32 = fab_projection(t.to(torch::kFloat), w.to(torch::kFloat), b.to(torch::kFloat), norm).to(torch::kDouble);
  CHECK(((w * (t + d32)).sum(1) - b).abs().max().item<double>() <= 1e-4);
  CHECK(torch::allclose(lp_norms(d32, norm), found, 1e-4, 1e-5));
}

TEST_CASE("FAB projections go to the nearest box corner when the hyperplane misses the box", "[attacks][fab]") {
  const Norm norm = GENERATE(Norm::kLinf, Norm::kL2, Norm::kL1);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  auto opts = torch::TensorOptions().dtype(torch::kDouble);
  auto t = torch::rand({8, 10}, gen, opts);
  auto w = torch::randn({8, 10}, gen, opts);
  w.select(1, 0).zero_();
  // Beyond the largest (rows 0-3) or below the smallest (rows 4-7) value w . z takes on the box.
  auto top = w.clamp_min(0).sum(1), bottom = w.clamp_max(0).sum(1);
  auto side = torch::arange(8, opts) < 4;
  auto b = torch::where(side, top + 1.0, bottom - 1.0);
  auto d = fab_projection(t, w, b, norm);
  // Toward b: to 1 where w > 0 when b is above, to 0 where w > 0 when b is below.
  auto corner = torch::where(side.unsqueeze(1) == (w > 0), torch::ones_like(t), torch::zeros_like(t));
  corner = torch::where(w == 0, t, corner);
  CHECK(torch::allclose(t + d, corner, 0, 1e-12));
  // A point already on the hyperplane stays put.
  auto on = fab_projection(t, w, (w * t).sum(1), norm);
  CHECK(on.abs().max().item<double>() <= 1e-12);
}

TEST_CASE("FAB on a linear model finds the minimal perturbation within a few percent", "[attacks][fab]") {
  const std::string norm = GENERATE(as<std::string>{}, "linf", "l2", "l1");
  auto w = torch::linspace(-1.0, 1.0, 16);
  w[3] = 2.5;  // the L1 optimum moves this pixel only
  const double f0 = -0.2;  // w . x + b at x = 0.5: class 0, at a distance that keeps the box out of the way
  auto model = test::linear_two_class(w, f0 - 0.5 * w.sum().item<double>());
  auto x = torch::full({2, 1, 1, 16}, 0.5f);
  auto y = torch::zeros({2}, torch::kLong);
  const Norm p = parse_norm(norm, "test");
  const double dual = p == Norm::kLinf ? w.abs().sum().item<double>()
                      : p == Norm::kL2 ? w.norm().item<double>()
                                       : w.abs().max().item<double>();
  const double optimum = std::abs(f0) / dual;

  auto r = make_attack("fab", {{"norm", norm}, {"eps", 10 * optimum}})->run(model, x, y, Goal::untargeted());
  REQUIRE(r.success.all().item<bool>());
  auto found = lp_norms(r.adversarial - x, p);
  INFO("optimum " << optimum << " found " << found);
  CHECK(found.min().item<double>() >= optimum * (1 - 1e-4));
  CHECK(found.max().item<double>() <= optimum * 1.02);

  // Below the optimum nothing within eps exists: reported as failure, returned unchanged.
  auto weak = make_attack("fab", {{"norm", norm}, {"eps", 0.9 * optimum}})->run(model, x, y, Goal::untargeted());
  CHECK_FALSE(weak.success.any().item<bool>());
  CHECK(torch::equal(weak.adversarial, x));
}

TEST_CASE("fab crosses the closest boundary, fab-t the one of the runner-up class", "[attacks][fab]") {
  // Three linear classes on 1x1x4 images: at x = 0.5, class 0 leads, class 1 is the runner-up by
  // logit (z_1 = -0.1, moved by pixel 0), class 2 trails (z_2 = -0.2) but its boundary is closer
  // (pixel 1, five times as steep): L2 distances 0.1 and 0.04.
  FunctionModel model(
      [](const at::Tensor& x) {
        auto v = x.flatten(1);
        auto z1 = v.select(1, 0) - 0.6, z2 = 5.0 * (v.select(1, 1) - 0.5) - 0.2;
        return torch::stack({torch::zeros_like(z1), z1, z2}, 1);
      },
      test::toy_spec(1, 1, 4, 3), torch::kCPU);
  auto x = torch::full({1, 1, 1, 4}, 0.5f);
  auto y = torch::zeros({1}, torch::kLong);
  auto fab = make_attack("fab", {{"norm", "l2"}, {"eps", 1.0}})->run(model, x, y, Goal::untargeted());
  CHECK(fab.adv_pred.item<int64_t>() == 2);
  CHECK(fab.l2.item<double>() == Approx(0.04).epsilon(0.02));
  const int64_t targets = GENERATE(1, 2);  // a second target class is not tried once the first broke it
  auto fab_t = make_attack("fab-t", {{"norm", "l2"}, {"eps", 1.0}, {"target_classes", targets}})
                   ->run(model, x, y, Goal::untargeted());
  CHECK(fab_t.adv_pred.item<int64_t>() == 1);
  CHECK(fab_t.l2.item<double>() == Approx(0.1).epsilon(0.02));
}

TEST_CASE("fab and fab-t stay in the box and within eps, and report success truthfully", "[attacks][fab]") {
  test::CorrectToyBatch f;
  const std::string name = GENERATE(as<std::string>{}, "fab", "fab-t");
  const std::string norm = GENERATE(as<std::string>{}, "linf", "l2", "l1");
  const double eps = norm == "linf" ? 0.03 : norm == "l2" ? 0.3 : 1.5;
  nlohmann::json params = {{"norm", norm}, {"eps", eps}, {"steps", 20}, {"restarts", 2}};
  if (name == "fab-t") params["target_classes"] = 2;
  auto attack = make_attack(name, params);
  attack->set_seed(3);
  auto r = attack->run(*f.model, f.x, f.y, Goal::untargeted());
  CHECK(r.adversarial.min().item<float>() >= 0.0f);
  CHECK(r.adversarial.max().item<float>() <= 1.0f);
  CHECK(lp_norms(r.adversarial - f.x, parse_norm(norm, "test")).max().item<double>() <= eps * (1 + 1e-5));
  auto ok = r.success.nonzero().squeeze(1), failed = (~r.success).nonzero().squeeze(1);
  INFO(name << " " << norm << ": " << ok.numel() << " of 16 broken");
  CHECK(ok.numel() > 0);
  CHECK(failed.numel() > 0);  // eps is small enough that the test says something
  torch::NoGradGuard g;
  CHECK(f.model->logits(r.adversarial).argmax(1).ne(f.y).eq(r.success).all().item<bool>());
  CHECK(torch::equal(r.adversarial.index_select(0, failed), f.x.index_select(0, failed)));
}

TEST_CASE("fab-t misclassifies every sample at a generous eps, explicit targets are reached", "[attacks][fab]") {
  test::CorrectToyBatch f;
  const std::string norm = GENERATE(as<std::string>{}, "linf", "l2");
  const double eps = norm == "linf" ? 0.3 : 3.0;
  auto r = make_attack("fab-t", {{"norm", norm}, {"eps", eps}, {"steps", 20}, {"target_classes", 4}})
               ->run(*f.model, f.x, f.y, Goal::untargeted());
  CHECK(r.success.all().item<bool>());
  CHECK(r.adv_pred.ne(f.y).all().item<bool>());

  auto targets = (f.y + 2) % 5;
  auto goal = Goal::targeted_to(targets);
  auto rt = make_attack("fab", {{"norm", norm}, {"eps", eps}, {"steps", 30}})->run(*f.model, f.x, f.y, goal);
  INFO(rt.success.sum().item<int64_t>() << " of 16 reached their target");
  CHECK(rt.success.sum().item<int64_t>() >= 14);
  CHECK(rt.adv_pred.eq(targets).eq(rt.success).all().item<bool>());
}

TEST_CASE("FAB counts two queries per sample and step, and one backward pass per hyperplane", "[attacks][fab]") {
  test::CorrectToyBatch f;
  auto y = f.y.clone();
  y.narrow(0, 0, 2).add_(1).remainder_(5);  // two samples misclassified: not attacked
  QueryCountingModel counted(*f.model);
  struct Case {
    std::string name;
    nlohmann::json params;
    int64_t queries, gradient_calls;
  };
  // eps so small that nothing is broken: every pass runs on every correctly classified sample.
  const std::vector<Case> cases = {
      {"fab", {{"eps", 1e-7}, {"steps", 5}}, 1 + 2 * 5, 5 * 4},                     // K - 1 = 4 classes
      {"fab", {{"eps", 1e-7}, {"steps", 3}, {"restarts", 2}}, 1 + 2 * 2 * 3, 2 * 3 * 4},
      {"fab-t", {{"eps", 1e-7}, {"steps", 4}, {"target_classes", 3}}, 1 + 3 * 2 * 4, 3 * 4},
  };
  for (const auto& c : cases) {
    counted.reset();
    auto r = make_attack(c.name, c.params)->run(counted, f.x, y, Goal::untargeted());
    INFO(c.name << " " << c.params.dump());
    CHECK_FALSE(r.success.narrow(0, 2, 14).any().item<bool>());
    CHECK(r.queries.narrow(0, 0, 2).eq(1).all().item<bool>());
    CHECK(r.queries.narrow(0, 2, 14).eq(c.queries).all().item<bool>());
    CHECK(r.gradient_calls == c.gradient_calls);
    // Every image through the model is counted, but for finalize_result's check of all 16.
    CHECK(counted.queries() == r.queries.sum().item<int64_t>() + 16);
  }
}

TEST_CASE("FAB with random restarts is deterministic under a seed", "[attacks][fab]") {
  test::CorrectToyBatch f;
  const std::string norm = GENERATE(as<std::string>{}, "linf", "l2", "l1");
  const double eps = norm == "linf" ? 0.03 : norm == "l2" ? 0.3 : 1.5;
  auto run = [&](uint64_t seed) {
    auto a = make_attack("fab", {{"norm", norm}, {"eps", eps}, {"steps", 8}, {"restarts", 3}});
    a->set_seed(seed);
    return a->run(*f.model, f.x, f.y, Goal::untargeted());
  };
  auto a = run(4), b = run(4);
  CHECK(torch::equal(a.adversarial, b.adversarial));
  CHECK(torch::equal(a.queries, b.queries));
}

TEST_CASE("FAB parameters are checked and reported", "[attacks][fab]") {
  CHECK_THROWS_AS(make_attack("fab", {{"alpha_max", 1.5}}), UsageError);
  CHECK_THROWS_AS(make_attack("fab", {{"beta", 0}}), UsageError);
  CHECK_THROWS_AS(make_attack("fab", {{"target_classes", 3}}), UsageError);  // fab-t only
  CHECK_THROWS_AS(make_attack("fab-t", {{"target_classes", 0}}), UsageError);
  CHECK_THROWS_WITH(make_attack("fab", {{"norm", "l7"}}), Catch::Contains("norm"));
  auto j = make_attack("fab-t", {{"norm", "l1"}})->options_json();
  CHECK(j["eps"].get<double>() == 12.0);
  CHECK(j["target_classes"].get<int64_t>() == 9);
  CHECK(make_attack("fab", {{"norm", "l2"}})->options_json()["eps"].get<double>() == 0.5);
  CHECK(make_attack("fab", {})->options_json()["steps"].get<int64_t>() == 100);
}
