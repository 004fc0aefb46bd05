#include <catch2/catch.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include <fstream>

#include "gan/networks.h"
#include "lib/error.h"
#include "lib/export.h"
#include "lib/model.h"
#include "lib/runtime.h"
#include "tests/test_util.h"

using namespace mirage;

namespace {

double top_singular(const torch::Tensor& w) {
  return torch::linalg_svdvals(w.detach().reshape({w.size(0), -1}))[0].item<double>();
}

DcganGenerator tiny_generator(int64_t size, int64_t channels, int64_t num_classes) {
  DcganGeneratorOptions o;
  o.z_dim = 8;
  o.size = size;
  o.channels = channels;
  o.width = 4;
  o.num_classes = num_classes;
  o.embed_dim = 5;
  return DcganGenerator(o);
}

DcganDiscriminator tiny_discriminator(int64_t size, int64_t channels, int64_t num_classes, const std::string& norm,
                                      bool spectral_norm) {
  DcganDiscriminatorOptions o;
  o.size = size;
  o.channels = channels;
  o.width = 4;
  o.num_classes = num_classes;
  o.norm = norm;
  o.spectral_norm = spectral_norm;
  return DcganDiscriminator(o);
}

// A few training-mode passes so that BN running statistics are no longer the trivial 0 / 1.
void warm_up(DcganGenerator& g, int64_t classes) {
  torch::NoGradGuard no_grad;
  g->train();
  for (int i = 0; i < 3; ++i) g->forward(torch::randn({6, 8}) * 2 + 0.5, classes ? torch::randint(0, classes, {6}) : torch::Tensor());
  g->eval();
}

nlohmann::json tensor_json(const torch::Tensor& x) {
  auto c = x.contiguous();
  return {{"shape", c.sizes().vec()},
          {"data", std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())}};
}

}  // namespace

TEST_CASE("spectral norm's sigma converges to the top singular value", "[gan][networks][spectral]") {
  torch::manual_seed(1);
  SpectralNorm sn(8);
  auto w = torch::randn({8, 4, 3, 3});
  sn->train();
  torch::Tensor wn;
  for (int i = 0; i < 30; ++i) wn = sn->normalize(w);
  const double sigma = (w.flatten() / wn.flatten()).mean().item<double>();
  CHECK(sigma == Approx(top_singular(w)).epsilon(1e-3));
  CHECK(top_singular(wn) == Approx(1.0).epsilon(1e-3));
  CHECK(wn.sizes() == w.sizes());
}

TEST_CASE("spectral norm updates u only in training mode and its gradient reaches the weight", "[gan][networks][spectral]") {
  torch::manual_seed(2);
  SpectralNorm sn(5);
  auto w = torch::randn({5, 7}, torch::requires_grad());
  auto u0 = sn->named_buffers()["u"].clone();
  CHECK(u0.norm().item<double>() == Approx(1.0));
  sn->eval();
  auto a = sn->normalize(w), b = sn->normalize(w);
  CHECK(torch::equal(sn->named_buffers()["u"], u0));
  CHECK(torch::equal(a, b));
  sn->train();
  sn->normalize(w);
  CHECK_FALSE(torch::equal(sn->named_buffers()["u"], u0));
  // Two forwards before one backward (D on real, then on fake) must not trip autograd's
  // in-place check on u.
  auto loss = sn->normalize(w).sum() + sn->normalize(w).pow(2).sum();
  loss.backward();
  REQUIRE(w.grad().defined());
  CHECK(w.grad().abs().sum().item<double>() > 0);
}

TEST_CASE("DCGAN generator outputs images in [0,1] of the right shape", "[gan][networks]") {
  const int64_t size = GENERATE(28, 32, 64);
  const int64_t channels = GENERATE(1, 3);
  const int64_t classes = GENERATE(0, 4);
  torch::manual_seed(3);
  auto g = tiny_generator(size, channels, classes);
  auto y = classes ? torch::randint(0, classes, {3}) : torch::Tensor();
  for (bool training : {true, false}) {
    g->train(training);
    auto x = g->forward(torch::randn({3, 8}), y);
    CHECK(x.sizes() == torch::IntArrayRef({3, channels, size, size}));
    CHECK(x.min().item<double>() >= 0.0);
    CHECK(x.max().item<double>() <= 1.0);
  }
}

