// lib/metrics.h — metrics shared by every report: confusion, Wilson intervals, ROC AUC,
// average precision, expected calibration error. Plain data in, plain data out.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace mirage {

// 95% (z = 1.96) Wilson score interval for `successes` out of `n`; n = 0 gives {0, 1}.
std::pair<double, double> wilson_interval(int64_t successes, int64_t n, double z = 1.959963984540054);

// confusion[true][pred] counts; labels outside [0, k) are ignored.
std::vector<std::vector<int64_t>> confusion_matrix(const std::vector<int64_t>& labels,
                                                   const std::vector<int64_t>& predictions,
                                                   int64_t num_classes);

// Area under the ROC curve of `scores` for positives (label 1) over negatives (label 0), ties
// counted as one half (the Mann-Whitney statistic). Throws InputError without both classes.
double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels);

// Average precision as scikit-learn defines it: sum over thresholds of (R_k - R_{k-1}) P_k.
double average_precision(const std::vector<double>& scores, const std::vector<int>& labels);

// Expected calibration error of probabilities for the positive class, `bins` equal-width bins.
double expected_calibration_error(const std::vector<double>& probs, const std::vector<int>& labels,
                                  int bins = 15);

}  // namespace mirage
