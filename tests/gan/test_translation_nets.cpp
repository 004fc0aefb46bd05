// tests/gan/test_translation_nets.cpp — pix2pix U-Net, CycleGAN ResNet, PatchGAN, SRGAN nets.
#include <catch2/catch.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "gan/translation_nets.h"
#include "lib/error.h"
#include "lib/export.h"
#include "lib/model.h"
#include "tests/test_util.h"

using namespace mirage;

namespace {

UnetGenerator small_unet(int64_t in, int64_t out, int64_t depth) {
  UnetOptions o;
  o.in_channels = in;
  o.out_channels = out;
  o.width = 8;
  o.depth = depth;
  return UnetGenerator(o);
}

ResnetGenerator small_resnet(int64_t in, int64_t out) {
  ResnetGeneratorOptions o;
  o.in_channels = in;
  o.out_channels = out;
  o.width = 8;
  o.blocks = 2;
  return ResnetGenerator(o);
}

SrGenerator small_sr(int64_t channels, int64_t scale) {
  SrGeneratorOptions o;
  o.channels = channels;
  o.width = 8;
  o.blocks = 2;
  o.scale = scale;
  return SrGenerator(o);
}

void check_unit_range(const torch::Tensor& y) {
  CHECK(y.min().item<double>() >= 0.0);
  CHECK(y.max().item<double>() <= 1.0);
}

// d out[0, 0, r, c] / d x[0, 0] as an [H, W] map.
torch::Tensor pixel_gradient(const std::function<torch::Tensor(const torch::Tensor&)>& f, const torch::Tensor& x,
                             int64_t r, int64_t c) {
  auto xg = x.clone().requires_grad_(true);
  f(xg)[0][0][r][c].backward();
  return xg.grad()[0][0];
}

struct ExportCase {
  std::string name;
  std::shared_ptr<torch::nn::Module> net;
  std::function<torch::Tensor(const torch::Tensor&)> forward;  // eval mode
  std::string source;
  torch::Tensor x;
};

// The three generators in eval mode, SR with running statistics moved off their (0, 1) start so
// that an export must carry them.
std::vector<ExportCase> export_cases() {
  torch::manual_seed(7);
  auto unet = small_unet(3, 1, 3);
  auto resnet = small_resnet(1, 3);
  auto sr = small_sr(3, 4);
  {
    torch::NoGradGuard no_grad;
    sr->train();
    for (int i = 0; i < 3; ++i) sr->forward(torch::rand({4, 3, 8, 8}) * 0.5);
  }
  unet->eval();
  resnet->eval();
  sr->eval();
  return {
      {"UnetGenerator", unet.ptr(), [unet](const torch::Tensor& x) mutable { return unet->forward(x); },
       unet->torchscript_source(), torch::rand({2, 3, 32, 32})},
      {"ResnetGenerator", resnet.ptr(), [resnet](const torch::Tensor& x) mutable { return resnet->forward(x); },
       resnet->torchscript_source(), torch::rand({2, 1, 28, 28})},
      {"SrGenerator", sr.ptr(), [sr](const torch::Tensor& x) mutable { return sr->forward(x); },
       sr->torchscript_source(), torch::rand({2, 3, 7, 7})},
  };
}

}  // namespace

TEST_CASE("U-Net and ResNet generators map [N,C,H,W] to [N,C',H,W] in [0,1]", "[gan][translation]") {
  torch::manual_seed(1);
  auto [size, depth] = GENERATE(std::make_pair(28, 2), std::make_pair(32, 3), std::make_pair(64, 4));
  auto [in, out] = GENERATE(std::make_pair(1, 1), std::make_pair(1, 3), std::make_pair(3, 1), std::make_pair(3, 3));
  CAPTURE(size, depth, in, out);
  auto x = torch::rand({2, in, size, size});
  torch::NoGradGuard no_grad;
  auto unet = small_unet(in, out, depth);
  auto y = unet->forward(x);
  CHECK(y.sizes() == torch::IntArrayRef({2, out, size, size}));
  check_unit_range(y);
  auto resnet = small_resnet(in, out);
  auto z = resnet->forward(x);
  CHECK(z.sizes() == torch::IntArrayRef({2, out, size, size}));
  check_unit_range(z);
}

