// detectors/evaluate.h — how good a detector is: ROC AUC, average precision, accuracy and
// TPR/FPR at its threshold, TPR at 1% FPR, equal error rate and calibration error, overall and
// broken down by fake source and by class.
#pragma once
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

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

}  // namespace mirage
