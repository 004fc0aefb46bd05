// gan/networks.h — the image GANs' networks: DCGAN generator and discriminator (Radford et al.,
// ICLR 2016) for 28, 32 or 64 px, gray or RGB; class conditioning (generator: a learned class
// embedding concatenated to z; discriminator: the projection of Miyato & Koyama, ICLR 2018);
// spectral normalisation of D's weights (Miyato et al., ICLR 2018); and the small MLP GAN of the
// 2-D mode-collapse benchmark. Images are NCHW in [0,1] on both sides: G ends in (tanh + 1) / 2
// and D maps its input to [-1, 1] itself.
#pragma once
#include <ATen/core/Generator.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace mirage {

// One power iteration per training forward of W / sigma(W), sigma the largest singular value of
// W viewed as [out, -1] (Miyato et al. 2018, Algorithm 1); u is a persistent buffer so that a
// resumed run continues the same iteration. In eval mode u is not updated.
class SpectralNormImpl : public torch::nn::Module {
 public:
  explicit SpectralNormImpl(int64_t out_features, double eps = 1e-12);
  torch::Tensor normalize(const torch::Tensor& weight);
 private:
  torch::Tensor u_;
  double eps_;
};
TORCH_MODULE(SpectralNorm);

struct DcganGeneratorOptions {
  int64_t z_dim = 100;
  int64_t channels = 1;
  int64_t size = 28;         // 28, 32 or 64
  int64_t width = 64;        // feature maps of the last block (ngf); each earlier block doubles
  int64_t num_classes = 0;   // > 0: conditional on y
  int64_t embed_dim = 50;    // class embedding size, concatenated to z (conditional only)
  std::optional<uint64_t> init_seed;  // seeds normal_init; unset: LibTorch's global generator
};

// z [N, z_dim] (and y [N] int64 when conditional) -> [N, channels, size, size] in [0,1].
// Linear projection to the base grid (7x7 for 28 px, 4x4 otherwise), then stride-2
// transposed-conv blocks with BN and ReLU, a last 3x3 conv and tanh.
class DcganGeneratorImpl : public torch::nn::Module {
 public:
  explicit DcganGeneratorImpl(DcganGeneratorOptions options);
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& y = {});
  const DcganGeneratorOptions& options() const { return options_; }
  // TorchScript source of the same computation in eval mode (BN running statistics) over
  // export_name()'d parameters: `def forward(self, z)` or `def forward(self, z, y)`.
  std::string torchscript_source() const;
 private:
  DcganGeneratorOptions options_;
  // members are the helper's choice
  torch::nn::Linear project{nullptr};
  torch::nn::BatchNorm2d project_bn{nullptr};  // over the reshaped base grid, per channel
  torch::nn::Embedding embed{nullptr};
  std::vector<torch::nn::ConvTranspose2d> ups;
  std::vector<torch::nn::BatchNorm2d> up_bns;
  torch::nn::Conv2d out{nullptr};
};
TORCH_MODULE(DcganGenerator);

struct DcganDiscriminatorOptions {
  int64_t channels = 1;
  int64_t size = 28;         // 28, 32 or 64
  int64_t width = 64;        // feature maps of the first block (ndf); each later block doubles
  int64_t num_classes = 0;   // > 0: projection discriminator on y
  std::string norm = "batch";  // batch | layer | none. WGAN-GP needs layer or none (its penalty is per sample)
  bool spectral_norm = false;
  std::optional<uint64_t> init_seed;  // seeds normal_init and the projection embedding; unset: global
};