TEST_CASE("generators reject sizes their stride-2 levels cannot invert, naming the shape", "[gan][translation][errors]") {
  auto unet = small_unet(1, 1, 3);  // needs multiples of 8
  CHECK_THROWS_AS(unet->forward(torch::rand({2, 1, 28, 28})), UsageError);
  CHECK_THROWS_WITH(unet->forward(torch::rand({2, 1, 28, 28})), Catch::Contains("[2, 1, 28, 28]"));
  CHECK_THROWS_WITH(unet->forward(torch::rand({2, 3, 32, 32})), Catch::Contains("[2, 3, 32, 32]"));
  ResnetGeneratorOptions ro;
  ro.downsamplings = 3;
  ro.width = 4;
  ro.blocks = 1;
  CHECK_THROWS_WITH(ResnetGenerator(ro)->forward(torch::rand({1, 1, 28, 20})), Catch::Contains("[1, 1, 28, 20]"));
  UnetOptions shallow;
  shallow.depth = 1;
  CHECK_THROWS_AS(UnetGenerator(shallow), UsageError);
}

TEST_CASE("U-Net widths double per level and stop at 8x", "[gan][translation]") {
  auto unet = small_unet(1, 2, 5);
  auto params = unet->named_parameters();
  CHECK(params["down0.weight"].sizes() == torch::IntArrayRef({8, 1, 4, 4}));
  CHECK(params["down3.weight"].sizes() == torch::IntArrayRef({64, 32, 4, 4}));
  CHECK(params["down4.weight"].sizes() == torch::IntArrayRef({64, 64, 4, 4}));
  // Decoder inputs: the innermost takes the bottleneck alone, the others skip + up.
  CHECK(params["up4.weight"].sizes() == torch::IntArrayRef({64, 64, 4, 4}));
  CHECK(params["up1.weight"].sizes() == torch::IntArrayRef({32, 8, 4, 4}));
  CHECK(params["up0.weight"].sizes() == torch::IntArrayRef({16, 2, 4, 4}));
  // 32 px at depth 5 is 1x1 at the bottleneck: works in train mode (no norm there, as pix2pix).
  unet->train();
  CHECK(unet->forward(torch::rand({2, 1, 32, 32})).sizes() == torch::IntArrayRef({2, 2, 32, 32}));
}

TEST_CASE("U-Net skips carry pixel detail past a silenced bottleneck", "[gan][translation]") {
  torch::manual_seed(2);
  auto unet = small_unet(1, 1, 2);
  unet->eval();
  auto x = torch::rand({1, 1, 28, 28});
  auto f = [&](const torch::Tensor& in) { return unet->forward(in); };
  // Intact: the instance-normalised bottleneck lets every input pixel reach every output pixel.
  auto full = pixel_gradient(f, x, 13, 13);
  CHECK(full[0][0].item<double>() != 0.0);
  // Zero the innermost encoder: its decoder block then outputs instance_norm(constant) = 0, so
  // only the outermost skip (conv(4,2,1) -> convT(4,2,1)) is left, whose receptive field at
  // row 13 is rows 11..16. A U-Net without that skip would have zero gradient everywhere.
  {
    torch::NoGradGuard no_grad;
    unet->named_parameters()["down1.weight"].zero_();
    unet->named_parameters()["down1.bias"].zero_();
  }
  auto local = pixel_gradient(f, x, 13, 13);
  CHECK(local[13][13].item<double>() != 0.0);
  CHECK(local.slice(0, 11, 17).slice(1, 11, 17).abs().sum().item<double>() > 0.0);
  auto outside = local.abs().clone();
  outside.slice(0, 11, 17).slice(1, 11, 17).zero_();
  CHECK(outside.sum().item<double>() == 0.0);
}

TEST_CASE("U-Net: train and eval differ only by dropout", "[gan][translation]") {
  torch::manual_seed(3);
  auto depth = GENERATE(2, 3);
  auto unet = small_unet(1, 1, depth);
  auto x = torch::rand({2, 1, 32, 32});
  torch::NoGradGuard no_grad;
  unet->eval();
  auto a = unet->forward(x), b = unet->forward(x);
  CHECK(torch::equal(a, b));
  unet->train();
  CHECK_FALSE(torch::allclose(unet->forward(x), unet->forward(x)));
  // Without dropout, instance norm (no running statistics) makes train mode compute eval's output.
  UnetOptions o = unet->options();
  o.dropout = 0.0;
  UnetGenerator plain(o);
  plain->eval();
  auto e = plain->forward(x);
  plain->train();
  CHECK(torch::allclose(plain->forward(x), e, 0, 1e-6));
}