TEST_CASE("DCGAN generator's feature maps halve from the base grid to width", "[gan][networks]") {
  auto g = tiny_generator(28, 1, 0);
  auto params = g->named_parameters();
  CHECK(params["project.weight"].sizes() == torch::IntArrayRef({16 * 7 * 7, 8}));
  CHECK(params["up0.weight"].sizes() == torch::IntArrayRef({16, 8, 4, 4}));
  CHECK(params["up1.weight"].sizes() == torch::IntArrayRef({8, 4, 4, 4}));
  CHECK(params["out.weight"].sizes() == torch::IntArrayRef({1, 4, 3, 3}));
  // DCGAN init: conv weights ~ N(0, 0.02), BN scales ~ N(1, 0.02).
  CHECK(params["project.weight"].std().item<double>() == Approx(0.02).epsilon(0.1));
  CHECK(params["up_bn0.weight"].mean().item<double>() == Approx(1.0).epsilon(0.02));
}

TEST_CASE("the conditional generator's image depends on y about as much as on z", "[gan][networks]") {
  torch::manual_seed(4);
  auto g = tiny_generator(32, 3, 4);
  g->eval();
  auto z = torch::randn({1, 8}).repeat({4, 1});
  auto x = g->forward(z, torch::arange(4));
  // At DCGAN's init the images are all close to 0.5, so compare with what a new z changes.
  const double z_effect =
      (g->forward(torch::randn({1, 8}), torch::zeros({1}, torch::kLong))[0] - x[0]).abs().max().item<double>();
  REQUIRE(z_effect > 0);
  for (int i = 1; i < 4; ++i) CHECK((x[i] - x[0]).abs().max().item<double>() > 0.1 * z_effect);
  CHECK(torch::equal(g->forward(z, torch::arange(4)), x));
  CHECK_THROWS_AS(g->forward(z), UsageError);
}

TEST_CASE("DCGAN discriminator scores and features have the right shape", "[gan][networks]") {
  const int64_t size = GENERATE(28, 32, 64);
  const int64_t channels = GENERATE(1, 3);
  const int64_t classes = GENERATE(0, 3);
  const std::string norm = GENERATE("batch", "layer", "none");
  const bool sn = GENERATE(false, true);
  torch::manual_seed(5);
  auto d = tiny_discriminator(size, channels, classes, norm, sn);
  auto x = torch::rand({4, channels, size, size});
  auto y = classes ? torch::randint(0, classes, {4}) : torch::Tensor();
  auto s = d->forward(x, y);
  CHECK(s.sizes() == torch::IntArrayRef({4}));
  CHECK(torch::isfinite(s).all().item<bool>());
  // Base grid 7x7 (28 px) or 4x4 with width * 2^(blocks - 1) maps.
  const int64_t f = size == 28 ? 8 * 49 : (size == 32 ? 16 * 16 : 32 * 16);
  CHECK(d->features(x).sizes() == torch::IntArrayRef({4, f}));
}

TEST_CASE("projection discriminator: the class term is <embed(y), features>", "[gan][networks]") {
  torch::manual_seed(6);
  auto d = tiny_discriminator(28, 1, 3, "batch", false);
  d->eval();
  auto x = torch::rand({5, 1, 28, 28});
  auto y0 = torch::zeros({5}, torch::kLong), y2 = torch::full({5}, 2, torch::kLong);
  auto e = d->named_parameters()["embed.weight"];
  auto expected = d->features(x).matmul(e[2] - e[0]);
  auto diff = d->forward(x, y2) - d->forward(x, y0);
  CHECK(diff.abs().min().item<double>() > 1e-6);
  CHECK(torch::allclose(diff, expected, 1e-4, 1e-6));
  CHECK_THROWS_AS(d->forward(x), UsageError);
}

