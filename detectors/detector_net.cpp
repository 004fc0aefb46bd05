#include "detectors/detector_net.h"

#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "lib/error.h"

namespace mirage {
namespace {

bool cnn_kind(const std::string& kind) { return kind == "cnn" || kind == "adversarial"; }

bool wants(const std::string& features, const std::string& part) {
  return features == part || features == "radial+dct";
}

int64_t radial_bins(int64_t size) { return static_cast<int64_t>(std::floor(size / std::sqrt(2.0))) + 1; }

// C[k, n] = cos(2 pi k n / S), S[k, n] = sin(2 pi k n / S): the DFT is C g C^T - S g S^T
// - i (C g S^T + S g C^T).
std::pair<torch::Tensor, torch::Tensor> dft_matrices(int64_t size) {
  const auto k = torch::arange(size, torch::kFloat64);
  const auto angle = torch::outer(k, k) * (2 * M_PI / static_cast<double>(size));
  return {torch::cos(angle).to(torch::kFloat32), torch::sin(angle).to(torch::kFloat32)};
}

// [S*S, bins]: column r averages the power of the frequencies at rounded radius r, frequencies
// signed (index k > S/2 is k - S) so that rings are centred on the zero frequency.
torch::Tensor radial_matrix(int64_t size) {
  const int64_t bins = radial_bins(size);
  auto m = torch::zeros({size * size, bins}, torch::kFloat64);
  std::vector<double> count(static_cast<size_t>(bins), 0.0);
  auto a = m.accessor<double, 2>();
  for (int64_t y = 0; y < size; ++y) {
    for (int64_t x = 0; x < size; ++x) {
      const double fy = y <= size / 2 ? y : y - size, fx = x <= size / 2 ? x : x - size;
      const int64_t r = std::min<int64_t>(bins - 1, std::llround(std::sqrt(fy * fy + fx * fx)));
      a[y * size + x][r] = 1.0;
      count[static_cast<size_t>(r)] += 1;
    }
  }
  for (int64_t r = 0; r < bins; ++r) {
    if (count[static_cast<size_t>(r)] > 0) m.select(1, r).div_(count[static_cast<size_t>(r)]);
  }
  return m.to(torch::kFloat32);
}

// Orthonormal DCT-II: D[k, n] = sqrt(2 / S) cos(pi (n + 1/2) k / S), row 0 scaled by 1/sqrt(2).
torch::Tensor dct_matrix(int64_t size) {
  const auto k = torch::arange(size, torch::kFloat64).unsqueeze(1);
  const auto n = torch::arange(size, torch::kFloat64).unsqueeze(0);
  auto d = torch::cos(M_PI * (n + 0.5) * k / static_cast<double>(size)) * std::sqrt(2.0 / size);
  d[0].div_(std::sqrt(2.0));
  return d.to(torch::kFloat32);
}

void check_images(const torch::Tensor& x, int64_t channels, int64_t size) {
  if (x.dim() != 4 || x.size(1) != channels || x.size(2) != size || x.size(3) != size) {
    throw UsageError("detector expects images [N, " + std::to_string(channels) + ", " + std::to_string(size) + ", " +
                     std::to_string(size) + "], got " + c10::str(x.sizes()));
  }
}

// The same operations as the TorchScript source below, so the export matches to rounding.
torch::Tensor radial_with(const torch::Tensor& g, const torch::Tensor& c, const torch::Tensor& s,
                          const torch::Tensor& radial) {
  const auto re = torch::matmul(torch::matmul(c, g), c.t()) - torch::matmul(torch::matmul(s, g), s.t());
  const auto im = torch::matmul(torch::matmul(c, g), s.t()) + torch::matmul(torch::matmul(s, g), c.t());
  const double pixels = static_cast<double>(g.size(1) * g.size(2));
  const auto power = torch::reshape(re * re + im * im, {g.size(0), -1}) / pixels;
  return torch::log(torch::mm(power, radial) + 1e-10);
}

torch::Tensor dct_with(const torch::Tensor& g, const torch::Tensor& d) {
  const auto coeff = torch::matmul(torch::matmul(d, g), d.t());
  return torch::reshape(torch::log(torch::abs(coeff) + 1e-4), {g.size(0), -1});
}

torch::Tensor gray(const torch::Tensor& x) {
  if (x.dim() != 4) throw UsageError("spectral features expect images [N, C, H, W], got " + c10::str(x.sizes()));
  if (x.size(2) != x.size(3)) throw UsageError("spectral features expect square images, got " + c10::str(x.sizes()));
  return torch::mean(x, 1);
}

}  // namespace

torch::Tensor radial_log_spectrum(const torch::Tensor& x) {
  const auto g = gray(x);
  const auto [c, s] = dft_matrices(g.size(1));
  return radial_with(g, c.to(x.device()), s.to(x.device()), radial_matrix(g.size(1)).to(x.device()));
}

torch::Tensor log_dct(const torch::Tensor& x) {
  const auto g = gray(x);
  return dct_with(g, dct_matrix(g.size(1)).to(x.device()));
}

int64_t spectral_feature_count(const std::string& features, int64_t size) {
  if (features != "radial" && features != "dct" && features != "radial+dct") {
    throw UsageError("spectral features must be radial, dct or radial+dct, got '" + features + "'");
  }
  return (wants(features, "radial") ? radial_bins(size) : 0) + (wants(features, "dct") ? size * size : 0);
}

DetectorNetImpl::DetectorNetImpl(DetectorNetOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  if (o.channels != 1 && o.channels != 3) throw UsageError("detector channels must be 1 or 3");
  if (cnn_kind(o.kind)) {
    DcganDiscriminatorOptions d;
    d.channels = o.channels;
    d.size = o.size;
    d.width = o.width;
    d.norm = "batch";
    body = register_module("body", DcganDiscriminator(d));
  } else if (o.kind == "spectral") {
    build_spectral();
  } else if (o.kind == "discriminator") {
    throw UsageError("a discriminator detector is built from a trained GAN's discriminator");
  } else {
    throw UsageError("detector kind must be cnn, adversarial, spectral or discriminator, got '" + o.kind + "'");
  }
  calib_ = register_buffer("calib", torch::tensor({1.0f, 0.0f}));
}

DetectorNetImpl::DetectorNetImpl(DetectorNetOptions options, const DcganDiscriminator& d)
    : options_(std::move(options)) {
  options_.kind = "discriminator";
  options_.channels = d->options().channels;
  options_.size = d->options().size;
  options_.width = d->options().width;
  body = register_module("body", DcganDiscriminator(d->options()));
  copy_weights(*body, *d);
  calib_ = register_buffer("calib", torch::tensor({1.0f, 0.0f}));
}

void DetectorNetImpl::build_spectral() {
  const auto& o = options_;
  if (o.size < 8) throw UsageError("spectral detector size must be >= 8");
  const int64_t f = spectral_feature_count(o.features, o.size);
  auto [c, s] = dft_matrices(o.size);
  dft_cos_ = register_buffer("dft_cos", c);
  dft_sin_ = register_buffer("dft_sin", s);
  radial_ = register_buffer("radial", radial_matrix(o.size));
  dct_ = register_buffer("dct", dct_matrix(o.size));
  feat_mean_ = register_buffer("feat_mean", torch::zeros({f}));
  feat_std_ = register_buffer("feat_std", torch::ones({f}));
  head = torch::nn::Sequential();
  if (o.hidden > 0) {
    head->push_back(torch::nn::Linear(f, o.hidden));
    head->push_back(torch::nn::ReLU());
    head->push_back(torch::nn::Linear(o.hidden, 1));
  } else {
    head->push_back(torch::nn::Linear(f, 1));
  }
  register_module("head", head);
}

torch::Tensor DetectorNetImpl::spectral_features(const torch::Tensor& x) const {
  if (options_.kind != "spectral") throw UsageError("spectral_features: not a spectral detector");
  check_images(x, options_.channels, options_.size);
  const auto g = torch::mean(x, 1);
  std::vector<torch::Tensor> parts;
  if (wants(options_.features, "radial")) parts.push_back(radial_with(g, dft_cos_, dft_sin_, radial_));
  if (wants(options_.features, "dct")) parts.push_back(dct_with(g, dct_));
  return torch::cat(parts, 1);
}

void DetectorNetImpl::set_standardization(const torch::Tensor& features) {
  torch::NoGradGuard no_grad;
  if (features.dim() != 2 || features.size(1) != feat_mean_.size(0) || features.size(0) < 2) {
    throw UsageError("set_standardization: expected [N >= 2, " + std::to_string(feat_mean_.size(0)) + "] features");
  }
  feat_mean_.copy_(features.mean(0));
  // A feature constant over the training set (e.g. a DCT coefficient of an always-black border)
  // keeps scale 1 instead of dividing by zero.
  feat_std_.copy_(torch::clamp_min(features.std(0), 1e-6));
}

torch::Tensor DetectorNetImpl::raw(const torch::Tensor& x) {
  check_images(x, options_.channels, options_.size);
  if (options_.kind == "spectral") {
    const auto f = (spectral_features(x) - feat_mean_) / feat_std_;
    return head->forward(f).select(1, 0);
  }
  const auto scores = body->class_scores(x);
  // D scores "real" high; with classes, the class most favourable to "real" speaks for the image.
  if (options_.kind == "discriminator") return -std::get<0>(torch::max(scores, 1));
  return scores.select(1, 0);
}

torch::Tensor DetectorNetImpl::forward(const torch::Tensor& x) { return raw(x) * calib_[0] + calib_[1]; }

void DetectorNetImpl::set_calibration(double a, double b) {
  torch::NoGradGuard no_grad;
  calib_[0].fill_(a);
  calib_[1].fill_(b);
}

double DetectorNetImpl::calibration_a() const { return calib_[0].item<double>(); }
double DetectorNetImpl::calibration_b() const { return calib_[1].item<double>(); }

std::string DetectorNetImpl::torchscript_source() const {
  const auto& o = options_;
  std::ostringstream s;
  if (o.kind == "spectral") {
    s << "def raw(self, x):\n"
         "    g = torch.mean(x, 1)\n"
         "    n = g.size(0)\n"
         "    parts: List[Tensor] = []\n";
    if (wants(o.features, "radial")) {
      s << "    re = torch.matmul(torch.matmul(self.dft_cos, g), self.dft_cos.t()) - "
           "torch.matmul(torch.matmul(self.dft_sin, g), self.dft_sin.t())\n"
           "    im = torch.matmul(torch.matmul(self.dft_cos, g), self.dft_sin.t()) + "
           "torch.matmul(torch.matmul(self.dft_sin, g), self.dft_cos.t())\n"
           "    power = torch.reshape(re * re + im * im, [n, -1]) / "
        << static_cast<double>(o.size * o.size) << "\n"
        << "    parts.append(torch.log(torch.mm(power, self.radial) + 1e-10))\n";
    }
    if (wants(o.features, "dct")) {
      s << "    coeff = torch.matmul(torch.matmul(self.dct, g), self.dct.t())\n"
           "    parts.append(torch.reshape(torch.log(torch.abs(coeff) + 1e-4), [n, -1]))\n";
    }
    s << "    h = (torch.cat(parts, 1) - self.feat_mean) / self.feat_std\n";
    if (o.hidden > 0) {
      s << "    h = torch.relu(torch.linear(h, self.head_0_weight, self.head_0_bias))\n"
           "    h = torch.linear(h, self.head_2_weight, self.head_2_bias)\n";
    } else {
      s << "    h = torch.linear(h, self.head_0_weight, self.head_0_bias)\n";
    }
    s << "    return h[:, 0]\n";
  } else {
    s << body->torchscript_source("body_");
    s << "def raw(self, x):\n"
         "    s = self.body_scores(x)\n";
    s << (o.kind == "discriminator" ? "    return -torch.amax(s, 1)\n" : "    return s[:, 0]\n");
  }
  s << "def logit(self, x):\n"
       "    return self.raw(x) * self.calib[0] + self.calib[1]\n"
       "def p_fake(self, x):\n"
       "    return torch.sigmoid(self.logit(x))\n"
       "def forward(self, x):\n"
       "    z = self.logit(x)\n"
       "    return torch.stack([z * -0.5, z * 0.5], 1)\n";
  return s.str();
}

}  // namespace mirage