// x [N, C, size, size] in [0,1] (and y [N] when conditional) -> scores [N] (logits; unbounded).
// Stride-2 4x4 conv blocks with LeakyReLU(0.2) down to the base grid, then a linear output;
// with classes, score += <embed(y), features> (projection).
class DcganDiscriminatorImpl : public torch::nn::Module {
 public:
  explicit DcganDiscriminatorImpl(DcganDiscriminatorOptions options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& y = {});
  // The features before the output layer [N, F] (detectors reuse them).
  torch::Tensor features(const torch::Tensor& x);
  // The score for every class [N, num_classes] (projection D), or [N, 1] unconditional: what a
  // detector needs when the class of an image is not known.
  torch::Tensor class_scores(const torch::Tensor& x);
  // TorchScript source, eval mode, of `def <prefix>scores(self, x)` -> class_scores(x), over the
  // parameters registered as export_name(<prefix> + name) (the D as a submodule of a bigger
  // export: prefix "body_"). Spectral norm is evaluated as in eval mode (stored u, one v).
  std::string torchscript_source(const std::string& prefix) const;
  const DcganDiscriminatorOptions& options() const { return options_; }
 private:
  DcganDiscriminatorOptions options_;
  std::vector<torch::nn::Conv2d> convs;
  std::vector<torch::nn::AnyModule> norms;  // the helper's choice
  std::vector<SpectralNorm> conv_sn;
  torch::nn::Linear out{nullptr};
  SpectralNorm out_sn{nullptr};
  torch::nn::Embedding embed{nullptr};
  SpectralNorm embed_sn{nullptr};
};
TORCH_MODULE(DcganDiscriminator);

struct MlpGanOptions {
  int64_t z_dim = 2;
  int64_t data_dim = 2;
  int64_t hidden = 128;
  int64_t layers = 3;  // hidden layers
  int64_t pack = 1;    // PacGAN (Lin et al. 2018): D sees `pack` samples concatenated
};

// z [N, z_dim] -> x [N, data_dim]; ReLU hidden layers, linear output.
class MlpGeneratorImpl : public torch::nn::Module {
 public:
  explicit MlpGeneratorImpl(MlpGanOptions options);
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& y = {});
  const MlpGanOptions& options() const { return options_; }
  std::string torchscript_source() const;  // `def forward(self, z)`
 private:
  MlpGanOptions options_;
  torch::nn::Sequential net{nullptr};
};
TORCH_MODULE(MlpGenerator);

// x [N, data_dim] -> scores [N / pack]; N must be a multiple of pack (PacGAN packing of
// consecutive samples). LeakyReLU(0.2) hidden layers.
class MlpDiscriminatorImpl : public torch::nn::Module {
 public:
  explicit MlpDiscriminatorImpl(MlpGanOptions options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& y = {});
  const MlpGanOptions& options() const { return options_; }
 private:
  MlpGanOptions options_;
  torch::nn::Sequential net{nullptr};
};
TORCH_MODULE(MlpDiscriminator);

// The N(0, 0.02) initialisation of DCGAN (Radford et al. 2016, Sec. 4) and pix2pix
// (init_weights 'normal', gain 0.02): Conv2d, ConvTranspose2d and Linear weights ~ N(0, 0.02),
// BatchNorm scales ~ N(1, 0.02), their biases 0; other parameters (embeddings, PReLU slopes) keep
// theirs. Drawn on the CPU from `gen`, never from LibTorch's global generator, so the seed alone
// fixes the weights on any device.
void normal_init(torch::nn::Module& net, at::Generator& gen);
// The generator a network's init_seed names: seeded when set (every GanModel sets it, so a run's
// seed alone fixes its weights), else LibTorch's global one (a net built on its own, as torch.nn).
at::Generator init_generator(const std::optional<uint64_t>& seed);

// Generator EMA: ema = decay * ema + (1 - decay) * net for every parameter; buffers (BN
// statistics) are copied. Both nets must have the same structure.
void ema_update(torch::nn::Module& ema, const torch::nn::Module& net, double decay);
// Copies every parameter and buffer of `from` into `to` (same structure).
void copy_weights(torch::nn::Module& to, const torch::nn::Module& from);
// BigGAN's "standing statistics" (Brock et al. 2019): resets the running mean and variance of
// every BatchNorm in `net` and re-estimates them as a plain average over `batches` calls of
// `forward` in training mode without gradients, so that eval mode normalises with the population
// statistics of the current weights instead of a lagging moving average. Leaves `net` in eval
// mode; momentum settings are restored.
void standing_statistics(torch::nn::Module& net, int64_t batches, const std::function<void()>& forward);

}  // namespace mirage
