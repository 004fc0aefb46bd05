#include "lib/metrics.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <string>
#include <tuple>

#include "lib/error.h"

namespace mirage {
namespace {

void check_scored_labels(const char* metric, const std::vector<double>& scores,
                         const std::vector<int>& labels) {
  std::string name(metric);
  if (scores.size() != labels.size()) {
    throw InputError(name + ": " + std::to_string(scores.size()) + " scores but " +
                     std::to_string(labels.size()) + " labels");
  }
  for (size_t i = 0; i < scores.size(); ++i) {
    if (labels[i] != 0 && labels[i] != 1) {
      throw InputError(name + ": label " + std::to_string(labels[i]) + " at index " +
                       std::to_string(i) + " is not 0 or 1");
    }
    // NaN breaks the strict weak ordering the sorts below rely on.
    if (std::isnan(scores[i])) {
      throw InputError(name + ": score at index " + std::to_string(i) + " is NaN");
    }
  }
}

// Indices of `scores` in descending score order; equal scores end up adjacent.
std::vector<size_t> order_descending(const std::vector<double>& scores) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  return order;
}

}  // namespace

Rate make_rate(int64_t count, int64_t of) {
  Rate r;
  r.count = count;
  r.of = of;
  r.value = of > 0 ? static_cast<double>(count) / static_cast<double>(of) : 0.0;
  std::tie(r.lo, r.hi) = wilson_interval(count, of);
  return r;
}

ValueStats value_stats(std::vector<double> v) {
  ValueStats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.n = static_cast<int64_t>(v.size());
  double sum = 0;
  for (double d : v) sum += d;
  s.mean = sum / static_cast<double>(v.size());
  const size_t m = v.size() / 2;
  s.median = v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
  // Nearest-rank percentile: the smallest value with at least 95% of the sample at or below it.
  const auto rank = static_cast<size_t>(std::ceil(0.95 * static_cast<double>(v.size())));
  s.p95 = v[std::max<size_t>(rank, 1) - 1];
  s.max = v.back();
  return s;
}

std::pair<double, double> wilson_interval(int64_t successes, int64_t n, double z) {
  if (n < 0 || successes < 0 || successes > n) {
    throw InputError("wilson_interval: need 0 <= successes <= n, got " +
                     std::to_string(successes) + " of " + std::to_string(n));
  }
  if (!(z >= 0) || !std::isfinite(z)) {
    throw InputError("wilson_interval: z must be finite and non-negative, got " +
                     std::to_string(z));
  }
  if (n == 0) return {0.0, 1.0};
  double nd = static_cast<double>(n);
  double p = static_cast<double>(successes) / nd;
  double z2 = z * z;
  double denom = 1.0 + z2 / nd;
  double center = (p + z2 / (2.0 * nd)) / denom;
  double half = z * std::sqrt(p * (1.0 - p) / nd + z2 / (4.0 * nd * nd)) / denom;
  // At k = 0 (k = n) the bound is exactly 0 (1) in closed form, but center - half rounds to a
  // value on either side of it; pin it so the interval always contains k/n.
  double lower = successes == 0 ? 0.0 : std::clamp(center - half, 0.0, 1.0);
  double upper = successes == n ? 1.0 : std::clamp(center + half, 0.0, 1.0);
  return {lower, upper};
}

std::vector<std::vector<int64_t>> confusion_matrix(const std::vector<int64_t>& labels,
                                                   const std::vector<int64_t>& predictions,
                                                   int64_t num_classes) {
  if (labels.size() != predictions.size()) {
    throw InputError("confusion_matrix: " + std::to_string(labels.size()) + " labels but " +
                     std::to_string(predictions.size()) + " predictions");
  }
  if (num_classes < 0) {
    throw InputError("confusion_matrix: num_classes must be >= 0, got " +
                     std::to_string(num_classes));
  }
  std::vector<std::vector<int64_t>> confusion(num_classes, std::vector<int64_t>(num_classes, 0));
  for (size_t i = 0; i < labels.size(); ++i) {
    int64_t t = labels[i], p = predictions[i];
    if (t < 0 || t >= num_classes || p < 0 || p >= num_classes) continue;
    ++confusion[t][p];
  }
  return confusion;
}

