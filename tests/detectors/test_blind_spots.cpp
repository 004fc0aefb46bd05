// Blind-spot search: planted blind spots are found and ranked first; evasion budgets are
// monotone; latent clusters isolate the evading region of the latent space.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <set>

#include "detectors/blind_spots.h"
#include "detectors/detector.h"
#include "detectors/detector_net.h"
#include "detectors/evaluate.h"
#include "detectors/train.h"
#include "lib/error.h"
#include "lib/metrics.h"
#include "tests/detectors/function_detector.h"

using namespace mirage;

namespace {

using mirage::test::FunctionDetector;

BlindSpotOptions quick_options() {
  BlindSpotOptions o;
  o.evasion_eps_linf = {};
  o.evasion_eps_l2 = {};
  o.minimal_norm = false;
  o.square_queries = 0;
  o.clusters = 0;
  return o;
}

// quick_options() with every post-processing grid empty: a test turns on the sweeps it checks.
BlindSpotOptions no_sweeps() {
  BlindSpotOptions o = quick_options();
  o.jpeg_qualities = {};
  o.blur_sigmas = {};
  o.resize_scales = {};
  o.noise_sigmas = {};
  o.crop_fractions = {};
  return o;
}

// Pixel (0,0) of each image encodes its class (c / 10 + 0.05), pixel (0,1) whether it is fake.
torch::Tensor class_images(const torch::Tensor& classes, bool fake, uint64_t seed) {
  torch::manual_seed(seed);
  auto x = 0.4 + 0.2 * torch::rand({classes.size(0), 1, 16, 16});
  x.select(1, 0).select(1, 0).select(1, 0).copy_(classes.to(torch::kFloat32) / 10 + 0.05);
  x.select(1, 0).select(1, 0).select(1, 1).fill_(fake ? 1.0 : 0.0);
  return x;
}

}  // namespace

TEST_CASE("a detector that never flags one class has that class slice ranked first", "[detectors][blindspots]") {
  // Catches every fake (logit +4) except those of class 3 (logit -4); calls every real real.
  auto classes = torch::arange(400, torch::kInt64).remainder(10);
  auto fakes = class_images(classes, true, 1);
  auto real_classes = torch::arange(300, torch::kInt64).remainder(10);
  auto reals = class_images(real_classes, false, 2);
  FunctionDetector det(
      [](const at::Tensor& x) {
        auto code = x.select(1, 0).select(1, 0).select(1, 0);
        auto fake = x.select(1, 0).select(1, 0).select(1, 1) > 0.5;
        auto cls = ((code - 0.05) * 10).round();
        auto caught = torch::logical_and(fake, cls != 3);
        return torch::where(caught, torch::full_like(code, 4.0), torch::full_like(code, -4.0));
      },
      1, 16);
  BlindSpotData data;
  data.fakes = fakes;
  data.fake_classes = classes;
  data.fake_sources = std::vector<std::string>(400, "gan");
  // Seeds above 2^63 too: they are uint64 (fake_seed) and must survive as such.
  for (int i = 0; i < 400; ++i) data.fake_seeds.push_back((i / 10) % 2 ? 1000 + i : 0xF000000000000000ULL + i);
  data.reals = reals;
  data.real_classes = real_classes;
  data.class_names = {"t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"};
  // No post-processing: a transform could move the class code pixel.
  auto o = no_sweeps();
  const auto report = search_blind_spots(det, data, o);
  REQUIRE(!report.findings.empty());
  const auto& top = report.findings.front();
  CHECK(top.search == "class");
  CHECK(top.parameters["class"] == 3);
  CHECK(top.parameters["name"] == "dress");
  CHECK(top.population == "fakes");
  CHECK(top.n == 40);
  CHECK(top.failures == 40);
  CHECK(top.rate == 1.0);
  CHECK(top.baseline_rate == Approx(0.1));
  CHECK(top.ci_low > 0.9);
  REQUIRE(top.examples.size() == 5);
  for (const auto& e : top.examples) {
    CHECK(e.cls == 3);
    REQUIRE(e.seed.has_value());
    CHECK(*e.seed == ((e.index / 10) % 2 ? 1000 + e.index : 0xF000000000000000ULL + e.index));
    CHECK(e.id == "seed:" + std::to_string(*e.seed));
  }
  // Every other class slice of fakes has no failures; the reals' slices none either.
  for (size_t i = 1; i < report.findings.size(); ++i) CHECK(report.findings[i].failures == 0);
  CHECK(report.misses == 40);
  CHECK(report.false_alarms == 0);
}