TEST_CASE("PatchGAN output grid and receptive field match NLayerDiscriminator", "[gan][translation]") {
  torch::manual_seed(4);
  PatchDiscriminatorOptions o;
  o.in_channels = 2;
  o.width = 8;
  o.layers = 2;
  auto norm = GENERATE(as<std::string>{}, "instance", "batch", "none");
  o.norm = norm;
  CAPTURE(norm);
  // 28 -> 14 -> 7 (stride 2) -> 6 -> 5 (4x4, stride 1, padding 1).
  CHECK(PatchDiscriminator(o)->forward(torch::rand({3, 2, 28, 28})).sizes() == torch::IntArrayRef({3, 1, 5, 5}));
  o.layers = 3;  // 64 -> 32 -> 16 -> 8 -> 7 -> 6
  CHECK(PatchDiscriminator(o)->forward(torch::rand({2, 2, 64, 64})).sizes() == torch::IntArrayRef({2, 1, 6, 6}));
  // pix2pix's "70x70 PatchGAN": without a norm coupling the pixels, the score at (5, 5) of a
  // 96 px input depends exactly on rows/cols 17..86.
  o.norm = "none";
  PatchDiscriminator d(o);
  auto g = pixel_gradient([&](const torch::Tensor& in) { return d->forward(in); }, torch::rand({1, 2, 96, 96}), 5, 5);
  auto rows = g.abs().sum(1).nonzero();
  auto cols = g.abs().sum(0).nonzero();
  CHECK(rows.min().item<int64_t>() == 17);
  CHECK(rows.max().item<int64_t>() == 86);
  CHECK(cols.min().item<int64_t>() == 17);
  CHECK(cols.max().item<int64_t>() == 86);
}

TEST_CASE("PatchGAN with spectral norm scores patches and rejects unknown norms", "[gan][translation]") {
  torch::manual_seed(5);
  PatchDiscriminatorOptions o;
  o.in_channels = 1;
  o.width = 8;
  o.spectral_norm = true;
  PatchDiscriminator d(o);
  d->train();
  auto y = d->forward(torch::rand({2, 1, 28, 28}));
  CHECK(y.sizes() == torch::IntArrayRef({2, 1, 5, 5}));
  CHECK(torch::isfinite(y).all().item<bool>());
  // W / sigma(W) does not change when every W is scaled (eval mode: u is frozen); a plain
  // PatchGAN's scores would grow with the weights.
  o.norm = "none";
  for (bool sn : {true, false}) {
    o.spectral_norm = sn;
    PatchDiscriminator net(o);
    net->eval();
    torch::NoGradGuard no_grad;
    auto x = torch::rand({2, 1, 28, 28});
    auto before = net->forward(x);
    for (auto& p : net->named_parameters()) {
      if (p.key().find("weight") != std::string::npos) p.value().mul_(10);
    }
    CHECK(torch::allclose(net->forward(x), before, 1e-4, 1e-5) == sn);
  }
  o.norm = "group";
  CHECK_THROWS_AS(PatchDiscriminator(o), UsageError);
}

TEST_CASE("SR generator outputs scale x its input in [0,1], other scales are usage errors", "[gan][translation]") {
  torch::manual_seed(6);
  auto scale = GENERATE(2, 4);
  auto channels = GENERATE(1, 3);
  auto sr = small_sr(channels, scale);
  torch::NoGradGuard no_grad;
  auto y = sr->forward(torch::rand({2, channels, 7, 9}));
  CHECK(y.sizes() == torch::IntArrayRef({2, channels, 7 * scale, 9 * scale}));
  check_unit_range(y);
  SrGeneratorOptions bad;
  bad.scale = 3;
  CHECK_THROWS_AS(SrGenerator(bad), UsageError);
}

TEST_CASE("generators' TorchScript computes their eval-mode forward", "[gan][translation][export]") {
  torch::NoGradGuard no_grad;
  for (auto& c : export_cases()) {
    CAPTURE(c.name);
    INFO(c.source);
    auto expected = c.forward(c.x);
    auto got = to_torchscript(*c.net, c.name, c.source).forward({c.x}).toTensor();
    REQUIRE(got.sizes() == expected.sizes());
    CHECK((got - expected).abs().max().item<double>() < 1e-5);
  }
}

