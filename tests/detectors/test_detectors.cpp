// Detectors: spectral features, the nets and their TorchScript exports, training, calibration,
// thresholds, ensembles.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <fstream>

#include "detectors/detector.h"
#include "detectors/detector_net.h"
#include "detectors/evaluate.h"
#include "detectors/train.h"
#include "attacks/pgd.h"
#include "lib/classifier.h"
#include "lib/dataset.h"
#include "lib/error.h"
#include "lib/metrics.h"
#include "tests/test_util.h"

using namespace mirage;

namespace {

// Fashion-MNIST test images [n, 1, 28, 28] (a smooth synthetic stand-in without the data set).
torch::Tensor real_images(int64_t n, int64_t offset = 0) {
  if (test::fashion_mnist_available()) {
    auto data = open_fashion_mnist("test");
    std::vector<int64_t> idx(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = offset + i;
    return data->get(idx).images;
  }
  torch::manual_seed(static_cast<uint64_t>(offset) + 1);
  auto x = torch::rand({n, 1, 7, 7});
  return torch::upsample_bilinear2d(x, {28, 28}, false);
}

// What a cheap up-sampling generator leaves: 2x2 blocks (area down, nearest up).
torch::Tensor upsampled(const torch::Tensor& x) {
  return torch::upsample_nearest2d(torch::avg_pool2d(x, 2), {x.size(2), x.size(3)});
}

std::vector<double> vec(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat64).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

std::string write_input(const test::TempDir& dir, const torch::Tensor& x) {
  nlohmann::json j = {{"shape", x.sizes().vec()}, {"data", vec(x.flatten())}};
  const std::string path = dir.file("input.json");
  std::ofstream(path) << j.dump();
  return path;
}

nlohmann::json python_check(const std::string& detector, const std::string& input) {
  const auto r = test::run_command(std::string(MIRAGE_PYTHON) + " " + MIRAGE_SOURCE_DIR +
                                   "/tests/python/check_detector.py " + detector + " " + input);
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.out.substr(r.out.find('{')));
}

}  // namespace

TEST_CASE("periodic up-sampling artefacts show at high radii of the spectrum, not at low ones", "[detectors][spectral]") {
  const auto x = real_images(16);
  // A checkerboard at the Nyquist frequency: what a stride-2 transposed convolution leaves.
  auto checker = torch::ones({28, 28});
  for (int64_t i = 0; i < 28; ++i) {
    for (int64_t j = 0; j < 28; ++j) checker[i][j] = ((i + j) % 2) ? 0.02 : -0.02;
  }
  const auto y = (x + checker).clamp(0, 1);
  const auto rx = radial_log_spectrum(x).mean(0), ry = radial_log_spectrum(y).mean(0);
  REQUIRE(rx.size(0) == 20);  // floor(28 / sqrt 2) + 1
  // The corner frequency (radius ~ 19.8) lands in the last bins; the DC bin barely moves.
  CHECK((ry[19] - rx[19]).item<double>() > 2.0);
  CHECK(std::abs((ry[0] - rx[0]).item<double>()) < 0.15);  // clamping at 0 moves the mean a little
  // The blocky images of nearest up-sampling lose high-frequency power instead.
  const auto ru = radial_log_spectrum(upsampled(x)).mean(0);
  CHECK((rx.slice(0, 15) - ru.slice(0, 15)).mean().item<double>() > 0.5);
}

TEST_CASE("the DCT is orthonormal and log_dct of a constant image has one coefficient", "[detectors][spectral]") {
  const auto c = torch::full({1, 1, 8, 8}, 0.5);
  const auto f = log_dct(c).view({8, 8});
  // DC of an orthonormal 2-D DCT of a constant v is 8 v = 4.
  CHECK(f[0][0].item<double>() == Approx(std::log(4.0 + 1e-4)).epsilon(1e-5));
  CHECK(f.flatten().slice(0, 1).max().item<double>() < std::log(2e-4));
  // Parseval: the DFT power averaged over rings times ring sizes is sum |x|^2 (here via radial).
  const auto x = torch::rand({2, 3, 16, 16});
  CHECK(spectral_feature_count("radial+dct", 16) == 12 + 256);
  CHECK_THROWS_AS(spectral_feature_count("wavelet", 16), UsageError);
}