double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels) {
  check_scored_labels("roc_auc", scores, labels);
  int64_t positives = std::count(labels.begin(), labels.end(), 1);
  int64_t negatives = static_cast<int64_t>(labels.size()) - positives;
  if (positives == 0 || negatives == 0) {
    throw InputError("roc_auc: needs both classes, got " + std::to_string(positives) +
                     " positives and " + std::to_string(negatives) + " negatives");
  }
  // The Mann-Whitney U with average ranks for ties equals, per group of tied scores, each
  // positive beating every negative ranked strictly below plus half of the tied negatives.
  // Counting that in integers (doubled, so the halves stay exact) avoids summing large ranks in
  // floating point.
  std::vector<size_t> order = order_descending(scores);
  std::reverse(order.begin(), order.end());  // ascending
  int64_t doubled_u = 0;
  int64_t negatives_below = 0;
  for (size_t start = 0; start < order.size();) {
    size_t end = start;
    int64_t group_pos = 0, group_neg = 0;
    for (; end < order.size() && scores[order[end]] == scores[order[start]]; ++end) {
      (labels[order[end]] == 1 ? group_pos : group_neg) += 1;
    }
    doubled_u += group_pos * (2 * negatives_below + group_neg);
    negatives_below += group_neg;
    start = end;
  }
  return static_cast<double>(doubled_u) /
         (2.0 * static_cast<double>(positives) * static_cast<double>(negatives));
}

double average_precision(const std::vector<double>& scores, const std::vector<int>& labels) {
  check_scored_labels("average_precision", scores, labels);
  int64_t positives = std::count(labels.begin(), labels.end(), 1);
  if (positives == 0) {
    throw InputError("average_precision: no positive labels, recall is undefined");
  }
  // scikit-learn's definition (no interpolation): thresholds are the distinct scores, so a
  // group of tied scores is admitted all at once and contributes one precision value.
  std::vector<size_t> order = order_descending(scores);
  double ap = 0.0;
  int64_t true_pos = 0, false_pos = 0;
  for (size_t start = 0; start < order.size();) {
    int64_t previous_true_pos = true_pos;
    size_t end = start;
    for (; end < order.size() && scores[order[end]] == scores[order[start]]; ++end) {
      (labels[order[end]] == 1 ? true_pos : false_pos) += 1;
    }
    double precision = static_cast<double>(true_pos) / static_cast<double>(true_pos + false_pos);
    double recall_step =
        static_cast<double>(true_pos - previous_true_pos) / static_cast<double>(positives);
    ap += recall_step * precision;
    start = end;
  }
  return ap;
}

// The binary reliability-diagram ECE: bins are equal-width over [0, 1] of the predicted
// probability of the positive class (not of the arg-max class's confidence, as in the multi-class
// ECE of Guo et al. 2017), and ECE = sum_b (n_b / N) |acc_b - conf_b| with acc_b the fraction of
// positives in bin b and conf_b its mean predicted probability.
double expected_calibration_error(const std::vector<double>& probs, const std::vector<int>& labels,
                                  int bins) {
  if (bins < 1) {
    throw InputError("expected_calibration_error: bins must be >= 1, got " +
                     std::to_string(bins));
  }
  if (probs.size() != labels.size()) {
    throw InputError("expected_calibration_error: " + std::to_string(probs.size()) +
                     " probabilities but " + std::to_string(labels.size()) + " labels");
  }
  if (probs.empty()) throw InputError("expected_calibration_error: no samples");
  std::vector<int64_t> count(bins, 0);
  std::vector<double> prob_sum(bins, 0.0);
  std::vector<int64_t> positive_count(bins, 0);
  for (size_t i = 0; i < probs.size(); ++i) {
    double p = probs[i];
    if (!(p >= 0.0 && p <= 1.0)) {
      throw InputError("expected_calibration_error: probability " + std::to_string(p) +
                       " at index " + std::to_string(i) + " is outside [0, 1]");
    }
    if (labels[i] != 0 && labels[i] != 1) {
      throw InputError("expected_calibration_error: label " + std::to_string(labels[i]) +
                       " at index " + std::to_string(i) + " is not 0 or 1");
    }
    // Bins are [i/B, (i+1)/B) except the last, which is closed so that p = 1 has a bin.
    int b = std::min(static_cast<int>(p * bins), bins - 1);
    ++count[b];
    prob_sum[b] += p;
    positive_count[b] += labels[i];
  }
  double total = static_cast<double>(probs.size());
  double ece = 0.0;
  for (int b = 0; b < bins; ++b) {
    if (count[b] == 0) continue;
    double n_b = static_cast<double>(count[b]);
    double accuracy = static_cast<double>(positive_count[b]) / n_b;
    double confidence = prob_sum[b] / n_b;
    ece += (n_b / total) * std::abs(accuracy - confidence);
  }
  return ece;
}