TEST_CASE("a detector of high-frequency traces is blind after blur: the blur slice ranks first", "[detectors][blindspots]") {
  // Fakes carry a checkerboard (an up-sampling trace); the detector flags Laplacian energy.
  torch::manual_seed(3);
  auto smooth = torch::upsample_bilinear2d(torch::rand({200, 1, 4, 4}), {16, 16}, false);
  auto checker = (torch::arange(16).view({16, 1}) + torch::arange(16).view({1, 16})).remainder(2).to(torch::kFloat32);
  auto fakes = (0.8 * smooth + 0.1 + 0.08 * (checker - 0.5)).clamp(0, 1);
  auto lap_energy = [](const at::Tensor& x) {
    auto k = torch::tensor({0.f, 1.f, 0.f, 1.f, -4.f, 1.f, 0.f, 1.f, 0.f}).view({1, 1, 3, 3});
    return torch::conv2d(x, k).pow(2).mean({1, 2, 3});
  };
  const double level = lap_energy(fakes).median().item<double>() / 4;  // well below the fakes'
  FunctionDetector det([=](const at::Tensor& x) { return 20 * (lap_energy(x) / level - 1); }, 1, 16);
  BlindSpotData data;
  data.fakes = fakes;
  auto o = no_sweeps();  // (resize and crop interpolate, which also smooths the trace away)
  o.blur_sigmas = {0.5, 1.0, 2.0};
  o.noise_sigmas = {0.01};
  const auto report = search_blind_spots(det, data, o);
  CHECK(report.misses == 0);
  REQUIRE(report.findings.size() == 4);
  const auto& top = report.findings.front();
  CHECK(top.search == "post-processing");
  CHECK(top.slice == "blur");
  CHECK(top.rate > 0.9);
  // Stronger blur, more misses (monotone over the grid).
  std::map<double, double> blur;
  for (const auto& f : report.findings) {
    if (f.slice == "blur") blur[f.parameters["sigma"].get<double>()] = f.rate;
  }
  CHECK(blur[0.5] <= blur[1.0]);
  CHECK(blur[1.0] <= blur[2.0]);
  // Noise adds high frequencies: nothing is missed there.
  for (const auto& f : report.findings) {
    if (f.slice == "noise") CHECK(f.failures == 0);
    CHECK(f.examples.size() <= 5);
    for (const auto& e : f.examples) CHECK(e.clean_score > 0.5);
  }
}

TEST_CASE("an injected JPEG function is swept over its qualities", "[detectors][blindspots]") {
  // A stand-in codec that quantises to 8 levels; the detector misses quantised images.
  torch::manual_seed(5);
  auto fakes = torch::rand({100, 1, 8, 8});
  ImageCodec codec;
  std::vector<int> seen;
  codec.jpeg = [&](const at::Tensor& x, int q) {
    seen.push_back(q);
    return (x * 8).round() / 8;
  };
  FunctionDetector det([](const at::Tensor& x) {
    auto off_grid = (x * 8 - (x * 8).round()).abs().mean({1, 2, 3});  // ~0.25 for random images, 0 on the grid
    return 100 * (off_grid - 0.05);
  }, 1, 8);
  BlindSpotData data;
  data.fakes = fakes;
  auto o = no_sweeps();
  o.jpeg_qualities = {90, 50};
  const auto report = search_blind_spots(det, data, o, codec);
  REQUIRE(report.findings.size() == 2);
  CHECK(std::set<int>(seen.begin(), seen.end()) == std::set<int>{90, 50});
  CHECK(report.misses == 0);
  for (const auto& f : report.findings) {
    CHECK(f.slice == "jpeg");
    CHECK(f.rate == 1.0);
  }
}