TEST_CASE("gaussian_blur keeps mass and spreads an impulse with variance sigma^2", "[detectors][blur]") {
  auto x = torch::zeros({1, 1, 31, 31});
  x[0][0][15][15] = 1;
  // (A sampled kernel of sigma < 1 has a visibly smaller variance than sigma^2.)
  const double sigma = GENERATE(1.0, 2.0, 3.0);
  const auto b = gaussian_blur(x, sigma);
  CHECK(b.sum().item<double>() == Approx(1.0).epsilon(1e-5));
  const auto coords = torch::arange(31, torch::kFloat32) - 15;
  const double var = (b[0][0].sum(0) * coords * coords).sum().item<double>();
  CHECK(var == Approx(sigma * sigma).epsilon(0.02));
  CHECK(torch::equal(gaussian_blur(x, 0), x));
}

TEST_CASE("threshold rules: target FPR and equal error rate", "[detectors][threshold]") {
  const std::vector<double> s = {0.1, 0.2, 0.3, 0.4, 0.35, 0.5, 0.6, 0.7};
  const std::vector<int> y = {0, 0, 0, 0, 1, 1, 1, 1};
  const auto eer = equal_error_rate(s, y);
  CHECK(eer.eer == Approx(0.25));
  CHECK(eer.threshold == Approx(0.4));
  CHECK(choose_threshold(s, y, "eer") == Approx(0.4));
  // fpr 0.25 of 4 negatives: flag exactly the highest one.
  const double t = choose_threshold(s, y, "fpr:0.25");
  CHECK(rates_at_threshold(s, y, t).fpr == Approx(0.25));
  CHECK(t > 0.3);
  CHECK(t <= 0.4);
  CHECK_THROWS_AS(check_threshold_rule("fpr:1.5"), UsageError);
  CHECK_THROWS_AS(check_threshold_rule("fpr:0"), UsageError);
  CHECK_THROWS_AS(check_threshold_rule("best"), UsageError);
  // Many random scores: the realised FPR is the requested one to 1/n.
  torch::manual_seed(3);
  const auto neg = vec(torch::randn({1000})), pos = vec(torch::randn({1000}) + 1);
  std::vector<double> all = neg;
  all.insert(all.end(), pos.begin(), pos.end());
  std::vector<int> labels(1000, 0);
  labels.resize(2000, 1);
  const double f = GENERATE(0.01, 0.05, 0.2);
  const auto r = rates_at_threshold(all, labels, threshold_for_fpr(all, labels, f));
  CHECK(r.fpr == Approx(f).margin(1e-9));
  // The ROC of N(0,1) vs N(1,1): TPR at FPR f is 1 - Phi(Phi^-1(1 - f) - 1).
  CHECK(r.tpr > 0);
}

TEST_CASE("detector training options name their fields once: round trip, ranges as text, bad values refused", "[detectors][options]") {
  mirage::DetectorTrainOptions o;
  const auto& fields = mirage::DetectorTrainOptions::fields();
  fields.from_json(o, {{"blur_sigma", "0,3/2"}, {"jpeg_quality", {50, 90}}, {"adv_eps", "4/255"}, {"threshold", "fpr:0.01"}}, "cfg");
  CHECK(o.blur_sigma_min == 0);
  CHECK(o.blur_sigma_max == 1.5);
  CHECK(o.jpeg_quality_min == 50);
  CHECK(o.jpeg_quality_max == 90);
  CHECK(o.adv_eps == Approx(4.0 / 255));
  o.check();
  mirage::DetectorTrainOptions back;
  fields.from_json(back, o.to_json(), "round trip");
  CHECK(back.to_json() == o.to_json());
  CHECK(o.to_json()["jpeg_quality"] == nlohmann::json::array({50, 90}));
  CHECK_THROWS_AS(fields.from_json(o, {{"pateince", 3}}, "cfg"), mirage::UsageError);
  // Bounds of one field refuse as the field is read; the rest fail check().
  CHECK_THROWS_AS(fields.from_json(o, {{"jpeg_quality", {0, 90}}}, "cfg"), mirage::UsageError);
  CHECK_THROWS_AS(fields.from_json(o, {{"blur_prob", 2}}, "cfg"), mirage::UsageError);
  CHECK_THROWS_AS(fields.from_json(o, {{"blur_sigma", "2,1"}}, "cfg"), mirage::UsageError);
  for (auto bad : {nlohmann::json{{"patience", 0}}, nlohmann::json{{"threshold", "fpr:2"}}, nlohmann::json{{"adv_eps", 1}},
                   nlohmann::json{{"batch_size", 1}}, nlohmann::json{{"lr", 0}}}) {
    mirage::DetectorTrainOptions b;
    fields.from_json(b, bad, "cfg");
    CHECK_THROWS_AS(b.check(), mirage::UsageError);
  }
}

