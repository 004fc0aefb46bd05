// gan/translation_nets.h — networks of image-to-image GANs: the U-Net generator and PatchGAN
// discriminator of pix2pix (Isola et al., CVPR 2017), the ResNet generator of CycleGAN (Zhu et
// al., ICCV 2017), and the SRGAN generator (Ledig et al., CVPR 2017: residual blocks, sub-pixel
// convolution upsampling, Shi et al. 2016). Images are NCHW in [0,1] in and out (inputs mapped to
// [-1,1] inside, outputs (tanh + 1) / 2).
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mirage {

class SpectralNormImpl;  // gan/networks.h

struct UnetOptions {
  int64_t in_channels = 1;
  int64_t out_channels = 1;
  int64_t width = 32;     // feature maps at full resolution; doubled per level (capped at 8x)
  int64_t depth = 2;      // stride-2 down/up levels; height and width must be multiples of 2^depth
  double dropout = 0.5;   // in the innermost up blocks, as pix2pix's noise (train mode only)
  std::optional<uint64_t> init_seed;  // seeds normal_init (gan/networks.h); unset: the global generator
};

// Encoder conv(4,2,1)+norm+LeakyReLU(0.2), decoder convT(4,2,1)+norm+ReLU with skip
// concatenations. Norm: instance norm (batch-size independent, so training and eval agree).
class UnetGeneratorImpl : public torch::nn::Module {
 public:
  explicit UnetGeneratorImpl(UnetOptions options);
  torch::Tensor forward(const torch::Tensor& x);
  const UnetOptions& options() const { return options_; }
  // `def forward(self, x)` in eval mode (no dropout) over export_name()'d parameters.
  std::string torchscript_source() const;
 private:
  UnetOptions options_;
  std::vector<torch::nn::Conv2d> downs_;           // level i: 2^-i resolution
  std::vector<torch::nn::ConvTranspose2d> ups_;    // level i: back to level i-1's resolution
};
TORCH_MODULE(UnetGenerator);

struct ResnetGeneratorOptions {
  int64_t in_channels = 1;
  int64_t out_channels = 1;
  int64_t width = 32;          // feature maps after the 7x7 stem; doubled per downsampling
  int64_t downsamplings = 2;   // H and W must be multiples of 2^downsamplings
  int64_t blocks = 6;          // residual blocks at the lowest resolution
  std::optional<uint64_t> init_seed;  // seeds normal_init (gan/networks.h); unset: the global generator
};

// CycleGAN's generator: reflect-padded 7x7 stem, stride-2 downsamplings, residual blocks,
// transposed-conv upsamplings, 7x7 output; instance norm.
class ResnetGeneratorImpl : public torch::nn::Module {
 public:
  explicit ResnetGeneratorImpl(ResnetGeneratorOptions options);
  torch::Tensor forward(const torch::Tensor& x);
  const ResnetGeneratorOptions& options() const { return options_; }
  std::string torchscript_source() const;  // `def forward(self, x)`
 private:
  ResnetGeneratorOptions options_;
  torch::nn::Conv2d stem_{nullptr}, out_{nullptr};
  std::vector<torch::nn::Conv2d> downs_, block_convs_;  // two convs per residual block
  std::vector<torch::nn::ConvTranspose2d> ups_;
};
TORCH_MODULE(ResnetGenerator);

struct PatchDiscriminatorOptions {
  int64_t in_channels = 2;  // pix2pix: condition + image channels; CycleGAN: image channels
  int64_t width = 64;
  int64_t layers = 2;       // stride-2 conv layers (the 70x70 PatchGAN has 3; 28 px images take 2)
  std::string norm = "instance";  // instance | batch | none
  bool spectral_norm = false;
  std::optional<uint64_t> init_seed;  // seeds normal_init (gan/networks.h); unset: the global generator
};

// x [N, in_channels, H, W] in [0,1] -> patch scores [N, 1, h, w] (logits), one per receptive field.
class PatchDiscriminatorImpl : public torch::nn::Module {
 public:
  explicit PatchDiscriminatorImpl(PatchDiscriminatorOptions options);
  torch::Tensor forward(const torch::Tensor& x);
  const PatchDiscriminatorOptions& options() const { return options_; }
 private:
  PatchDiscriminatorOptions options_;
  std::vector<torch::nn::Conv2d> convs_;
  std::vector<torch::nn::BatchNorm2d> bns_;       // norm = batch: one per normalised conv
  std::vector<std::shared_ptr<SpectralNormImpl>> sns_;  // per conv (spectral_norm only)
};
TORCH_MODULE(PatchDiscriminator);

struct SrGeneratorOptions {
  int64_t channels = 1;
  int64_t width = 64;
  int64_t blocks = 8;   // residual blocks (conv-BN-PReLU-conv-BN + skip); SRGAN has 16
  int64_t scale = 2;    // 2 or 4: one sub-pixel (PixelShuffle x2) stage per factor of 2
  std::optional<uint64_t> init_seed;  // seeds normal_init (gan/networks.h); unset: the global generator
};

// lr [N, C, h, w] in [0,1] -> sr [N, C, scale*h, scale*w] in [0,1]. Batch norm in the residual
// blocks as SRGAN; eval mode uses running statistics.
class SrGeneratorImpl : public torch::nn::Module {
 public:
  explicit SrGeneratorImpl(SrGeneratorOptions options);
  torch::Tensor forward(const torch::Tensor& lr);
  const SrGeneratorOptions& options() const { return options_; }
  std::string torchscript_source() const;  // `def forward(self, x)`, eval mode
 private:
  SrGeneratorOptions options_;
  torch::nn::Conv2d head_{nullptr}, trunk_{nullptr}, tail_{nullptr};
  torch::nn::PReLU head_act_{nullptr};
  torch::nn::BatchNorm2d trunk_bn_{nullptr};
  std::vector<torch::nn::Conv2d> convs_, up_convs_;  // two per residual block; one per x2 stage
  std::vector<torch::nn::BatchNorm2d> bns_;
  std::vector<torch::nn::PReLU> acts_, up_acts_;
};
TORCH_MODULE(SrGenerator);

// Bicubic upsampling of [N, C, h, w] by `scale`, clamped to [0,1]: SR's baseline.
torch::Tensor bicubic_upsample(const torch::Tensor& lr, int64_t scale);
// Area downsampling by `scale` (the LR images SR learns to invert).
torch::Tensor area_downsample(const torch::Tensor& hr, int64_t scale);
// Peak signal-to-noise ratio per image [N] in dB, images in [0,1] (MSE 0 gives +inf).
torch::Tensor psnr(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace mirage