TEST_CASE("layer and no norm keep D's scores independent across the batch, batch norm does not",
          "[gan][networks]") {
  const std::string norm = GENERATE("layer", "none", "batch");
  torch::manual_seed(7);
  auto d = tiny_discriminator(32, 3, 0, norm, false);
  d->train();
  auto x = torch::rand({4, 3, 32, 32});
  auto other = x.clone();
  other.slice(0, 1) = torch::rand({3, 3, 32, 32});
  const double change = (d->forward(x)[0] - d->forward(other)[0]).abs().item<double>();
  if (norm == "batch") CHECK(change > 1e-4);
  else CHECK(change < 1e-5);
}

TEST_CASE("with spectral norm every effective weight of D has top singular value 1", "[gan][networks][spectral]") {
  torch::manual_seed(8);
  auto d = tiny_discriminator(28, 1, 3, "none", true);
  d->train();
  auto x = torch::rand({4, 1, 28, 28});
  auto y = torch::randint(0, 3, {4});
  // Random 8x64 weights have close top singular values: power iteration needs more steps.
  for (int i = 0; i < 100; ++i) d->forward(x, y);
  d->eval();
  auto params = d->named_parameters();
  int checked = 0;
  for (const auto& m : d->named_modules()) {
    auto* sn = m.value()->as<SpectralNorm>();
    if (!sn) continue;
    const std::string weight = m.key().substr(0, m.key().size() - 3) + ".weight";  // conv0_sn -> conv0.weight
    REQUIRE(params.contains(weight));
    INFO(weight);
    CHECK(top_singular(sn->normalize(params[weight])) == Approx(1.0).epsilon(1e-2));
    ++checked;
  }
  CHECK(checked == 4);  // two convs, the output layer, the embedding
  // The normalised net is invariant to the scale of its weights (biases aside, so zero them).
  torch::NoGradGuard no_grad;
  for (auto& p : d->named_parameters()) {
    if (p.key().find("bias") != std::string::npos) p.value().zero_();
  }
  auto before = d->forward(x, y);
  for (auto& p : d->parameters()) p.mul_(3.0);
  CHECK(torch::allclose(d->forward(x, y), before, 1e-4, 1e-5));
}

TEST_CASE("unsupported sizes, norms and input shapes are UsageErrors", "[gan][networks][errors]") {
  CHECK_THROWS_WITH(tiny_generator(48, 1, 0), Catch::Contains("48"));
  CHECK_THROWS_AS(tiny_generator(48, 1, 0), UsageError);
  CHECK_THROWS_AS(tiny_discriminator(30, 1, 0, "batch", false), UsageError);
  CHECK_THROWS_WITH(tiny_discriminator(28, 1, 0, "instance", false), Catch::Contains("instance"));
  auto d = tiny_discriminator(28, 1, 0, "none", false);
  CHECK_THROWS_AS(d->forward(torch::rand({2, 3, 28, 28})), UsageError);
  auto g = tiny_generator(28, 1, 0);
  CHECK_THROWS_AS(g->forward(torch::randn({2, 9})), UsageError);
}

TEST_CASE("MLP GAN shapes and PacGAN packing of consecutive samples", "[gan][networks][mlp]") {
  torch::manual_seed(9);
  MlpGanOptions o;
  o.hidden = 16;
  o.layers = 2;
  o.pack = 2;
  MlpGenerator g(o);
  MlpDiscriminator d(o);
  auto x = g->forward(torch::randn({6, 2}));
  CHECK(x.sizes() == torch::IntArrayRef({6, 2}));
  auto s = d->forward(x);
  CHECK(s.sizes() == torch::IntArrayRef({3}));
  // Changing samples 2 and 3 changes only the score of pack 1.
  auto changed = x.detach().clone();
  changed.slice(0, 2, 4) += 1.0;
  auto s2 = d->forward(changed);
  CHECK(s2[0].item<double>() == s[0].item<double>());
  CHECK(s2[2].item<double>() == s[2].item<double>());
  CHECK(s2[1].item<double>() != s[1].item<double>());
  CHECK_THROWS_AS(d->forward(torch::randn({5, 2})), UsageError);
  o.layers = 0;
  CHECK_THROWS_AS(MlpGenerator(o), UsageError);
}

