// gan/translation_nets.cpp — pix2pix / CycleGAN / SRGAN networks. Layer orders follow
// junyanz/pytorch-CycleGAN-and-pix2pix (networks.py: UnetSkipConnectionBlock, ResnetGenerator,
// NLayerDiscriminator) and Ledig et al. 2017, Fig. 4; widths are scaled down for small images.
#include "gan/translation_nets.h"

#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "gan/networks.h"
#include "lib/error.h"
#include "lib/runtime.h"
#include "lib/image_tensor.h"

namespace mirage {
namespace F = torch::nn::functional;
namespace {

// Inputs are [N, channels, H, W] with H and W multiples of `multiple` (the stride-2 levels must
// land back on the input's size for the skips and the output to line up).
void check_input(const torch::Tensor& x, int64_t channels, int64_t multiple, const std::string& what) {
  if (x.dim() != 4 || x.size(1) != channels || x.size(2) % multiple != 0 || x.size(3) % multiple != 0 ||
      x.size(2) == 0 || x.size(3) == 0) {
    throw UsageError(what + " input of shape " + shape_text(x.sizes()) + ": expected [N, " + std::to_string(channels) +
                     ", H, W] with H and W positive multiples of " + std::to_string(multiple));
  }
}

// pix2pix's instance norm: affine=False, track_running_stats=False, so train and eval agree.
torch::Tensor inorm(const torch::Tensor& x) {
  return torch::instance_norm(x, {}, {}, {}, {}, /*use_input_stats=*/true, 0.1, 1e-5, false);
}

torch::Tensor reflect(const torch::Tensor& x, int64_t p) { return torch::reflection_pad2d(x, {p, p, p, p}); }

torch::nn::Conv2d conv2d(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad, bool bias = true) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(bias));
}

// --- TorchScript text over export_name()'d attributes (module `name` -> self.name_weight) ---
std::string pair(int64_t v) { return "[" + std::to_string(v) + ", " + std::to_string(v) + "]"; }
std::string conv_ts(const std::string& x, const std::string& name, int64_t stride, int64_t pad) {
  return "torch.conv2d(" + x + ", self." + name + "_weight, self." + name + "_bias, " + pair(stride) + ", " +
         pair(pad) + ")";
}
std::string convt_ts(const std::string& x, const std::string& name, int64_t stride, int64_t pad, int64_t outpad) {
  return "torch.conv_transpose2d(" + x + ", self." + name + "_weight, self." + name + "_bias, " + pair(stride) +
         ", " + pair(pad) + ", " + pair(outpad) + ")";
}
std::string inorm_ts(const std::string& x) {
  return "torch.instance_norm(" + x + ", None, None, None, None, True, 0.1, 1e-05, False)";
}
std::string bn_ts(const std::string& x, const std::string& n) {
  return "torch.batch_norm(" + x + ", self." + n + "_weight, self." + n + "_bias, self." + n +
         "_running_mean, self." + n + "_running_var, False, 0.1, 1e-05, False)";
}
std::string reflect_ts(const std::string& x, int64_t p) {
  return "torch.reflection_pad2d(" + x + ", [" + std::to_string(p) + ", " + std::to_string(p) + ", " +
         std::to_string(p) + ", " + std::to_string(p) + "])";
}
std::string prelu_ts(const std::string& x, const std::string& n) { return "torch.prelu(" + x + ", self." + n + "_weight)"; }

