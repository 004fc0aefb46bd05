#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "gan/metrics.h"
#include "lib/error.h"
#include "lib/runtime.h"

using namespace mirage;
using Catch::Matchers::Contains;

namespace {

const auto kDouble = torch::TensorOptions().dtype(torch::kDouble);

at::Tensor normal(int64_t n, int64_t d, uint64_t seed) {
  auto gen = make_generator(seed);
  return torch::randn({n, d}, gen, kDouble);
}

at::Tensor column(std::vector<double> v) { return torch::tensor(v, kDouble).unsqueeze(1); }

// MIRAGE_PRINT_METRICS=1 prints the measured figures quoted in the docs.
void report(const char* what, double value) {
  if (std::getenv("MIRAGE_PRINT_METRICS")) std::printf("[metrics] %s = %.6g\n", what, value);
}

}  // namespace

TEST_CASE("Frechet distance matches hand-computed 1-D and closed-form 2-D cases", "[gan][metrics]") {
  // 1-D: FD = (mu_a - mu_b)^2 + (s_a - s_b)^2 with unbiased variances 2 and 8: 36 + 2 = 38
  // (a population variance would give 37).
  CHECK(frechet_distance(column({0, 2}), column({5, 9})) == Approx(38).epsilon(1e-12));

  // 2-D with non-commuting covariances: Tr((S_a S_b)^{1/2}) = sqrt(tr(S_a S_b) + 2 sqrt(det(S_a S_b))).
  auto a = normal(1500, 2, 1).mm(torch::tensor({{1.0, 0.8}, {0.0, 0.5}}, kDouble));
  auto b = normal(1500, 2, 2).mm(torch::tensor({{0.3, -0.4}, {0.9, 1.2}}, kDouble)) + 0.7;
  auto sa = at::cov(a.t()), sb = at::cov(b.t());
  double tr_sqrt = std::sqrt(sa.mm(sb).trace().item<double>() + 2 * std::sqrt(sa.mm(sb).det().item<double>()));
  double expected = (a.mean(0) - b.mean(0)).pow(2).sum().item<double>() + sa.trace().item<double>() +
                    sb.trace().item<double>() - 2 * tr_sqrt;
  CHECK(frechet_distance(a, b) == Approx(expected).epsilon(1e-9));
  CHECK(frechet_distance(b, a) == Approx(expected).epsilon(1e-9));
}

TEST_CASE("Frechet distance of a set with itself is zero, symmetric, and float32 input agrees", "[gan][metrics]") {
  auto a = normal(1000, 16, 3).mm(normal(16, 16, 4));  // full covariance
  auto b = normal(1000, 16, 5) * 1.5 + 0.2;
  double self = frechet_distance(a, a);
  report("fd(a, a)", self);
  CHECK(self < 1e-6);
  double ab = frechet_distance(a, b);
  CHECK(frechet_distance(b, a) == Approx(ab).epsilon(1e-9));
  CHECK(frechet_distance(a.to(torch::kFloat), b.to(torch::kFloat)) == Approx(ab).epsilon(1e-5));
}

TEST_CASE("Frechet distance of diagonal Gaussians approaches the analytic value", "[gan][metrics]") {
  const int64_t d = 8;
  auto s_a = torch::linspace(0.5, 2.0, d, kDouble);
  auto a = normal(20000, d, 6) * s_a;
  auto b = normal(20000, d, 7) + 0.5;  // N(0.5, I)
  // |mu_a - mu_b|^2 + sum_i (s_a,i - s_b,i)^2 for diagonal covariances.
  double analytic = 0.25 * d + (s_a - 1).pow(2).sum().item<double>();
  double fd = frechet_distance(a, b);
  report("fd analytic", analytic);
  report("fd estimate (n=20000, d=8)", fd);
  // Over 40 seeds the relative error had a std of 1.1% (worst 3.1%).
  CHECK(fd == Approx(analytic).epsilon(0.04));
}

TEST_CASE("Frechet distance grows monotonically with added noise", "[gan][metrics]") {
  auto a = normal(1000, 16, 8), noise = normal(1000, 16, 9);
  double previous = frechet_distance(a, a);
  for (double t : {0.1, 0.3, 1.0, 3.0}) {
    double fd = frechet_distance(a, a + t * noise);
    CAPTURE(t, fd, previous);
    CHECK(fd > previous);
    previous = fd;
  }
}