TEST_CASE("ema_update: decay 0 copies, 1 keeps, 0.5 averages, buffers are copied", "[gan][networks][ema]") {
  torch::manual_seed(10);
  auto net = tiny_generator(28, 1, 0), ema = tiny_generator(28, 1, 0);
  warm_up(net, 0);
  auto snapshot = [](torch::nn::Module& m) {
    std::vector<torch::Tensor> out;
    for (auto& p : m.parameters()) out.push_back(p.detach().clone());
    return out;
  };
  auto e0 = snapshot(*ema), n0 = snapshot(*net);
  ema_update(*ema, *net, 1.0);
  auto e1 = snapshot(*ema);
  for (size_t i = 0; i < e0.size(); ++i) CHECK(torch::equal(e1[i], e0[i]));
  // Buffers (BN running statistics) follow the net whatever the decay.
  CHECK(torch::equal(ema->named_buffers()["up_bn0.running_mean"], net->named_buffers()["up_bn0.running_mean"]));
  ema_update(*ema, *net, 0.5);
  auto e2 = snapshot(*ema);
  for (size_t i = 0; i < e0.size(); ++i) CHECK(torch::allclose(e2[i], (e0[i] + n0[i]) / 2));
  ema_update(*ema, *net, 0.0);
  auto e3 = snapshot(*ema);
  for (size_t i = 0; i < e0.size(); ++i) CHECK(torch::equal(e3[i], n0[i]));
  CHECK_THROWS_AS(ema_update(*ema, *net, 1.5), UsageError);
}

TEST_CASE("copy_weights makes two nets compute the same, structure mismatches are UsageErrors", "[gan][networks][ema]") {
  torch::manual_seed(11);
  auto a = tiny_generator(32, 3, 2), b = tiny_generator(32, 3, 2);
  warm_up(a, 2);
  copy_weights(*b, *a);
  b->eval();
  auto z = torch::randn({2, 8});
  auto y = torch::tensor({0, 1});
  CHECK(torch::equal(a->forward(z, y), b->forward(z, y)));
  auto other = tiny_generator(32, 3, 0);
  CHECK_THROWS_AS(copy_weights(*other, *a), UsageError);
  MlpGanOptions o;
  MlpGanOptions wide = o;
  wide.hidden = 2 * o.hidden;
  MlpGenerator small(o), big(wide);
  CHECK_THROWS_WITH(ema_update(*small, *big, 0.9), Catch::Contains("shape"));
}

TEST_CASE("the generator's TorchScript computes what the net computes in eval mode", "[gan][networks][export]") {
  const int64_t size = GENERATE(28, 32, 64);
  const int64_t channels = GENERATE(1, 3);
  const int64_t classes = GENERATE(0, 5);
  torch::manual_seed(12);
  auto g = tiny_generator(size, channels, classes);
  warm_up(g, classes);
  auto module = to_torchscript(*g, "DcganGenerator", g->torchscript_source());
  auto z = torch::randn({3, 8});
  std::vector<torch::jit::IValue> in{z};
  torch::Tensor y;
  if (classes) {
    y = torch::tensor({0, 4, 2});
    in.emplace_back(y);
  }
  torch::NoGradGuard no_grad;
  auto expected = g->forward(z, y);
  auto got = module.forward(in).toTensor();
  REQUIRE(got.sizes() == expected.sizes());
  CHECK((got - expected).abs().max().item<double>() < 1e-5);
}

