// gan/metrics.h — sample-quality measures of a generator on features of a domain classifier
// (no Inception weights can be had here: each figure is named for its feature extractor, e.g.
// fd_fmnist, never "FID"), class coverage of fakes, and the 2-D mode-collapse benchmark.
// Features are [N, D] float tensors (CPU or not; results are plain numbers).
#pragma once
#include <ATen/core/Tensor.h>
#include <ATen/core/Generator.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mirage {

// Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017):
// |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}), computed in float64; the trace of the
// square root through the eigenvalues of S_a^{1/2} S_b S_a^{1/2} (symmetric PSD, so stable).
double frechet_distance(const at::Tensor& a, const at::Tensor& b);

// Kernel Inception Distance estimator (Binkowski et al. 2018): unbiased MMD^2 with the cubic
// polynomial kernel k(x, y) = (x.y / D + 1)^3, averaged over `subsets` random subsets of
// `subset_size` (capped at the smaller set) drawn from `seed`.
struct KidResult {
  double mean = 0;
  double std = 0;
};
KidResult kernel_distance(const at::Tensor& a, const at::Tensor& b, int64_t subsets = 100,
                          int64_t subset_size = 1000, uint64_t seed = 0);

// Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019): k-NN balls (k-th nearest
// neighbour radius, self excluded) around each real / fake feature vector; precision = share of
// fakes inside some real ball, recall = share of reals inside some fake ball.
struct PrecisionRecall {
  double precision = 0;
  double recall = 0;
};
PrecisionRecall precision_recall(const at::Tensor& real, const at::Tensor& fake, int64_t k = 3);

// Density and coverage (Naeem et al., ICML 2020) with k-NN balls around the real samples only.
struct DensityCoverage {
  double density = 0;
  double coverage = 0;
};
DensityCoverage density_coverage(const at::Tensor& real, const at::Tensor& fake, int64_t k = 5);

// Class coverage of fakes from a classifier's predicted classes: histogram, entropy (nats) and
// its ratio to log(K), and the classes holding at least `min_share` of the uniform share N/K.
struct ClassCoverage {
  std::vector<int64_t> histogram;
  double entropy = 0;
  double normalized_entropy = 0;
  int64_t classes_covered = 0;
};
ClassCoverage class_coverage(const at::Tensor& predictions, int64_t num_classes, double min_share = 0.1);

// The 2-D benchmark mixtures of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018):
// "ring8": 8 Gaussians evenly on a circle of radius 2, sigma 0.02; "grid25": 25 Gaussians on the
// grid {-4,-2,0,2,4}^2, sigma 0.05. Anything else is a UsageError.
struct ToyMixture {
  std::string name;
  at::Tensor centers;  // [K, 2] float
  double sigma = 0;
};
ToyMixture toy_mixture(const std::string& name);
// n samples [n, 2]: a uniformly chosen mode plus N(0, sigma^2 I), drawn from `gen`.
at::Tensor sample_mixture(const ToyMixture& mixture, int64_t n, at::Generator& gen);

// A sample is high quality when within `sigmas` standard deviations of its nearest mode; a mode
// is covered when at least `min_count` high-quality samples are nearest to it (PacGAN's measure).
struct ModeCoverage {
  int64_t modes = 0;
  int64_t modes_covered = 0;
  double high_quality_fraction = 0;
  std::vector<int64_t> per_mode;  // high-quality samples per mode
};
ModeCoverage mode_coverage(const ToyMixture& mixture, const at::Tensor& samples, double sigmas = 3.0,
                           int64_t min_count = 1);

}  // namespace mirage