TEST_CASE("Platt scaling recovers the logistic model that generated the labels", "[detectors][calibration]") {
  torch::manual_seed(5);
  const auto z = torch::randn({20000}, torch::kFloat64) * 2;
  const auto p = torch::sigmoid(1.5 * z - 0.7);
  const auto y = (torch::rand({20000}, torch::kFloat64) < p).to(torch::kInt32);
  std::vector<int> labels(y.data_ptr<int>(), y.data_ptr<int>() + y.numel());
  const auto [a, b] = fit_platt(vec(z), labels);
  CHECK(a == Approx(1.5).margin(0.08));
  CHECK(b == Approx(-0.7).margin(0.08));
  // Over-confident logits (5x the true scale) are badly calibrated; Platt scaling fixes that.
  std::vector<double> over = vec(z * 5), platt(over.size());
  const auto [a5, b5] = fit_platt(over, labels);
  for (size_t i = 0; i < over.size(); ++i) platt[i] = 1 / (1 + std::exp(-(a5 * over[i] + b5)));
  std::vector<double> raw(over.size());
  for (size_t i = 0; i < over.size(); ++i) raw[i] = 1 / (1 + std::exp(-over[i]));
  CHECK(expected_calibration_error(raw, labels) > 0.1);
  CHECK(expected_calibration_error(platt, labels) < 0.02);
  // A separable set stays finite (Platt's smoothed targets).
  const auto [a2, b2] = fit_platt({-2, -1, 1, 2}, {0, 0, 1, 1});
  CHECK(std::isfinite(a2));
  CHECK(a2 > 0);
  CHECK(a2 < 20);
}

TEST_CASE("detector nets export to TorchScript that computes the same p_fake, in LibTorch and PyTorch", "[detectors][export]") {
  test::TempDir dir;
  torch::manual_seed(1);
  const auto x = torch::rand({4, 1, 28, 28});
  std::vector<std::pair<std::string, std::shared_ptr<DetectorNetImpl>>> nets;
  nets.emplace_back("cnn", std::make_shared<DetectorNetImpl>(DetectorNetOptions{"cnn", 1, 28, 8}));
  nets.emplace_back("spectral", std::make_shared<DetectorNetImpl>(DetectorNetOptions{"spectral", 1, 28, 8, "radial+dct", 0}));
  nets.emplace_back("spectral-mlp", std::make_shared<DetectorNetImpl>(DetectorNetOptions{"spectral", 1, 28, 8, "radial", 16}));
  for (std::string norm : {"batch", "layer"}) {
    DcganDiscriminatorOptions d;
    d.width = 8;
    d.norm = norm;
    d.spectral_norm = true;
    d.num_classes = norm == "layer" ? 10 : 0;
    DcganDiscriminator disc(d);
    disc->train();
    disc->forward(torch::rand({8, 1, 28, 28}), norm == "layer" ? torch::randint(10, {8}) : torch::Tensor());  // moves u, BN stats
    nets.emplace_back("disc-" + norm, std::make_shared<DetectorNetImpl>(DetectorNetOptions{}, disc));
  }
  for (auto& [name, net] : nets) {
    INFO(name);
    if (net->options().kind == "spectral") net->set_standardization(net->spectral_features(torch::rand({16, 1, 28, 28})));
    net->set_calibration(1.7, -0.3);
    DetectorInfo info;
    info.kind = net->options().kind;
    info.threshold = 0.42;
    info.threshold_rule = "eer";
    const std::string path = dir.file(name + ".pt");
    export_detector(*net, info, path);
    auto native = as_detector(net, info, torch::kCPU);
    auto loaded = load_detector(path, torch::kCPU);
    torch::NoGradGuard no_grad;
    const auto want = native->p_fake(x);
    CHECK(torch::allclose(loaded->p_fake(x), want, 1e-5, 1e-5));
    CHECK(loaded->threshold() == Approx(0.42));
    CHECK(loaded->info().kind == info.kind);
    // As a 2-class model, softmax's "fake" column is p_fake (what attacks and `mirage eval` see).
    CHECK(torch::allclose(torch::softmax(loaded->model().logits(x), 1).select(1, 1), want, 1e-5, 1e-5));
    if (test::python_has_torch()) {
      const auto j = python_check(path, write_input(dir, x));
      const auto p = vec(want);
      for (size_t i = 0; i < p.size(); ++i) {
        CHECK(j["p_fake"][i].get<double>() == Approx(p[i]).margin(1e-5));
        CHECK(j["softmax_fake"][i].get<double>() == Approx(p[i]).margin(1e-5));
      }
      CHECK(j["metadata"]["kind"] == "detector");
      CHECK(j["metadata"]["extra"]["detector"]["threshold"].get<double>() == Approx(0.42));
    }
  }
}