TEST_CASE("the exported generator loads in PyTorch and gives the same images", "[gan][networks][export][python]") {
  if (!test::python_has_torch()) {
    WARN("python3 with torch not found; skipped (install python3-torch)");
    return;
  }
  test::TempDir dir;
  torch::manual_seed(13);
  auto g = tiny_generator(32, 3, 4);
  warm_up(g, 4);
  auto module = to_torchscript(*g, "DcganGenerator", g->torchscript_source());
  ModelSpec spec;
  spec.kind = "generator";
  spec.channels = 3;
  spec.height = spec.width = 32;
  spec.num_classes = 4;
  spec.extra = {{"z_dim", 8}};
  save_torchscript(module, spec, dir.file("g.pt"));
  auto z = torch::randn({2, 8});
  auto y = torch::tensor({3, 1});
  nlohmann::json input = {{"z", tensor_json(z)}, {"y", {3, 1}}};
  std::ofstream(dir.file("in.json")) << input.dump();
  auto r = test::run_command(std::string(MIRAGE_PYTHON) + " " + MIRAGE_SOURCE_DIR + "/tests/python/check_generator.py " +
                             dir.file("g.pt") + " " + dir.file("in.json"));
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  CHECK(j["metadata"]["kind"] == "generator");
  CHECK(j["images"]["shape"] == std::vector<int64_t>({2, 3, 32, 32}));
  auto py = torch::tensor(j["images"]["data"].get<std::vector<float>>()).view({2, 3, 32, 32});
  torch::NoGradGuard no_grad;
  CHECK((py - g->forward(z, y)).abs().max().item<double>() < 1e-5);
}

TEST_CASE("standing statistics re-estimate BN running stats as a plain average", "[gan][networks]") {
  struct Net : torch::nn::Module {
    torch::nn::BatchNorm1d bn{nullptr};
    Net() { bn = register_module("bn", torch::nn::BatchNorm1d(3)); }
  } net;
  // Running stats far from the truth, as after a few early training steps.
  net.bn->running_mean.fill_(-7);
  net.bn->running_var.fill_(100);
  at::Generator gen = mirage::make_generator(4);
  mirage::standing_statistics(net, 50, [&] { net.bn->forward(torch::randn({200, 3}, gen) * 2 + 5); });
  CHECK_FALSE(net.is_training());
  CHECK(net.bn->options.momentum().value() == Approx(0.1));
  // 50 x 200 samples of N(5, 4): a cumulative average, not a moving one.
  CHECK(net.bn->running_mean.sub(5).abs().max().item<double>() < 0.1);
  CHECK(net.bn->running_var.sub(4).abs().max().item<double>() < 0.3);
}

TEST_CASE("network initialisation depends on init_seed alone, not on LibTorch's global generator",
          "[gan][networks][determinism]") {
  auto params = [](torch::nn::Module& m) {
    std::vector<torch::Tensor> out;
    for (const auto& p : m.parameters()) out.push_back(p.detach().clone());
    return out;
  };
  auto same = [](const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!torch::equal(a[i], b[i])) return false;
    }
    return true;
  };
  mirage::DcganDiscriminatorOptions d;
  d.num_classes = 10;  // the projection embedding is drawn from the same generator
  d.init_seed = 5;
  torch::manual_seed(1);
  mirage::DcganDiscriminator a(d);
  torch::manual_seed(2);
  mirage::DcganDiscriminator b(d);
  CHECK(same(params(*a), params(*b)));
  d.init_seed = 6;
  mirage::DcganDiscriminator c(d);
  CHECK_FALSE(same(params(*a), params(*c)));

  mirage::DcganGeneratorOptions g;
  g.init_seed = 3;
  torch::manual_seed(1);
  mirage::DcganGenerator g1(g);
  torch::manual_seed(2);
  mirage::DcganGenerator g2(g);
  CHECK(same(params(*g1), params(*g2)));
}