ErrorRates rates_at_threshold(const std::vector<double>& scores, const std::vector<int>& labels, double threshold) {
  check_scored_labels("rates_at_threshold", scores, labels);
  int64_t pos = 0, neg = 0, tp = 0, fp = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    const bool flagged = scores[i] >= threshold;
    if (labels[i] == 1) {
      ++pos;
      tp += flagged;
    } else {
      ++neg;
      fp += flagged;
    }
  }
  ErrorRates r;
  r.fpr = neg ? static_cast<double>(fp) / neg : 0.0;
  r.tpr = pos ? static_cast<double>(tp) / pos : 0.0;
  return r;
}

double threshold_for_fpr(const std::vector<double>& scores, const std::vector<int>& labels, double fpr) {
  check_scored_labels("threshold_for_fpr", scores, labels);
  if (!(fpr > 0 && fpr < 1)) throw UsageError("target false-positive rate must be in (0, 1), got " + std::to_string(fpr));
  std::vector<double> negatives;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (labels[i] != 1) negatives.push_back(scores[i]);
  }
  if (negatives.empty()) throw InputError("threshold_for_fpr: no negatives to measure a false-positive rate on");
  std::sort(negatives.begin(), negatives.end(), std::greater<double>());
  const auto k = static_cast<size_t>(std::floor(fpr * static_cast<double>(negatives.size())));
  const double above = negatives[0];
  if (k == 0) return std::nextafter(above, std::numeric_limits<double>::infinity());
  if (k >= negatives.size()) return negatives.back();
  // Flag the k highest negatives: the threshold sits between the k-th and (k+1)-th.
  const double hi = negatives[k - 1], lo = negatives[k];
  if (hi == lo) return std::nextafter(hi, std::numeric_limits<double>::infinity());
  return lo + (hi - lo) / 2;
}

double tpr_at_fpr(const std::vector<double>& scores, const std::vector<int>& labels, double fpr) {
  return rates_at_threshold(scores, labels, threshold_for_fpr(scores, labels, fpr)).tpr;
}

EqualErrorRate equal_error_rate(const std::vector<double>& scores, const std::vector<int>& labels) {
  check_scored_labels("equal_error_rate", scores, labels);
  const int64_t pos = std::count(labels.begin(), labels.end(), 1);
  const int64_t neg = static_cast<int64_t>(labels.size()) - pos;
  if (pos == 0 || neg == 0) throw InputError("equal_error_rate: needs both classes");
  // Sweep thresholds from the highest score down; at each distinct score t, "positive iff
  // score >= t" flags everything seen so far.
  std::vector<size_t> order = order_descending(scores);
  int64_t tp = 0, fp = 0;
  EqualErrorRate best;
  double best_gap = 2;
  for (size_t start = 0; start < order.size();) {
    size_t end = start;
    const double t = scores[order[start]];
    for (; end < order.size() && scores[order[end]] == t; ++end) (labels[order[end]] == 1 ? tp : fp) += 1;
    const double fpr = static_cast<double>(fp) / neg, fnr = 1.0 - static_cast<double>(tp) / pos;
    if (std::abs(fpr - fnr) < best_gap) {
      best_gap = std::abs(fpr - fnr);
      best.eer = (fpr + fnr) / 2;
      best.threshold = t;
    }
    start = end;
  }
  return best;
}

}  // namespace mirage