struct Source {
  std::string text = "def forward(self, x):\n    h = x * 2.0 - 1.0\n";
  void line(const std::string& code) { text += "    " + code + "\n"; }
  std::string finish() { return text + "    return (torch.tanh(h) + 1.0) / 2.0\n"; }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// U-Net (pix2pix). Level i's encoder halves the resolution to ch(i) maps; its decoder block takes
// level i+1's output concatenated with level i's encoder output back up to level i-1's size.

namespace {
int64_t unet_channels(const UnetOptions& o, int64_t level) { return o.width * std::min<int64_t>(int64_t{1} << level, 8); }
// pix2pix puts dropout in the 3 ngf*8 blocks next to the innermost; here the innermost up
// block and up to two above it (none at the outermost), so a depth-2 net has noise at all.
bool unet_dropout_level(const UnetOptions& o, int64_t level) {
  return level >= std::max<int64_t>(1, o.depth - 3) && level <= o.depth - 1;
}
}  // namespace

UnetGeneratorImpl::UnetGeneratorImpl(UnetOptions options) : options_(options) {
  const auto& o = options_;
  if (o.in_channels <= 0 || o.out_channels <= 0 || o.width <= 0) {
    throw UsageError("U-Net generator needs positive in_channels, out_channels and width");
  }
  if (o.depth < 2 || o.depth > 8) throw UsageError("U-Net depth " + std::to_string(o.depth) + ": expected 2..8");
  if (o.dropout < 0 || o.dropout >= 1) throw UsageError("U-Net dropout must be in [0, 1)");
  for (int64_t i = 0; i < o.depth; ++i) {
    const int64_t in = i == 0 ? o.in_channels : unet_channels(o, i - 1);
    downs_.push_back(register_module("down" + std::to_string(i), conv2d(in, unet_channels(o, i), 4, 2, 1)));
  }
  for (int64_t i = 0; i < o.depth; ++i) {
    const int64_t in = i == o.depth - 1 ? unet_channels(o, i) : 2 * unet_channels(o, i);
    const int64_t out = i == 0 ? o.out_channels : unet_channels(o, i - 1);
    ups_.push_back(register_module("up" + std::to_string(i), torch::nn::ConvTranspose2d(
        torch::nn::ConvTranspose2dOptions(in, out, 4).stride(2).padding(1))));
  }
  at::Generator gen = init_generator(options_.init_seed);
  normal_init(*this, gen);
}

torch::Tensor UnetGeneratorImpl::forward(const torch::Tensor& x) {
  const auto& o = options_;
  check_input(x, o.in_channels, int64_t{1} << o.depth, "U-Net generator");
  // pix2pix's down block: LeakyReLU -> conv -> norm, with neither activation nor norm at the
  // outermost, and no norm at the innermost (there the map is 1x1 at full depth, where instance
  // norm would zero it).
  std::vector<torch::Tensor> e;
  torch::Tensor h = x * 2 - 1;
  for (int64_t i = 0; i < o.depth; ++i) {
    if (i > 0) h = F::leaky_relu(h, F::LeakyReLUFuncOptions().negative_slope(0.2));
    h = downs_[static_cast<size_t>(i)](h);
    if (i > 0 && i < o.depth - 1) h = inorm(h);
    e.push_back(h);
  }
  // Up block: ReLU -> convT -> norm (-> dropout), its input the skip concatenated before it.
  // (pix2pix's in-place LeakyReLU turns the skip into lrelu(e), which the ReLU then maps to
  // relu(e) exactly as here.)
  for (int64_t i = o.depth - 1; i >= 0; --i) {
    if (i < o.depth - 1) h = torch::cat({e[static_cast<size_t>(i)], h}, 1);
    h = ups_[static_cast<size_t>(i)](torch::relu(h));
    if (i == 0) break;
    h = inorm(h);
    if (unet_dropout_level(o, i)) h = F::dropout(h, F::DropoutFuncOptions().p(o.dropout).training(is_training()));
  }
  return (torch::tanh(h) + 1) / 2;
}

std::string UnetGeneratorImpl::torchscript_source() const {
  const auto& o = options_;
  Source s;
  for (int64_t i = 0; i < o.depth; ++i) {
    const std::string e = "e" + std::to_string(i);
    const std::string in = i == 0 ? "h" : "torch.leaky_relu(e" + std::to_string(i - 1) + ", 0.2)";
    s.line(e + " = " + conv_ts(in, "down" + std::to_string(i), 2, 1));
    if (i > 0 && i < o.depth - 1) s.line(e + " = " + inorm_ts(e));
  }
  s.line("h = e" + std::to_string(o.depth - 1));
  for (int64_t i = o.depth - 1; i >= 0; --i) {
    if (i < o.depth - 1) s.line("h = torch.cat([e" + std::to_string(i) + ", h], 1)");
    s.line("h = " + convt_ts("torch.relu(h)", "up" + std::to_string(i), 2, 1, 0));
    if (i > 0) s.line("h = " + inorm_ts("h"));
  }
  return s.finish();
}

// ---------------------------------------------------------------------------------------------
// ResNet generator (CycleGAN; Johnson et al. 2016's architecture with instance norm).

ResnetGeneratorImpl::ResnetGeneratorImpl(ResnetGeneratorOptions options) : options_(options) {
  const auto& o = options_;
  if (o.in_channels <= 0 || o.out_channels <= 0 || o.width <= 0 || o.downsamplings < 0 || o.blocks < 0 ||
      o.downsamplings > 6) {
    throw UsageError("ResNet generator needs positive channels and width, 0..6 downsamplings, blocks >= 0");
  }
  stem_ = register_module("stem", conv2d(o.in_channels, o.width, 7, 1, 0));
  for (int64_t i = 0; i < o.downsamplings; ++i) {
    downs_.push_back(register_module("down" + std::to_string(i), conv2d(o.width << i, o.width << (i + 1), 3, 2, 1)));
  }
  const int64_t c = o.width << o.downsamplings;
  for (int64_t b = 0; b < o.blocks; ++b) {
    for (int k = 1; k <= 2; ++k) {
      block_convs_.push_back(register_module("block" + std::to_string(b) + "_conv" + std::to_string(k), conv2d(c, c, 3, 1, 0)));
    }
  }
  for (int64_t i = 0; i < o.downsamplings; ++i) {
    const int64_t in = c >> i;
    ups_.push_back(register_module("up" + std::to_string(i), torch::nn::ConvTranspose2d(
        torch::nn::ConvTranspose2dOptions(in, in / 2, 3).stride(2).padding(1).output_padding(1))));
  }
  out_ = register_module("out", conv2d(o.width, o.out_channels, 7, 1, 0));
  at::Generator gen = init_generator(options_.init_seed);
  normal_init(*this, gen);
}

torch::Tensor ResnetGeneratorImpl::forward(const torch::Tensor& x) {
  const auto& o = options_;
  check_input(x, o.in_channels, int64_t{1} << o.downsamplings, "ResNet generator");
  torch::Tensor h = torch::relu(inorm(stem_(reflect(x * 2 - 1, 3))));
  for (auto& down : downs_) h = torch::relu(inorm(down(h)));
  for (size_t b = 0; b < static_cast<size_t>(o.blocks); ++b) {
    torch::Tensor r = torch::relu(inorm(block_convs_[2 * b](reflect(h, 1))));
    h = h + inorm(block_convs_[2 * b + 1](reflect(r, 1)));
  }
  for (auto& up : ups_) h = torch::relu(inorm(up(h)));
  return (torch::tanh(out_(reflect(h, 3))) + 1) / 2;
}

std::string ResnetGeneratorImpl::torchscript_source() const {
  const auto& o = options_;
  Source s;
  s.line("h = torch.relu(" + inorm_ts(conv_ts(reflect_ts("h", 3), "stem", 1, 0)) + ")");
  for (int64_t i = 0; i < o.downsamplings; ++i) {
    s.line("h = torch.relu(" + inorm_ts(conv_ts("h", "down" + std::to_string(i), 2, 1)) + ")");
  }
  for (int64_t b = 0; b < o.blocks; ++b) {
    const std::string n = "block" + std::to_string(b) + "_conv";
    s.line("r = torch.relu(" + inorm_ts(conv_ts(reflect_ts("h", 1), n + "1", 1, 0)) + ")");
    s.line("h = h + " + inorm_ts(conv_ts(reflect_ts("r", 1), n + "2", 1, 0)));
  }
  for (int64_t i = 0; i < o.downsamplings; ++i) {
    s.line("h = torch.relu(" + inorm_ts(convt_ts("h", "up" + std::to_string(i), 2, 1, 1)) + ")");
  }
  s.line("h = " + conv_ts(reflect_ts("h", 3), "out", 1, 0));
  return s.finish();
}

// ---------------------------------------------------------------------------------------------
// PatchGAN (pix2pix's NLayerDiscriminator): `layers` stride-2 convs, one stride-1 conv, a 1-map
// stride-1 output conv; all 4x4 with padding 1. With layers = 3 each score sees 70x70 pixels.

PatchDiscriminatorImpl::PatchDiscriminatorImpl(PatchDiscriminatorOptions options) : options_(options) {
  const auto& o = options_;
  if (o.in_channels <= 0 || o.width <= 0 || o.layers < 1) {
    throw UsageError("PatchGAN discriminator needs positive in_channels and width and layers >= 1");
  }
  if (o.norm != "instance" && o.norm != "batch" && o.norm != "none") {
    throw UsageError("PatchGAN norm '" + o.norm + "': expected instance, batch or none");
  }
  auto mult = [](int64_t n) { return std::min<int64_t>(int64_t{1} << n, 8); };
  // A bias before batch norm is cancelled by its mean subtraction (pix2pix drops it there).
  const bool bias = o.norm != "batch";
  convs_.push_back(conv2d(o.in_channels, o.width, 4, 2, 1));
  for (int64_t n = 1; n <= o.layers; ++n) {
    convs_.push_back(conv2d(o.width * mult(n - 1), o.width * mult(n), 4, n < o.layers ? 2 : 1, 1, bias));
  }
  convs_.push_back(conv2d(o.width * mult(o.layers), 1, 4, 1, 1));
  for (size_t i = 0; i < convs_.size(); ++i) {
    const std::string n = "conv" + std::to_string(i);
    register_module(n, convs_[i]);
    const int64_t out = convs_[i]->options.out_channels();
    if (o.norm == "batch" && i > 0 && i + 1 < convs_.size()) {
      bns_.push_back(register_module(n + "_bn", torch::nn::BatchNorm2d(out)));
    }
    if (o.spectral_norm) sns_.push_back(register_module(n + "_sn", std::make_shared<SpectralNormImpl>(out)));
  }
  at::Generator gen = init_generator(options_.init_seed);
  normal_init(*this, gen);
}

torch::Tensor PatchDiscriminatorImpl::forward(const torch::Tensor& x) {
  const auto& o = options_;
  check_input(x, o.in_channels, 1, "PatchGAN discriminator");
  torch::Tensor h = x * 2 - 1;
  for (size_t i = 0; i < convs_.size(); ++i) {
    const auto& c = convs_[i];
    torch::Tensor w = o.spectral_norm ? sns_[i]->normalize(c->weight) : c->weight;
    h = F::conv2d(h, w, F::Conv2dFuncOptions().bias(c->bias).stride(c->options.stride()).padding(1));
    if (i + 1 == convs_.size()) break;
    if (i > 0 && o.norm == "instance") h = inorm(h);
    if (i > 0 && o.norm == "batch") h = bns_[i - 1](h);
    h = F::leaky_relu(h, F::LeakyReLUFuncOptions().negative_slope(0.2));
  }
  return h;
}

// ---------------------------------------------------------------------------------------------
// SRGAN generator (Ledig et al. 2017, Fig. 4): k9n64 + PReLU; B blocks of k3n64-BN-PReLU-k3n64-BN
// with identity skips; k3n64-BN plus the long skip from the stem; per x2: k3n256 ->
// PixelShuffle(2) -> PReLU (Shi et al. 2016); k9 to the image channels.

SrGeneratorImpl::SrGeneratorImpl(SrGeneratorOptions options) : options_(options) {
  const auto& o = options_;
  if (o.scale != 2 && o.scale != 4) throw UsageError("SR scale " + std::to_string(o.scale) + ": expected 2 or 4");
  if (o.channels <= 0 || o.width <= 0 || o.blocks < 0) {
    throw UsageError("SR generator needs positive channels and width and blocks >= 0");
  }
  const int64_t w = o.width;
  head_ = register_module("head", conv2d(o.channels, w, 9, 1, 4));
  head_act_ = register_module("head_act", torch::nn::PReLU());
  for (int64_t b = 0; b < o.blocks; ++b) {
    const std::string n = "block" + std::to_string(b);
    for (int k = 1; k <= 2; ++k) {
      convs_.push_back(register_module(n + "_conv" + std::to_string(k), conv2d(w, w, 3, 1, 1)));
      bns_.push_back(register_module(n + "_bn" + std::to_string(k), torch::nn::BatchNorm2d(w)));
    }
    acts_.push_back(register_module(n + "_act", torch::nn::PReLU()));
  }
  trunk_ = register_module("trunk", conv2d(w, w, 3, 1, 1));
  trunk_bn_ = register_module("trunk_bn", torch::nn::BatchNorm2d(w));
  for (int64_t i = 0; (int64_t{2} << i) <= o.scale; ++i) {
    up_convs_.push_back(register_module("up" + std::to_string(i), conv2d(w, 4 * w, 3, 1, 1)));
    up_acts_.push_back(register_module("up" + std::to_string(i) + "_act", torch::nn::PReLU()));
  }
  tail_ = register_module("tail", conv2d(w, o.channels, 9, 1, 4));
  at::Generator gen = init_generator(options_.init_seed);
  normal_init(*this, gen);
}

torch::Tensor SrGeneratorImpl::forward(const torch::Tensor& lr) {
  const auto& o = options_;
  check_input(lr, o.channels, 1, "SR generator");
  torch::Tensor stem = head_act_(head_(lr * 2 - 1));
  torch::Tensor h = stem;
  for (size_t b = 0; b < acts_.size(); ++b) {
    torch::Tensor r = acts_[b](bns_[2 * b](convs_[2 * b](h)));
    h = h + bns_[2 * b + 1](convs_[2 * b + 1](r));
  }
  h = stem + trunk_bn_(trunk_(h));
  for (size_t i = 0; i < up_convs_.size(); ++i) h = up_acts_[i](torch::pixel_shuffle(up_convs_[i](h), 2));
  return (torch::tanh(tail_(h)) + 1) / 2;
}

std::string SrGeneratorImpl::torchscript_source() const {
  Source s;
  s.line("stem = " + prelu_ts(conv_ts("h", "head", 1, 4), "head_act"));
  s.line("h = stem");
  for (size_t b = 0; b < acts_.size(); ++b) {
    const std::string n = "block" + std::to_string(b);
    s.line("r = " + prelu_ts(bn_ts(conv_ts("h", n + "_conv1", 1, 1), n + "_bn1"), n + "_act"));
    s.line("h = h + " + bn_ts(conv_ts("r", n + "_conv2", 1, 1), n + "_bn2"));
  }
  s.line("h = stem + " + bn_ts(conv_ts("h", "trunk", 1, 1), "trunk_bn"));
  for (size_t i = 0; i < up_convs_.size(); ++i) {
    const std::string n = "up" + std::to_string(i);
    s.line("h = " + prelu_ts("torch.pixel_shuffle(" + conv_ts("h", n, 1, 1) + ", 2)", n + "_act"));
  }
  s.line("h = " + conv_ts("h", "tail", 1, 4));
  return s.finish();
}

// ---------------------------------------------------------------------------------------------

torch::Tensor bicubic_upsample(const torch::Tensor& lr, int64_t scale) {
  if (lr.dim() != 4 || scale < 1) {
    throw UsageError("bicubic upsampling of shape " + shape_text(lr.sizes()) + " by " + std::to_string(scale) +
                     ": expected [N, C, h, w] and scale >= 1");
  }
  // Bicubic overshoots at edges; the clamp keeps the baseline a valid image.
  return F::interpolate(lr, F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{lr.size(2) * scale, lr.size(3) * scale})
                                .mode(torch::kBicubic)
                                .align_corners(false))
      .clamp(0, 1);
}

torch::Tensor area_downsample(const torch::Tensor& hr, int64_t scale) {
  if (hr.dim() != 4 || scale < 1 || hr.size(2) % scale != 0 || hr.size(3) % scale != 0) {
    throw UsageError("area downsampling of shape " + shape_text(hr.sizes()) + " by " + std::to_string(scale) +
                     ": expected [N, C, H, W] with H and W multiples of the scale");
  }
  return F::avg_pool2d(hr, F::AvgPool2dFuncOptions(scale).stride(scale));
}

torch::Tensor psnr(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes() || a.dim() < 2) {
    throw UsageError("PSNR of shapes " + shape_text(a.sizes()) + " and " + shape_text(b.sizes()) + ": expected equal [N, ...]");
  }
  // Peak 1 for [0,1] images: 10 log10(1 / MSE); MSE 0 divides to +inf.
  torch::Tensor mse = (a.to(torch::kDouble) - b.to(torch::kDouble)).pow(2).flatten(1).mean(1);
  return (10.0 * torch::log10(1.0 / mse)).to(a.scalar_type());
}

}  // namespace mirage