TEST_CASE("a discriminator detector scores by the negated best class score", "[detectors][discriminator]") {
  DcganDiscriminatorOptions d;
  d.width = 8;
  d.num_classes = 3;
  d.norm = "none";
  DcganDiscriminator disc(d);
  DetectorNetImpl net(DetectorNetOptions{}, disc);
  torch::NoGradGuard no_grad;
  const auto x = torch::rand({5, 1, 28, 28});
  std::vector<torch::Tensor> scores;
  for (int64_t k = 0; k < 3; ++k) scores.push_back(disc->forward(x, torch::full({5}, k, torch::kInt64)));
  const auto best = std::get<0>(torch::stack(scores, 1).max(1));
  CHECK(torch::allclose(net.raw(x), -best, 1e-5, 1e-6));
}

TEST_CASE("training separates real from up-sampled fakes, shuffled labels do not", "[detectors][train]") {
  const auto real = real_images(600);
  const auto fake = upsampled(real_images(600, 600));
  DetectorTrainData data;
  data.real_train = real.slice(0, 0, 400);
  data.fake_train = fake.slice(0, 0, 400);
  data.real_val = real.slice(0, 400);
  data.fake_val = fake.slice(0, 400);
  DetectorTrainOptions o;
  o.epochs = 3;
  o.batch_size = 32;
  o.lr = 1e-3;
  o.jpeg_prob = 0;
  o.threshold = "fpr:0.05";
  const std::string kind = GENERATE(std::string("cnn"), std::string("spectral"));
  INFO(kind);
  torch::manual_seed(2);
  DetectorNetImpl net(DetectorNetOptions{kind, 1, 28, 8});
  if (kind == "spectral") o.weight_decay = 1e-3;
  const auto result = train_detector(net, data, o, torch::kCPU);
  CHECK(result.validation["auc"].get<double>() > 0.97);
  // The threshold realises the requested FPR on validation (200 reals: to 1/200).
  CHECK(result.validation["fpr"].get<double>() <= 0.05);
  CHECK(result.validation["fpr"].get<double>() >= 0.04);
  CHECK(result.best_epoch >= 1);

  // The same images with labels shuffled across the two classes: nothing to learn.
  const auto pool_train = torch::cat({data.real_train, data.fake_train});
  const auto pool_val = torch::cat({data.real_val, data.fake_val});
  const auto pt = torch::randperm(800, torch::TensorOptions().dtype(torch::kInt64));
  const auto pv = torch::randperm(400, torch::TensorOptions().dtype(torch::kInt64));
  DetectorTrainData shuffled;
  shuffled.real_train = pool_train.index_select(0, pt.slice(0, 0, 400));
  shuffled.fake_train = pool_train.index_select(0, pt.slice(0, 400));
  shuffled.real_val = pool_val.index_select(0, pv.slice(0, 0, 200));
  shuffled.fake_val = pool_val.index_select(0, pv.slice(0, 200));
  DetectorNetImpl net2(DetectorNetOptions{kind, 1, 28, 8});
  const auto r2 = train_detector(net2, shuffled, o, torch::kCPU);
  CHECK(r2.validation["auc"].get<double>() < 0.65);
}