TEST_CASE("KID equals the hand-computed unbiased MMD^2 of a tiny case", "[gan][metrics]") {
  // D = 1, k(x, y) = (xy + 1)^3. X = {0, 1}, Y = {2, 3}; subset_size is capped at 2, so every
  // subset is the whole of both sets: (k(0,1) + k(2,3)) * 2 / (2 * 1) - 2 * (1 + 1 + 27 + 64) / 4.
  auto kid = kernel_distance(column({0, 1}), column({2, 3}), /*subsets=*/3, /*subset_size=*/1000);
  CHECK(kid.mean == Approx(1 + 343 - 46.5).epsilon(1e-12));
  CHECK(kid.std == Approx(0).margin(1e-9));
}

TEST_CASE("KID is near zero for one distribution, positive for a shifted one, and seeded", "[gan][metrics]") {
  auto a = normal(1000, 16, 10), b = normal(1000, 16, 11);
  auto same = kernel_distance(a, b, 50, 100, 0);
  auto shifted = kernel_distance(a, b + 0.5, 50, 100, 0);
  report("kid same mean (50 x 100, d=16)", same.mean);
  report("kid same std", same.std);
  report("kid shifted(+0.5) mean", shifted.mean);
  report("kid shifted std", shifted.std);
  // A biased (V-statistic) estimator would sit near 2 (E k(x,x) - E k(x,y)) / m ~ 0.14 here.
  CHECK(std::abs(same.mean) < 0.02);
  CHECK(shifted.mean > 0.5);
  CHECK(shifted.mean - 3 * shifted.std > same.mean + 3 * same.std);
  CHECK(same.std > 0);

  auto again = kernel_distance(a, b, 50, 100, 0), other = kernel_distance(a, b, 50, 100, 1);
  CHECK(again.mean == same.mean);
  CHECK(again.std == same.std);
  CHECK(other.mean != same.mean);
  // Subsets as large as both sets are permutations of them: every MMD^2 equal, std zero.
  CHECK(kernel_distance(a, b, 5, 5000, 0).std == Approx(0).margin(1e-9));
}

TEST_CASE("precision and recall match a hand-computed 1-D case with self excluded", "[gan][metrics]") {
  // k = 1: real radii are all 1; fake radii are 1, 1 and 18.5 (the outlier's ball swallows the
  // reals 2 and 3, the known weakness of the k-NN estimate). Radii that counted self would be
  // zero and give precision 0.
  auto real = column({0, 1, 2, 3}), fake = column({0.5, 1.5, 20});
  auto pr = precision_recall(real, fake, 1);
  CHECK(pr.precision == Approx(2.0 / 3).epsilon(1e-12));
  CHECK(pr.recall == Approx(1.0).epsilon(1e-12));
  auto swapped = precision_recall(fake, real, 1);
  CHECK(swapped.precision == Approx(1.0).epsilon(1e-12));
  CHECK(swapped.recall == Approx(2.0 / 3).epsilon(1e-12));
}

TEST_CASE("precision and recall are high for one distribution and split for a collapsed one", "[gan][metrics]") {
  // 1200 rows: more than one distance block. Even for one distribution k = 3 balls in 16-D
  // leave gaps (Kynkaanniemi et al. pick k = 3 for a balance, not for 1.0); larger k fills them,
  // and since radii only grow with k, neither figure may fall.
  auto real = normal(1200, 16, 12), other = normal(1200, 16, 13);
  auto pr = precision_recall(real, other, 3);
  report("precision same (n=1200, d=16, k=3)", pr.precision);
  report("recall same", pr.recall);
  CHECK(pr.precision > 0.7);
  CHECK(pr.recall > 0.7);
  auto pr10 = precision_recall(real, other, 10);
  report("precision same k=10", pr10.precision);
  report("recall same k=10", pr10.recall);
  CHECK(pr10.precision >= pr.precision);
  CHECK(pr10.recall >= pr.recall);
  CHECK(pr10.precision > 0.9);
  CHECK(pr10.recall > 0.9);
  auto swapped = precision_recall(other, real, 3);
  CHECK(swapped.precision == pr.recall);
  CHECK(swapped.recall == pr.precision);

  auto collapsed = real[0] + 0.01 * normal(500, 16, 14);
  auto pc = precision_recall(real, collapsed, 3);
  report("precision collapsed", pc.precision);
  report("recall collapsed", pc.recall);
  CHECK(pc.precision > 0.99);
  CHECK(pc.recall < 0.01);
}