TEST_CASE("a noise slice draws the same noise whatever the other sigmas, so its rerun repeats it", "[detectors][blindspots]") {
  // Fakes whose mean sits just above the detector's boundary: which ones noise pushes below it
  // depends on the exact draw, so equal counts and mean scores mean equal noise.
  torch::manual_seed(9);
  auto fakes = (0.5 + 0.004 * torch::rand({200, 1, 1, 1})).expand({200, 1, 8, 8}).contiguous();
  FunctionDetector det([](const at::Tensor& x) { return 2000 * (x.mean({1, 2, 3}) - 0.5); }, 1, 8);
  BlindSpotData data;
  data.fakes = fakes;
  auto o = no_sweeps();
  auto noise_finding = [&](const std::vector<double>& sigmas) {
    o.noise_sigmas = sigmas;
    for (const auto& f : search_blind_spots(det, data, o).findings) {
      if (f.slice == "noise" && f.parameters["sigma"].get<double>() == 0.1) return f;
    }
    FAIL("no noise finding at sigma 0.1");
    return Finding{};
  };
  const Finding alone = noise_finding({0.1});
  const Finding second = noise_finding({0.05, 0.1});
  CHECK(alone.failures > 10);
  CHECK(alone.failures < 190);
  CHECK(second.failures == alone.failures);
  CHECK(second.mean_score == alone.mean_score);
  o.seed += 1;  // another seed, another draw
  CHECK(noise_finding({0.1}).mean_score != alone.mean_score);
}

TEST_CASE("slices rank by the Wilson lower bound: many failures beat a few", "[detectors][blindspots]") {
  std::vector<Finding> f(3);
  f[0].slice = "small";
  f[0].n = 3;
  f[0].failures = 3;
  f[1].slice = "large";
  f[1].n = 200;
  f[1].failures = 150;
  f[2].slice = "tiny";
  f[2].n = 1;
  f[2].failures = 1;
  for (auto& x : f) {
    x.rate = static_cast<double>(x.failures) / x.n;
    std::tie(x.ci_low, x.ci_high) = wilson_interval(x.failures, x.n);
  }
  rank_findings(f, 2);
  REQUIRE(f.size() == 2);
  CHECK(f[0].slice == "large");
  CHECK(f[1].slice == "small");
}

TEST_CASE("latent clusters isolate the region of the latent space the detector misses", "[detectors][blindspots]") {
  // Each fake shows its code (pixel k of row 0 = sigmoid(z_k)); the detector misses the fakes
  // whose code lies in a ball around c: a planted blind region the clusters must describe.
  torch::manual_seed(7);
  const int64_t n = 600;
  auto z = torch::randn({n, 4});
  auto fakes = 0.5 * torch::ones({n, 1, 8, 8});
  fakes.select(1, 0).select(1, 0).slice(1, 0, 4).copy_(torch::sigmoid(z));
  const auto c = torch::tensor({1.0f, 1.0f, 0.0f, 0.0f});
  const double r = 1.2;
  FunctionDetector det([=](const at::Tensor& x) {
    auto code = torch::logit(x.select(1, 0).select(1, 0).slice(1, 0, 4), 1e-6);
    return 10 * ((code - c).norm(2, 1) - r);
  }, 1, 8);
  BlindSpotData data;
  data.fakes = fakes;
  data.fake_latents = z;
  for (int64_t i = 0; i < n; ++i) data.fake_seeds.push_back(static_cast<uint64_t>(i));
  const auto scores = score_images(det, fakes);
  const int64_t evading = ((z - c).norm(2, 1) < r).sum().item<int64_t>();
  REQUIRE(evading > 20);
  const auto clusters = latent_cluster_slices(data, scores, 0.5, 2, 5, 11);
  REQUIRE(clusters.size() == 2);
  int64_t members_evading = 0;
  for (const auto& cl : clusters) {
    CHECK(cl.baseline_rate == Approx(static_cast<double>(evading) / n).epsilon(0.02));
    CHECK(cl.rate > 0.6);
    CHECK(cl.rate > 3 * cl.baseline_rate);
    members_evading += cl.failures;
    for (const auto& e : cl.examples) CHECK((z[static_cast<int64_t>(*e.seed)] - c).norm().item<double>() < r);
  }
  CHECK(members_evading == evading);  // every evading fake is in a cluster
  // No evading fake: no clusters.
  std::vector<double> all_caught(static_cast<size_t>(n), 0.9);
  CHECK(latent_cluster_slices(data, all_caught, 0.5, 3, 5, 11).empty());
  // Same seed, same clusters.
  const auto again = latent_cluster_slices(data, scores, 0.5, 3, 5, 11);
  const auto again2 = latent_cluster_slices(data, scores, 0.5, 3, 5, 11);
  REQUIRE(again.size() == again2.size());
  for (size_t i = 0; i < again.size(); ++i) CHECK(again[i].n == again2[i].n);
}