TEST_CASE("fakes sampled on the fly train a detector", "[detectors][train]") {
  const auto real = real_images(300);
  DetectorTrainData data;
  data.real_train = real.slice(0, 0, 200);
  data.real_val = real.slice(0, 200);
  auto sampler = [&](int64_t n, uint64_t seed) {
    at::Generator gen = at::detail::createCPUGenerator(seed);
    // "Generator": noise-free up-sampled random reals.
    const auto idx = torch::randint(200, {n}, gen, torch::kInt64);
    return upsampled(real.index_select(0, idx));
  };
  data.sample_fakes = sampler;
  data.fake_val = upsampled(real_images(100, 700));
  DetectorTrainOptions o;
  o.epochs = 2;
  o.batch_size = 32;
  o.lr = 1e-3;
  o.jpeg_prob = 0;
  o.blur_prob = 0;
  torch::manual_seed(4);
  DetectorNetImpl net(DetectorNetOptions{"cnn", 1, 28, 8});
  const auto r = train_detector(net, data, o, torch::kCPU);
  CHECK(r.validation["auc"].get<double>() > 0.95);
  // Near-separable validation: Platt's smoothed targets cap confidence at ~(n+1)/(n+2).
  CHECK(r.validation["ece"].get<double>() < 0.08);
  CHECK(net.calibration_a() == Approx(r.calibration_a));
}

TEST_CASE("an ensemble averages its members' calibrated p_fake and loads in PyTorch", "[detectors][ensemble]") {
  test::TempDir dir;
  torch::manual_seed(6);
  auto a = std::make_shared<DetectorNetImpl>(DetectorNetOptions{"cnn", 1, 28, 8});
  auto b = std::make_shared<DetectorNetImpl>(DetectorNetOptions{"cnn", 1, 28, 16});
  auto c = std::make_shared<DetectorNetImpl>(DetectorNetOptions{"spectral", 1, 28, 8, "dct", 0});
  c->set_standardization(c->spectral_features(torch::rand({8, 1, 28, 28})));
  b->set_calibration(2, 1);
  std::vector<std::string> paths;
  int i = 0;
  for (auto& net : {a, b, c}) {
    DetectorInfo info;
    info.kind = net->options().kind;
    paths.push_back(dir.file("m" + std::to_string(i++) + ".pt"));
    export_detector(*net, info, paths.back());
  }
  DetectorInfo info;
  info.threshold = 0.3;
  const std::string path = dir.file("ensemble.pt");
  export_ensemble(paths, info, path);
  auto ensemble = load_detector(path, torch::kCPU);
  CHECK(ensemble->info().kind == "ensemble");
  CHECK(ensemble->threshold() == Approx(0.3));
  const auto x = torch::rand({3, 1, 28, 28});
  torch::NoGradGuard no_grad;
  torch::Tensor mean = torch::zeros({3});
  for (const auto& p : paths) mean += load_detector(p, torch::kCPU)->p_fake(x) / 3.0;
  CHECK(torch::allclose(ensemble->p_fake(x), mean, 1e-5, 1e-6));
  // In memory (train-detector thresholds it before it is written) it computes what the file does.
  auto in_memory = load_ensemble(paths, info, torch::kCPU);
  CHECK(in_memory->info().kind == "ensemble");
  CHECK(in_memory->threshold() == Approx(0.3));
  CHECK(torch::allclose(in_memory->p_fake(x), ensemble->p_fake(x), 1e-6, 1e-7));
  CHECK(torch::allclose(in_memory->logit(x), ensemble->logit(x), 1e-5, 1e-5));
  CHECK_THROWS_AS(load_ensemble({paths[0]}, info, torch::kCPU), UsageError);
  if (test::python_has_torch()) {
    const auto j = python_check(path, write_input(dir, x));
    for (int64_t k = 0; k < 3; ++k) CHECK(j["p_fake"][k].get<double>() == Approx(mean[k].item<double>()).margin(1e-5));
  }
  // Members of different input shapes do not mix.
  auto big = std::make_shared<DetectorNetImpl>(DetectorNetOptions{"cnn", 1, 32, 8});
  DetectorInfo big_info;
  big_info.kind = "cnn";
  export_detector(*big, big_info, dir.file("big.pt"));
  CHECK_THROWS_AS(export_ensemble({paths[0], dir.file("big.pt")}, info, dir.file("bad.pt")), UsageError);
}

TEST_CASE("a file that is not a mirage detector is refused with a UsageError", "[detectors][errors]") {
  test::TempDir dir;
  SmallCnn net(SmallCnnOptions{});
  export_small_cnn(net, fashion_mnist_classes(), dir.file("classifier.pt"));
  CHECK_THROWS_AS(load_detector(dir.file("classifier.pt"), torch::kCPU), UsageError);
  CHECK_THROWS_AS(load_detector(dir.file("missing.pt"), torch::kCPU), InputError);
  std::ofstream(dir.file("junk.pt")) << "not a zip";
  CHECK_THROWS_AS(load_detector(dir.file("junk.pt"), torch::kCPU), InputError);
}