TEST_CASE("density and coverage match a hand-computed 1-D case", "[gan][metrics]") {
  // k = 1, real radii all 1 (strict inside): 0.5 and 0.6 each lie in the balls of 0 and 1, 10 in
  // none, so density = 4 / (1 * 3) — above 1, as density may be — and coverage = 2 / 4.
  auto dc = density_coverage(column({0, 1, 2, 3}), column({0.5, 0.6, 10}), 1);
  CHECK(dc.density == Approx(4.0 / 3).epsilon(1e-12));
  CHECK(dc.coverage == Approx(0.5).epsilon(1e-12));
}

TEST_CASE("density is near one and coverage high for one distribution, coverage low when collapsed", "[gan][metrics]") {
  auto real = normal(1200, 16, 15), other = normal(1200, 16, 16);
  auto dc = density_coverage(real, other, 5);
  report("density same (n=1200, d=16, k=5)", dc.density);
  report("coverage same", dc.coverage);
  CHECK(dc.density == Approx(1.0).margin(0.15));
  CHECK(dc.coverage > 0.9);  // Naeem et al.: E[coverage] = 1 - 2^-k ~ 0.97 for identical distributions

  auto collapsed = density_coverage(real, real[0] + 0.01 * normal(500, 16, 17), 5);
  report("coverage collapsed", collapsed.coverage);
  CHECK(collapsed.coverage < 0.05);
}

TEST_CASE("class coverage: histogram, entropy in nats and covered classes", "[gan][metrics]") {
  auto uniform = class_coverage(torch::arange(100, torch::kLong) % 4, 4);
  CHECK(uniform.histogram == std::vector<int64_t>{25, 25, 25, 25});
  CHECK(uniform.entropy == Approx(std::log(4.0)).epsilon(1e-12));
  CHECK(uniform.normalized_entropy == Approx(1.0).epsilon(1e-12));
  CHECK(uniform.classes_covered == 4);

  auto one = class_coverage(torch::full({50}, 2, torch::kLong), 5);
  CHECK(one.histogram == std::vector<int64_t>{0, 0, 50, 0, 0});
  CHECK(one.entropy == 0);
  CHECK(one.normalized_entropy == 0);
  CHECK(one.classes_covered == 1);

  // Counts {70, 25, 4, 1}: the uniform share is 25, so min_share 0.1 needs 2.5 samples.
  auto skewed_pred = torch::cat({torch::full({70}, 0, torch::kLong), torch::full({25}, 1, torch::kLong),
                                 torch::full({4}, 2, torch::kLong), torch::full({1}, 3, torch::kLong)});
  auto skewed = class_coverage(skewed_pred.to(torch::kInt), 4);
  double h = 0;
  for (double q : {0.70, 0.25, 0.04, 0.01}) h -= q * std::log(q);
  CHECK(skewed.entropy == Approx(h).epsilon(1e-12));
  CHECK(skewed.normalized_entropy == Approx(h / std::log(4.0)).epsilon(1e-12));
  CHECK(skewed.classes_covered == 3);
  CHECK(class_coverage(skewed_pred, 4, 0.5).classes_covered == 2);

  CHECK_THROWS_AS(class_coverage(torch::tensor({0, 4}, torch::kLong), 4), InputError);
  CHECK_THROWS_AS(class_coverage(torch::tensor({-1, 2}, torch::kLong), 4), InputError);
  CHECK_THROWS_AS(class_coverage(torch::tensor({0.0, 1.0}), 4), InputError);
  CHECK_THROWS_AS(class_coverage(torch::zeros({2, 2}, torch::kLong), 4), InputError);
  CHECK_THROWS_AS(class_coverage(torch::zeros({2}, torch::kLong), 1), UsageError);
}