TEST_CASE("generators' exports load in PyTorch and compute the same images", "[gan][translation][export][python]") {
  if (!test::python_has_torch()) {
    WARN("python3 with torch not found; skipped (install python3-torch)");
    return;
  }
  test::TempDir dir;
  torch::NoGradGuard no_grad;
  auto cases = export_cases();
  std::string args;
  for (auto& c : cases) {
    auto module = to_torchscript(*c.net, c.name, c.source);
    ModelSpec spec;
    spec.kind = "generator";
    spec.name = c.name;
    spec.channels = c.x.size(1);
    spec.height = c.x.size(2);
    spec.width = c.x.size(3);
    save_torchscript(module, spec, dir.file(c.name + ".pt"));
    std::ofstream(dir.file(c.name + ".json"))
        << nlohmann::json{{"shape", c.x.sizes().vec()},
                          {"data", std::vector<float>(c.x.data_ptr<float>(), c.x.data_ptr<float>() + c.x.numel())}}
               .dump();
    args += " " + dir.file(c.name + ".pt") + " " + dir.file(c.name + ".json");
  }
  // One Python process for all three: importing torch is most of the cost.
  auto r = test::run_command(std::string(MIRAGE_PYTHON) + " " + MIRAGE_SOURCE_DIR +
                             "/tests/python/check_translation.py" + args);
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out.substr(r.out.find('[')));
  REQUIRE(j.size() == cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(cases[i].name);
    auto expected = cases[i].forward(cases[i].x);
    CHECK(j[i]["metadata"]["kind"] == "generator");
    REQUIRE(j[i]["shape"].get<std::vector<int64_t>>() == expected.sizes().vec());
    auto py = torch::tensor(j[i]["output"].get<std::vector<float>>()).view(expected.sizes());
    CHECK((py - expected).abs().max().item<double>() < 1e-5);
  }
}

TEST_CASE("PSNR: identical images are +inf dB, a constant offset of 0.1 is 20 dB", "[gan][translation]") {
  auto a = torch::rand({3, 1, 8, 8}) * 0.8;
  auto p = psnr(a, a);
  CHECK(std::isinf(p[0].item<double>()));
  CHECK(p[0].item<double>() > 0);
  // Per image: offsets 0.1, 0.01 and a half-image offset of 0.2 (MSE 0.02 -> 16.99 dB).
  auto b = a.clone();
  b[0] += 0.1;
  b[1] += 0.01;
  b[2].slice(1, 0, 4) += 0.2;
  auto q = psnr(a, b);
  REQUIRE(q.sizes() == torch::IntArrayRef({3}));
  CHECK(q[0].item<double>() == Approx(20.0).margin(1e-3));
  CHECK(q[1].item<double>() == Approx(40.0).margin(1e-2));
  CHECK(q[2].item<double>() == Approx(10 * std::log10(1 / 0.02)).margin(1e-3));
  CHECK_THROWS_AS(psnr(a, b.slice(0, 0, 2)), UsageError);
}

TEST_CASE("area downsampling averages blocks, bicubic upsampling keeps constants and clamps", "[gan][translation]") {
  auto c = torch::full({2, 3, 28, 28}, 0.37);
  auto lr = area_downsample(c, 4);
  CHECK(lr.sizes() == torch::IntArrayRef({2, 3, 7, 7}));
  auto up = bicubic_upsample(lr, 4);
  CHECK(up.sizes() == torch::IntArrayRef({2, 3, 28, 28}));
  CHECK((up - 0.37).abs().max().item<double>() < 1e-6);
  // Area: each low-res pixel is its block's mean.
  auto x = torch::arange(16, torch::kFloat).view({1, 1, 4, 4});
  auto d = area_downsample(x, 2);
  CHECK(d[0][0][0][0].item<double>() == Approx((0 + 1 + 4 + 5) / 4.0));
  CHECK(d[0][0][1][1].item<double>() == Approx((10 + 11 + 14 + 15) / 4.0));
  // A black/white checkerboard overshoots under bicubic; the baseline stays an image.
  auto board = (torch::arange(8).view({1, 8}) + torch::arange(8).view({8, 1})).remainder(2).to(torch::kFloat);
  auto b = bicubic_upsample(board.view({1, 1, 8, 8}), 2);
  CHECK(b.min().item<double>() == 0.0);
  CHECK(b.max().item<double>() == 1.0);
  CHECK_THROWS_AS(area_downsample(c, 3), UsageError);
}