TEST_CASE("detection metrics per source and per class", "[detectors][evaluate]") {
  DetectorScores s;
  // Reals of classes 0/1; source "good" fakes score high, source "weak" fakes score like reals.
  for (int i = 0; i < 100; ++i) {
    s.p_fake.push_back(0.01 * i * 0.4);
    s.label.push_back(0);
    s.source.push_back("real");
    s.cls.push_back(i % 2);
  }
  for (int i = 0; i < 100; ++i) {
    const bool good = i < 50;
    s.p_fake.push_back(good ? 0.6 + 0.004 * i : 0.01 * i * 0.4);
    s.label.push_back(1);
    s.source.push_back(good ? "good" : "weak");
    s.cls.push_back(i % 2);
  }
  const auto r = detection_report(s, 0.5, {"shirt", "shoe"});
  CHECK(r["per_source"]["good"]["auc"].get<double>() == Approx(1.0));
  CHECK(r["per_source"]["good"]["tpr"].get<double>() == Approx(1.0));
  CHECK(r["per_source"]["weak"]["tpr"].get<double>() == Approx(0.0));
  CHECK(r["per_source"]["weak"]["auc"].get<double>() > 0.5);
  CHECK(r["overall"]["tpr"].get<double>() == Approx(0.5));
  CHECK(r["overall"]["fpr"].get<double>() == Approx(0.0));
  CHECK(r["overall"]["accuracy"].get<double>() == Approx(0.75));
  CHECK(r["per_class"].contains("shirt"));
  CHECK(r["per_class"]["shoe"]["n_real"].get<int64_t>() == 50);
  DetectorScores only_real;
  only_real.p_fake = {0.1};
  only_real.label = {0};
  only_real.source = {"real"};
  CHECK_THROWS_AS(detection_metrics(only_real, 0.5), UsageError);
}

TEST_CASE("adversarial training keeps the detector's AUC under PGD on its input", "[detectors][train][adversarial]") {
  const auto real = real_images(500);
  const auto fake = upsampled(real_images(500, 500));
  DetectorTrainData data;
  data.real_train = real.slice(0, 0, 400);
  data.fake_train = fake.slice(0, 0, 400);
  data.real_val = real.slice(0, 400);
  data.fake_val = fake.slice(0, 400);
  DetectorTrainOptions o;
  o.epochs = 4;
  o.batch_size = 32;
  o.lr = 1e-3;
  o.jpeg_prob = 0;
  o.blur_prob = 0;
  o.patience = 10;
  const double eps = 8.0 / 255;
  // AUC on validation after PGD-Linf(eps) pushes every image toward the other class.
  auto auc_under_pgd = [&](std::shared_ptr<DetectorNetImpl> net) {
    auto det = as_detector(net, DetectorInfo{}, torch::kCPU);
    PgdOptions p;
    p.eps = eps;
    p.steps = 10;
    p.alpha = 2.5 * eps / 10;
    p.early_stop = false;  // AUC: push every score as far as the budget goes
    Pgd pgd(p);
    pgd.set_seed(1);
    const auto x = torch::cat({data.real_val, data.fake_val});
    const auto y = torch::cat({torch::zeros({100}, torch::kInt64), torch::ones({100}, torch::kInt64)});
    const auto adv = pgd.run(det->model(), x, y, Goal::untargeted()).adversarial.detach();
    std::vector<int> labels(100, 0);
    labels.resize(200, 1);
    return roc_auc(score_images(*det, adv), labels);
  };
  torch::manual_seed(7);
  auto plain = std::make_shared<DetectorNetImpl>(DetectorNetOptions{"cnn", 1, 28, 8});
  train_detector(*plain, data, o, torch::kCPU);
  o.adv_eps = eps;
  o.adv_steps = 3;
  torch::manual_seed(7);
  auto robust = std::make_shared<DetectorNetImpl>(DetectorNetOptions{"cnn", 1, 28, 8});
  const auto r = train_detector(*robust, data, o, torch::kCPU);
  const double plain_auc = auc_under_pgd(plain), robust_auc = auc_under_pgd(robust);
  INFO("AUC under PGD: plain " << plain_auc << ", adversarially trained " << robust_auc);
  CHECK(plain_auc < 0.5);
  CHECK(robust_auc > plain_auc + 0.3);
  CHECK(r.validation["auc"].get<double>() > 0.9);  // still a detector on clean inputs
}