TEST_CASE("toy mixtures have the benchmark geometry", "[gan][metrics]") {
  auto ring = toy_mixture("ring8");
  CHECK(ring.centers.sizes() == at::IntArrayRef({8, 2}));
  CHECK(torch::allclose(ring.centers.norm(2, 1), torch::full({8}, 2.0f)));
  CHECK(ring.sigma == 0.02);
  auto grid = toy_mixture("grid25");
  CHECK(grid.centers.sizes() == at::IntArrayRef({25, 2}));
  CHECK(std::get<0>(at::_unique(grid.centers.flatten(), /*sorted=*/true)).equal(torch::tensor({-4.f, -2.f, 0.f, 2.f, 4.f})));
  CHECK(std::get<0>(at::unique_dim(grid.centers, 0)).size(0) == 25);
  CHECK(grid.sigma == 0.05);
  CHECK_THROWS_AS(toy_mixture("ring9"), UsageError);
  CHECK_THROWS_WITH(toy_mixture("spiral"), Contains("spiral"));
}

TEST_CASE("samples of a mixture cover every mode with the chi-distribution share of quality", "[gan][metrics]") {
  // In 2-D, |noise| / sigma is Rayleigh: P(r <= s sigma) = 1 - exp(-s^2 / 2), 0.9889 at 3 sigma.
  auto name = GENERATE(std::string("ring8"), std::string("grid25"));
  auto mixture = toy_mixture(name);
  auto gen = make_generator(21);
  auto samples = sample_mixture(mixture, 4000, gen);
  REQUIRE(samples.sizes() == at::IntArrayRef({4000, 2}));
  auto cov = mode_coverage(mixture, samples);
  report((name + " high-quality fraction at 3 sigma (n=4000)").c_str(), cov.high_quality_fraction);
  CHECK(cov.modes == mixture.centers.size(0));
  CHECK(cov.modes_covered == cov.modes);
  CHECK(cov.high_quality_fraction == Approx(1 - std::exp(-4.5)).margin(0.008));
  int64_t total = 0;
  for (int64_t c : cov.per_mode) total += c;
  CHECK(total == std::llround(cov.high_quality_fraction * 4000));
  auto one_sigma = mode_coverage(mixture, samples, 1.0);
  report((name + " high-quality fraction at 1 sigma").c_str(), one_sigma.high_quality_fraction);
  CHECK(one_sigma.high_quality_fraction == Approx(1 - std::exp(-0.5)).margin(0.03));
}

TEST_CASE("mode coverage counts a collapsed generator's modes and rejects far samples", "[gan][metrics]") {
  auto mixture = toy_mixture("ring8");
  auto noise = 0.02 * normal(300, 2, 22).to(torch::kFloat);
  auto two = torch::cat({mixture.centers[0] + noise.slice(0, 0, 150), mixture.centers[3] + noise.slice(0, 150)});
  auto cov = mode_coverage(mixture, two);
  CHECK(cov.modes_covered == 2);
  CHECK(cov.per_mode[1] == 0);
  CHECK(cov.per_mode[0] + cov.per_mode[3] == std::llround(cov.high_quality_fraction * 300));
  CHECK(mode_coverage(mixture, mixture.centers[5] + noise).modes_covered == 1);
  // min_count: a mode needs that many high-quality samples.
  CHECK(mode_coverage(mixture, two, 3.0, 1000).modes_covered == 0);

  auto far = mode_coverage(mixture, torch::full({50, 2}, 10.0f) + noise.slice(0, 0, 50));
  CHECK(far.high_quality_fraction == 0);
  CHECK(far.modes_covered == 0);
  // Between two modes of the ring (radius 2, at angle pi/8) nothing is high quality either.
  const double angle = std::acos(-1.0) / 8;
  auto between = mode_coverage(mixture, torch::tensor({{2 * std::cos(angle), 2 * std::sin(angle)}}));
  CHECK(between.high_quality_fraction == 0);
}

TEST_CASE("sample_mixture draws only from the given generator", "[gan][metrics][determinism]") {
  auto mixture = toy_mixture("grid25");
  auto g1 = make_generator(5), g2 = make_generator(5), g3 = make_generator(6);
  torch::manual_seed(1);
  auto a = sample_mixture(mixture, 256, g1);
  torch::manual_seed(2);  // the global generator must not matter
  auto b = sample_mixture(mixture, 256, g2);
  CHECK(torch::equal(a, b));
  CHECK_FALSE(torch::equal(a, sample_mixture(mixture, 256, g3)));
  CHECK(sample_mixture(mixture, 0, g1).sizes() == at::IntArrayRef({0, 2}));
  CHECK_THROWS_AS(sample_mixture(mixture, -1, g1), UsageError);
}

