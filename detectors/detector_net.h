// detectors/detector_net.h — the networks behind every trainable detector. Each maps images
// [N, C, S, S] in [0,1] to one logit per image, higher = more likely fake (or adversarial);
// the calibration a * logit + b (Platt scaling, fitted on validation data) is part of the net,
// so p_fake = sigmoid(a * raw + b) wherever the net goes, TorchScript export included.
//
//   cnn, adversarial  a DCGAN-discriminator-family CNN (Radford et al. 2016) trained as a
//                     real-vs-fake classifier (Wang et al., CVPR 2020's recipe; Metzen et al.,
//                     ICLR 2017 for adversarial inputs)
//   spectral          fixed spectral features, standardised, then logistic regression (or a
//                     small MLP): the azimuthally averaged log power spectrum (Durall et al.,
//                     CVPR 2020) and the log-magnitude 2-D DCT (Frank et al., ICML 2020)
//   discriminator     a trained GAN's own discriminator, its "real" score negated
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <string>

#include "gan/networks.h"

namespace mirage {

struct DetectorNetOptions {
  std::string kind = "cnn";  // cnn | adversarial | spectral | discriminator
  int64_t channels = 1;
  int64_t size = 28;  // 28, 32 or 64 for the CNN kinds; any size >= 8 for spectral
  int64_t width = 32;  // cnn: feature maps of the first block (each later block doubles)
  std::string features = "radial+dct";  // spectral: radial | dct | radial+dct
  int64_t hidden = 0;  // spectral head: 0 = logistic regression, > 0 = one hidden layer
};

// Spectral features of [N, C, S, S] in [0,1], computed on the channel mean (luma-like gray):
//  radial  log of the mean power |DFT|^2 in rings of integer radius 0 .. floor(S/sqrt(2)) around
//          the zero frequency ([N, floor(S/sqrt 2) + 1]); up-sampling leaves peaks at high radii
//  dct     log(|DCT-II coefficient| + 1e-4), orthonormal 2-D DCT, [N, S*S]
// Real arithmetic only (DFT as cos/sin matrix products), so gradients flow and the TorchScript
// export needs no complex support.
torch::Tensor radial_log_spectrum(const torch::Tensor& x);
torch::Tensor log_dct(const torch::Tensor& x);
int64_t spectral_feature_count(const std::string& features, int64_t size);

class DetectorNetImpl : public torch::nn::Module {
 public:
  explicit DetectorNetImpl(DetectorNetOptions options);
  // A trained GAN's discriminator as the body (kind "discriminator"); `d` is copied.
  DetectorNetImpl(DetectorNetOptions options, const DcganDiscriminator& d);

  // Uncalibrated logit [N]; differentiable with respect to x.
  torch::Tensor raw(const torch::Tensor& x);
  // a * raw + b: the calibrated logit; p_fake = sigmoid of it.
  torch::Tensor forward(const torch::Tensor& x);
  // The unstandardised spectral features (spectral kind only).
  torch::Tensor spectral_features(const torch::Tensor& x) const;
  // Spectral: sets the standardisation from features of training images [N, F].
  void set_standardization(const torch::Tensor& features);
  void set_calibration(double a, double b);
  double calibration_a() const;
  double calibration_b() const;
  const DetectorNetOptions& options() const { return options_; }
  // TorchScript source of the calibrated computation in eval mode: `forward(x)` -> logits
  // [N, 2] (real, fake) whose softmax is (1 - p_fake, p_fake), `p_fake(x)` -> [N] and
  // `logit(x)` -> [N], over export_name()'d parameters.
  std::string torchscript_source() const;

 private:
  void build_spectral();
  DetectorNetOptions options_;
  DcganDiscriminator body{nullptr};
  torch::nn::Sequential head{nullptr};
  torch::Tensor calib_, feat_mean_, feat_std_;
  torch::Tensor dft_cos_, dft_sin_, radial_, dct_;
};
TORCH_MODULE(DetectorNet);

}  // namespace mirage
