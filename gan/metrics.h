// gan/metrics.h — sample-quality measures of a generator on features of a domain classifier
// (no Inception weights can be had here: each figure is named for its feature extractor, e.g.
// fd_fmnist, never "FID"), class coverage of fakes, and the 2-D mode-collapse benchmark.
// Features are [N, D] float tensors (CPU or not; results are plain numbers).
#pragma once
#include <ATen/core/Tensor.h>
#include <ATen/core/Generator.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "gan/sampling.h"
#include "lib/dataset.h"
#include "lib/model.h"

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
// {"mixture", "samples", "modes", "modes_covered", "high_quality_fraction", "per_mode"}.
nlohmann::json mode_coverage_json(const ModeCoverage& coverage, const std::string& mixture, int64_t samples);

// Features of images under a domain classifier, with its predicted classes.
struct FeatureSet {
  at::Tensor features;              // [N, D] float64, CPU
  at::Tensor predictions;           // [N] int64, CPU
  std::string name;                 // the images: a data set's name, a generator's path
  std::vector<int64_t> requested;   // fakes of a conditional generator: the class each was drawn for
};

// A domain classifier as the feature space: its features() method when it has one (mirage's own
// classifiers do), else its logits. Images are fitted to its input first (fit_batch). No gradients.
class ClassifierFeatures {
 public:
  explicit ClassifierFeatures(TorchScriptModel& model);
  // "features" or "logits": the layer the features come from.
  std::string layer() const { return has_features_ ? "features" : "logits"; }
  FeatureSet run(const at::Tensor& images);
  // The first min(n, data.size()) images of `data`, `batch_size` at a time; `what` labels the progress.
  FeatureSet of_data(Dataset& data, int64_t n, int64_t batch_size, const std::string& what);
  // n fakes of a noise generator, fake i from fake_seed(seed, i) with class fake_classes(K, n, 0, klass).
  FeatureSet of_fakes(GeneratorModel& g, uint64_t seed, int64_t n, int64_t batch_size, double truncation = 0,
                      int64_t klass = -1);

 private:
  TorchScriptModel& model_;
  bool has_features_ = false;
};

// The share of fakes the classifier puts in the class they were drawn for (0 when none were).
double class_agreement(const FeatureSet& fakes);

// Every sample-quality figure of fakes against reals on one feature space.
struct SampleQualityOptions {
  int64_t k_pr = 3;               // k of precision/recall (Kynkaanniemi et al.)
  int64_t k_dc = 5;               // k of density/coverage (Naeem et al.)
  int64_t kid_subsets = 100;
  int64_t kid_subset_size = 1000;
  uint64_t kid_seed = 0;
};
struct SampleQuality {
  double frechet = 0;
  KidResult kid;
  PrecisionRecall precision_recall;
  DensityCoverage density_coverage;
};
SampleQuality sample_quality(const at::Tensor& real, const at::Tensor& fake, const SampleQualityOptions& options = {});
// {"fd_<tag>", "kid_<tag>": {mean, std}, "precision_<tag>", "recall_<tag>", "density_<tag>", "coverage_<tag>"}:
// each figure named for its feature space.
nlohmann::json sample_quality_json(const SampleQuality& quality, const std::string& tag);
// {"histogram", "entropy", "normalized_entropy", "classes_covered", "num_classes", "min_share"}
// (+ "class_names" when given).
nlohmann::json class_coverage_json(const ClassCoverage& coverage, int64_t num_classes, double min_share,
                                   const std::vector<std::string>& class_names = {});

}  // namespace mirage
