// detectors/evaluate.h — how good a detector is: ROC AUC, average precision, accuracy and
// TPR/FPR at its threshold, TPR at 1% FPR, equal error rate and calibration error, overall and
// broken down by fake source and by class.
#pragma once
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lib/transforms.h"

namespace mirage {

class Detector;

// Scores of labelled images: label 1 = fake; source names where each came from ("real" for
// reals), cls its class (-1 unknown).
struct DetectorScores {
  std::vector<double> p_fake;
  std::vector<int> label;
  std::vector<std::string> source;
  std::vector<int64_t> cls;
  void append(const DetectorScores& other);
  size_t size() const { return p_fake.size(); }
};

struct DetectionMetrics {
  int64_t n_real = 0, n_fake = 0;
  double auc = 0, average_precision = 0;
  double accuracy = 0;            // at the threshold
  double tpr = 0, fpr = 0;        // at the threshold
  double tpr_at_1pct_fpr = 0;
  double eer = 0;
  double ece = 0;                 // expected calibration error of p_fake (15 bins)
  nlohmann::json to_json() const;
};

// Metrics of `scores` at `threshold`. Needs both reals and fakes (UsageError otherwise).
DetectionMetrics detection_metrics(const DetectorScores& scores, double threshold);

// {"overall": ..., "per_source": {name: metrics of reals vs that source's fakes}, "per_class":
// {class: reals of that class vs the fakes of that class when any fake has a class (a
// conditional GAN), else vs every fake}, "per_class_fakes": "same class" | "all fakes"};
// `class_names` name the classes.
nlohmann::json detection_report(const DetectorScores& scores, double threshold,
                                const std::vector<std::string>& class_names = {});

// p_fake of `images` [N, C, S, S] (CPU, fitted) through `detector`, `batch_size` at a time.
std::vector<double> score_images(Detector& detector, const at::Tensor& images, int64_t batch_size = 256);

// Image sets with one label each (0 real, 1 fake), a source name and per-image classes (-1
// unknown): what eval-detector scores.
struct LabelledSets {
  std::vector<at::Tensor> images;   // [N_k, C, S, S] CPU, fitted
  std::vector<at::Tensor> classes;  // [N_k] int64
  std::vector<int> labels;
  std::vector<std::string> names;
  void add(const at::Tensor& set, const at::Tensor& set_classes, int label, const std::string& name);
};

// Scores of every image, each batch first passed through `transform(batch, label)` when given.
DetectorScores score_sets(Detector& detector, const LabelledSets& sets, int64_t batch_size,
                          const std::function<at::Tensor(const at::Tensor&, int label)>& transform = {});

// Re-measurements under post-processing and attack: JPEG re-compression at each quality (needs
// codec.jpeg), Gaussian blur at each sigma, and white-box PGD-Linf on the detector at each eps
// (pgd_steps steps of 2.5 eps / steps, seeded derive_seed(seed, "pgd"); every image pushed
// toward the other class: fakes toward "real").
struct RobustnessSweeps {
  std::vector<int> jpeg_qualities;
  std::vector<double> blur_sigmas;
  std::vector<double> pgd_eps;
  int64_t pgd_steps = 10;
  bool empty() const { return jpeg_qualities.empty() && blur_sigmas.empty() && pgd_eps.empty(); }
};

// {"jpeg": [{"quality", "auc", "tpr", "fpr", "accuracy"}...], "blur": [{"sigma", ...}],
// "pgd": [{"eps", "steps", ...}]}, only the sweeps asked for; metrics at the detector's threshold.
nlohmann::json robustness_sweeps(Detector& detector, const LabelledSets& sets, const RobustnessSweeps& sweeps,
                                 const ImageCodec& codec, uint64_t seed, int64_t batch_size);

}  // namespace mirage