TEST_CASE("metrics reject malformed features with InputError", "[gan][metrics]") {
  auto good = normal(20, 4, 30);
  auto nan = good.clone();
  nan[3][1] = std::nan("");
  CHECK_THROWS_AS(frechet_distance(good.slice(0, 0, 1), good), InputError);
  CHECK_THROWS_WITH(frechet_distance(good.slice(0, 0, 1), good), Contains("a must be [N, D]") && Contains("[1, 4]"));
  CHECK_THROWS_AS(frechet_distance(good, good.flatten()), InputError);
  CHECK_THROWS_WITH(frechet_distance(good, normal(20, 5, 31)), Contains("[20, 4]") && Contains("[20, 5]"));
  CHECK_THROWS_WITH(frechet_distance(good, nan), Contains("b holds NaN"));
  CHECK_THROWS_AS(kernel_distance(nan, good), InputError);
  CHECK_THROWS_AS(kernel_distance(good, good, 0), UsageError);
  CHECK_THROWS_AS(precision_recall(good, good.slice(0, 0, 3), 3), InputError);
  CHECK_THROWS_AS(precision_recall(good, good, 0), UsageError);
  CHECK_THROWS_AS(density_coverage(good.slice(0, 0, 5), good, 5), InputError);
  CHECK_THROWS_AS(density_coverage(at::Tensor(), good), InputError);
  CHECK_THROWS_AS(mode_coverage(toy_mixture("ring8"), good), InputError);
  CHECK_THROWS_AS(mode_coverage(toy_mixture("ring8"), good.flatten()), InputError);
}

TEST_CASE("sample quality gathers every figure as its own function computes it, keyed by feature space",
          "[gan][metrics]") {
  auto real = normal(60, 3, 1), fake = normal(50, 3, 2) + 0.5;
  SampleQualityOptions o;
  o.k_pr = 2;
  o.k_dc = 4;
  o.kid_subsets = 7;
  o.kid_subset_size = 20;
  o.kid_seed = 9;
  SampleQuality q = sample_quality(real, fake, o);
  // The same function on the same inputs; threaded LAPACK may round the last bits differently.
  CHECK(q.frechet == Approx(frechet_distance(real, fake)).epsilon(1e-9));
  KidResult kid = kernel_distance(real, fake, 7, 20, 9);
  CHECK(q.kid.mean == kid.mean);
  CHECK(q.kid.std == kid.std);
  CHECK(q.precision_recall.precision == precision_recall(real, fake, 2).precision);
  CHECK(q.density_coverage.coverage == density_coverage(real, fake, 4).coverage);
  auto j = sample_quality_json(q, "toy");
  CHECK(j.size() == 6);
  CHECK(j["fd_toy"] == q.frechet);
  CHECK(j["kid_toy"]["mean"] == kid.mean);
  CHECK(j["recall_toy"] == q.precision_recall.recall);
  CHECK(j["density_toy"] == q.density_coverage.density);

  auto cc = class_coverage(torch::tensor({0, 0, 1, 2}, torch::kLong), 4, 0.1);
  auto cj = class_coverage_json(cc, 4, 0.1, {"a", "b", "c", "d"});
  CHECK(cj["classes_covered"] == cc.classes_covered);
  CHECK(cj["num_classes"] == 4);
  CHECK(cj["class_names"].size() == 4);
  CHECK_FALSE(class_coverage_json(cc, 4, 0.1).contains("class_names"));

  ToyMixture ring = toy_mixture("ring8");
  at::Generator gen = make_generator(3);
  ModeCoverage mc = mode_coverage(ring, sample_mixture(ring, 400, gen));
  auto mj = mode_coverage_json(mc, "ring8", 400);
  CHECK(mj["mixture"] == "ring8");
  CHECK(mj["samples"] == 400);
  CHECK(mj["modes_covered"] == mc.modes_covered);
  CHECK(mj["per_mode"].size() == 8);
}