TEST_CASE("evasion budgets: larger eps evades more, and the minimal flips are within the box", "[detectors][blindspots]") {
  torch::manual_seed(9);
  auto net = std::make_shared<DetectorNetImpl>(DetectorNetOptions{"cnn", 1, 28, 4});
  DetectorInfo info;
  info.kind = "cnn";
  info.threshold = 0.5;
  auto det = as_detector(net, info, torch::kCPU);
  auto fakes = torch::rand({64, 1, 28, 28});
  // Put the fakes' scores just above the threshold, so that most start caught.
  double med = 0, sd = 1;
  {
    torch::NoGradGuard ng;
    const auto l = det->logit(fakes);
    med = l.median().item<double>();
    sd = l.std().item<double>();
  }
  // In units of the logits' spread over the fakes: about 84% start caught.
  auto shifted = std::make_unique<FunctionDetector>([&](const at::Tensor& x) { return (det->logit(x) - med) / sd + 1; }, 1, 28);
  BlindSpotData data;
  data.fakes = fakes;
  auto o = no_sweeps();
  o.evasion_eps_linf = {0.5 / 255, 8.0 / 255, 32.0 / 255};
  o.evasion_samples = 64;
  o.pgd_steps = 10;
  o.minimal_norm = true;
  const auto report = search_blind_spots(*shifted, data, o);
  std::map<double, double> pgd;
  const Finding* minimal = nullptr;
  for (const auto& f : report.findings) {
    if (f.slice == "pgd-linf") pgd[f.parameters["eps"].get<double>()] = f.rate;
    if (f.slice == "minimal-linf") minimal = &f;
    if (f.search == "evasion") CHECK(f.rate >= f.baseline_rate);
  }
  REQUIRE(pgd.size() == 3);
  CHECK(pgd[0.5 / 255] <= pgd[8.0 / 255]);
  CHECK(pgd[8.0 / 255] <= pgd[32.0 / 255]);
  CHECK(pgd[32.0 / 255] > 0.9);
  REQUIRE(minimal != nullptr);
  CHECK(minimal->rate > 0.9);
  CHECK(minimal->details["minimal_norm"]["median"].get<double>() <= 32.0 / 255);
}

TEST_CASE("the blind-spot search refuses empty fakes and other-sized images", "[detectors][blindspots]") {
  FunctionDetector det([](const at::Tensor& x) { return x.mean({1, 2, 3}); }, 1, 8);
  BlindSpotData empty;
  CHECK_THROWS_AS(search_blind_spots(det, empty, quick_options()), UsageError);
  BlindSpotData wrong;
  wrong.fakes = torch::rand({4, 1, 16, 16});
  CHECK_THROWS_WITH(search_blind_spots(det, wrong, quick_options()), Catch::Contains("detector takes [1, 8, 8]"));
}
