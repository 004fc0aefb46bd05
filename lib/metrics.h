// lib/metrics.h — metrics shared by every report: confusion, Wilson intervals, ROC AUC,
// average precision, expected calibration error. Plain data in, plain data out.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mirage {

// 95% (z = 1.96) Wilson score interval for `successes` out of `n`; n = 0 gives {0, 1}.
std::pair<double, double> wilson_interval(int64_t successes, int64_t n, double z = 1.959963984540054);

// `count` of `of`, its ratio and 95% Wilson interval (0 of 0 is value 0, interval [0, 1]).
struct Rate {
  int64_t count = 0, of = 0;
  double value = 0, lo = 0, hi = 1;
};
Rate make_rate(int64_t count, int64_t of);

// Summary of a sample of values (empty: n = 0 and the rest 0); p95 is the nearest-rank percentile.
struct ValueStats {
  int64_t n = 0;
  double mean = 0, median = 0, p95 = 0, max = 0;
};
ValueStats value_stats(std::vector<double> values);

// confusion[true][pred] counts; labels outside [0, k) are ignored.
std::vector<std::vector<int64_t>> confusion_matrix(const std::vector<int64_t>& labels,
                                                   const std::vector<int64_t>& predictions,
                                                   int64_t num_classes);

// Area under the ROC curve of `scores` for positives (label 1) over negatives (label 0), ties
// counted as one half (the Mann-Whitney statistic). Throws InputError without both classes.
double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels);

// Average precision as scikit-learn defines it: sum over thresholds of (R_k - R_{k-1}) P_k.
double average_precision(const std::vector<double>& scores, const std::vector<int>& labels);

// Rates of the rule "positive iff score >= threshold": fpr over negatives, tpr over positives
// (0 for a class that is absent).
struct ErrorRates {
  double fpr = 0, tpr = 0;
};
ErrorRates rates_at_threshold(const std::vector<double>& scores, const std::vector<int>& labels, double threshold);

// The lowest threshold at which at most `fpr` of the negatives score >= it: midway between the
// k-th and (k+1)-th highest negative scores, k = floor(fpr * negatives) (just above the highest
// negative when k = 0). Ties among negatives can make the realised FPR lower, never higher.
// Needs negatives; fpr in (0, 1).
double threshold_for_fpr(const std::vector<double>& scores, const std::vector<int>& labels, double fpr);

// TPR at the threshold_for_fpr threshold (the ROC curve read at `fpr`).
double tpr_at_fpr(const std::vector<double>& scores, const std::vector<int>& labels, double fpr);

// Equal error rate: the threshold among the scores where |FPR - FNR| is smallest, and the rate
// there ((FPR + FNR) / 2). Needs both classes.
struct EqualErrorRate {
  double eer = 0, threshold = 0;
};
EqualErrorRate equal_error_rate(const std::vector<double>& scores, const std::vector<int>& labels);

// Expected calibration error of probabilities for the positive class, `bins` equal-width bins.
double expected_calibration_error(const std::vector<double>& probs, const std::vector<int>& labels,
                                  int bins = 15);

}  // namespace mirage
