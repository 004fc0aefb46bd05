#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "lib/error.h"
#include "lib/metrics.h"

namespace {

// Every (positive, negative) pair counted directly: 1 if the positive scores higher, 1/2 on a
// tie. Quadratic, so only for small inputs, but independent of the ranking implementation.
double auc_by_pairs(const std::vector<double>& scores, const std::vector<int>& labels) {
  double wins = 0.0;
  double pairs = 0.0;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (labels[i] != 1) continue;
    for (size_t j = 0; j < scores.size(); ++j) {
      if (labels[j] != 0) continue;
      pairs += 1.0;
      wins += scores[i] > scores[j] ? 1.0 : scores[i] == scores[j] ? 0.5 : 0.0;
    }
  }
  return wins / pairs;
}

// Scores on a 1/100 grid so that ties are common, labels with roughly 40% positives.
void random_tied_data(uint32_t seed, size_t n, std::vector<double>& scores,
                      std::vector<int>& labels) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> grid(0, 100);
  std::bernoulli_distribution positive(0.4);
  scores.clear();
  labels.clear();
  for (size_t i = 0; i < n; ++i) {
    scores.push_back(grid(rng) / 100.0);
    labels.push_back(positive(rng) ? 1 : 0);
  }
}

}  // namespace

// ---- Wilson interval ----

TEST_CASE("wilson_interval matches published values", "[metrics][wilson]") {
  auto [lo0, hi0] = mirage::wilson_interval(0, 10);
  CHECK(lo0 == 0.0);
  CHECK(hi0 == Approx(0.2775).margin(1e-4));

  auto [lo5, hi5] = mirage::wilson_interval(5, 10);
  CHECK(lo5 == Approx(0.2366).margin(1e-3));
  CHECK(hi5 == Approx(0.7634).margin(1e-3));

  auto [lo10, hi10] = mirage::wilson_interval(10, 10);
  CHECK(lo10 == Approx(1.0 - 0.2775).margin(1e-4));
  CHECK(hi10 == 1.0);
}

TEST_CASE("wilson_interval of no trials is the whole unit interval", "[metrics][wilson]") {
  auto [lo, hi] = mirage::wilson_interval(0, 0);
  CHECK(lo == 0.0);
  CHECK(hi == 1.0);
}

TEST_CASE("wilson_interval lies in [0, 1], contains k/n, and is symmetric under k -> n - k",
          "[metrics][wilson]") {
  int64_t n = GENERATE(1, 2, 3, 7, 10, 37, 100, 1000, 12345);
  double z = GENERATE(1.0, 1.959963984540054, 2.576, 4.0);
  CAPTURE(n, z);
  for (int64_t k = 0; k <= n; ++k) {
    auto [lo, hi] = mirage::wilson_interval(k, n, z);
    double ratio = static_cast<double>(k) / static_cast<double>(n);
    INFO("k = " << k << ", interval [" << lo << ", " << hi << "]");
    REQUIRE(0.0 <= lo);
    REQUIRE(hi <= 1.0);
    REQUIRE(lo <= ratio);
    REQUIRE(ratio <= hi);
    auto [mirror_lo, mirror_hi] = mirage::wilson_interval(n - k, n, z);
    REQUIRE(lo == Approx(1.0 - mirror_hi).margin(1e-12));
    REQUIRE(hi == Approx(1.0 - mirror_lo).margin(1e-12));
  }
}

TEST_CASE("wilson_interval narrows as n grows at a fixed success ratio", "[metrics][wilson]") {
  double ratio = GENERATE(0.0, 0.1, 0.3, 0.5, 0.9, 1.0);
  CAPTURE(ratio);
  double previous_width = 2.0;
  for (int64_t n : {10, 100, 1000, 10000, 100000}) {
    auto k = static_cast<int64_t>(std::llround(ratio * static_cast<double>(n)));
    auto [lo, hi] = mirage::wilson_interval(k, n);
    CAPTURE(n);
    CHECK(hi - lo < previous_width);
    previous_width = hi - lo;
  }
}

TEST_CASE("wilson_interval widens with z", "[metrics][wilson]") {
  auto [lo1, hi1] = mirage::wilson_interval(30, 100, 1.0);
  auto [lo2, hi2] = mirage::wilson_interval(30, 100, 2.0);
  CHECK(lo2 < lo1);
  CHECK(hi2 > hi1);
}

TEST_CASE("wilson_interval rejects impossible counts", "[metrics][wilson]") {
  CHECK_THROWS_AS(mirage::wilson_interval(11, 10), mirage::InputError);
  CHECK_THROWS_AS(mirage::wilson_interval(-1, 10), mirage::InputError);
  CHECK_THROWS_AS(mirage::wilson_interval(0, -1), mirage::InputError);
}

// ---- confusion matrix ----

TEST_CASE("confusion_matrix counts [true][pred] and ignores out-of-range labels",
          "[metrics][confusion]") {
  std::vector<int64_t> labels = {0, 0, 1, 1, 1, 2, 2, -1, 3, 1};
  std::vector<int64_t> predictions = {0, 1, 1, 1, 2, 2, 0, 0, 1, 7};
  auto confusion = mirage::confusion_matrix(labels, predictions, 3);
  std::vector<std::vector<int64_t>> expected = {{1, 1, 0}, {0, 2, 1}, {1, 0, 1}};
  CHECK(confusion == expected);

  int64_t total = 0;
  for (const auto& row : confusion) {
    for (int64_t c : row) total += c;
  }
  CHECK(total == 7);  // the three pairs with a label or prediction outside [0, 3) are dropped
}

TEST_CASE("confusion_matrix is num_classes square even with no samples", "[metrics][confusion]") {
  auto confusion = mirage::confusion_matrix({}, {}, 4);
  REQUIRE(confusion.size() == 4);
  for (const auto& row : confusion) CHECK(row == std::vector<int64_t>(4, 0));
}

TEST_CASE("confusion_matrix rejects labels and predictions of different lengths",
          "[metrics][confusion]") {
  CHECK_THROWS_AS(mirage::confusion_matrix({0, 1}, {0}, 2), mirage::InputError);
}

// ---- ROC AUC ----

TEST_CASE("roc_auc is 1 for perfect separation, 0 reversed, 1/2 when all tied", "[metrics][auc]") {
  std::vector<int> labels = {0, 0, 0, 1, 1};
  CHECK(mirage::roc_auc({0.1, 0.2, 0.3, 0.8, 0.9}, labels) == 1.0);
  CHECK(mirage::roc_auc({0.9, 0.8, 0.7, 0.2, 0.1}, labels) == 0.0);
  CHECK(mirage::roc_auc({0.5, 0.5, 0.5, 0.5, 0.5}, labels) == 0.5);
}

TEST_CASE("roc_auc counts tied positive-negative pairs as one half", "[metrics][auc]") {
  // Positives score 0.4, 0.8, 0.2; negatives 0.1, 0.4. Pairs won: 0.4 -> 1 + 1/2, 0.8 -> 2,
  // 0.2 -> 1, so 4.5 of 6.
  CHECK(mirage::roc_auc({0.1, 0.4, 0.4, 0.8, 0.2}, {0, 1, 0, 1, 1}) == Approx(0.75));
}

TEST_CASE("roc_auc equals the pair-counting Mann-Whitney statistic on tied random data",
          "[metrics][auc]") {
  uint32_t seed = GENERATE(1u, 2u, 3u, 4u, 5u);
  size_t n = GENERATE(size_t{5}, size_t{50}, size_t{400});
  CAPTURE(seed, n);
  std::vector<double> scores;
  std::vector<int> labels;
  random_tied_data(seed, n, scores, labels);
  labels[0] = 0;  // both classes present
  labels[1] = 1;
  CHECK(mirage::roc_auc(scores, labels) == Approx(auc_by_pairs(scores, labels)).epsilon(1e-12));
}

TEST_CASE("roc_auc is invariant to strictly increasing transforms of the scores",
          "[metrics][auc]") {
  uint32_t seed = GENERATE(11u, 12u, 13u);
  CAPTURE(seed);
  std::vector<double> scores;
  std::vector<int> labels;
  random_tied_data(seed, 300, scores, labels);
  double base = mirage::roc_auc(scores, labels);
  std::vector<double> cubed, exped, affine;
  for (double s : scores) {
    cubed.push_back(s * s * s);
    exped.push_back(std::exp(4.0 * s));
    affine.push_back(5.0 * s - 2.0);
  }
  CHECK(mirage::roc_auc(cubed, labels) == base);
  CHECK(mirage::roc_auc(exped, labels) == base);
  CHECK(mirage::roc_auc(affine, labels) == base);
}

TEST_CASE("roc_auc rejects one-class data and mismatched sizes", "[metrics][auc]") {
  CHECK_THROWS_AS(mirage::roc_auc({0.1, 0.2}, {1, 1}), mirage::InputError);
  CHECK_THROWS_AS(mirage::roc_auc({0.1, 0.2}, {0, 0}), mirage::InputError);
  CHECK_THROWS_AS(mirage::roc_auc({}, {}), mirage::InputError);
  CHECK_THROWS_AS(mirage::roc_auc({0.1, 0.2, 0.3}, {0, 1}), mirage::InputError);
  CHECK_THROWS_AS(mirage::roc_auc({0.1, 0.2}, {0, 2}), mirage::InputError);
  CHECK_THROWS_AS(mirage::roc_auc({0.1, std::nan("")}, {0, 1}), mirage::InputError);
}

// ---- average precision ----

TEST_CASE("average_precision is 1 for a perfect ranking", "[metrics][ap]") {
  CHECK(mirage::average_precision({0.9, 0.8, 0.3, 0.2, 0.1}, {1, 1, 0, 0, 0}) == 1.0);
  CHECK(mirage::average_precision({0.9, 0.8}, {1, 1}) == 1.0);
}

TEST_CASE("average_precision matches scikit-learn on hand-computed cases", "[metrics][ap]") {
  // scikit-learn's docstring example: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1.
  CHECK(mirage::average_precision({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}) ==
        Approx(0.5 + 0.5 * 2.0 / 3.0));
  // A tie spanning both classes is one threshold: {0.9: +}, {0.5: +, -, -}, {0.1: +}.
  // Precision 1 at recall 1/3, then 2/4 at recall 2/3, then 3/5 at recall 1 (not an
  // interpolated or per-item precision inside the tie).
  CHECK(mirage::average_precision({0.9, 0.5, 0.5, 0.5, 0.1}, {1, 0, 1, 0, 1}) ==
        Approx((1.0 + 0.5 + 0.6) / 3.0));
  // All scores tied: one threshold, precision is the positive rate.
  CHECK(mirage::average_precision({0.5, 0.5, 0.5, 0.5}, {1, 0, 0, 0}) == Approx(0.25));
}

TEST_CASE("average_precision without ties is the mean precision at each positive's rank",
          "[metrics][ap]") {
  uint32_t seed = GENERATE(21u, 22u, 23u);
  CAPTURE(seed);
  std::mt19937 rng(seed);
  std::bernoulli_distribution positive(0.3);
  std::vector<double> scores;
  std::vector<int> labels;
  for (int i = 0; i < 200; ++i) {
    scores.push_back(i / 200.0);  // distinct, so each item is its own threshold
    labels.push_back(positive(rng) ? 1 : 0);
  }
  labels[199] = 1;
  double precision_sum = 0.0;
  int positives = 0;
  for (int rank = 1; rank <= 200; ++rank) {  // rank 1 holds the highest score, index 199
    if (labels[200 - rank] == 1) {
      ++positives;
      precision_sum += static_cast<double>(positives) / rank;
    }
  }
  CHECK(mirage::average_precision(scores, labels) ==
        Approx(precision_sum / positives).epsilon(1e-12));
}

TEST_CASE("average_precision of random scores is close to the positive rate", "[metrics][ap]") {
  double rate = GENERATE(0.1, 0.3, 0.7);
  CAPTURE(rate);
  std::mt19937 rng(1234);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::bernoulli_distribution positive(rate);
  std::vector<double> scores;
  std::vector<int> labels;
  for (int i = 0; i < 50000; ++i) {
    scores.push_back(uniform(rng));
    labels.push_back(positive(rng) ? 1 : 0);
  }
  CHECK(mirage::average_precision(scores, labels) == Approx(rate).margin(0.02));
}

TEST_CASE("average_precision rejects data without positives", "[metrics][ap]") {
  CHECK_THROWS_AS(mirage::average_precision({0.1, 0.2}, {0, 0}), mirage::InputError);
  CHECK_THROWS_AS(mirage::average_precision({0.1}, {1, 0}), mirage::InputError);
}

// ---- expected calibration error ----

TEST_CASE("expected_calibration_error is small for calibrated data", "[metrics][ece]") {
  uint32_t seed = GENERATE(31u, 32u);
  CAPTURE(seed);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<double> probs;
  std::vector<int> labels;
  for (int i = 0; i < 100000; ++i) {
    double p = uniform(rng);
    probs.push_back(p);
    labels.push_back(uniform(rng) < p ? 1 : 0);
  }
  CHECK(mirage::expected_calibration_error(probs, labels) < 0.02);
}

TEST_CASE("expected_calibration_error is large for overconfident data", "[metrics][ece]") {
  // The model says 0.95 / 0.05 where the truth is 0.6 / 0.4: |0.6 - 0.95| = 0.35 in each bin.
  std::mt19937 rng(41);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<double> probs;
  std::vector<int> labels;
  for (int i = 0; i < 20000; ++i) {
    bool high = i % 2 == 0;
    probs.push_back(high ? 0.95 : 0.05);
    labels.push_back(uniform(rng) < (high ? 0.6 : 0.4) ? 1 : 0);
  }
  CHECK(mirage::expected_calibration_error(probs, labels) == Approx(0.35).margin(0.02));
}

TEST_CASE("expected_calibration_error of one occupied bin is |accuracy - mean probability|",
          "[metrics][ece]") {
  // All in [0.2, 0.2667) with 15 bins: mean probability 0.225, half are positive.
  CHECK(mirage::expected_calibration_error({0.21, 0.22, 0.23, 0.24}, {1, 1, 0, 0}) ==
        Approx(0.275));
  // One bin overall: the gap between the positive rate and the mean probability.
  CHECK(mirage::expected_calibration_error({0.1, 0.9, 0.5, 0.7}, {1, 0, 0, 0}, 1) ==
        Approx(0.55 - 0.25));
}

TEST_CASE("expected_calibration_error weighs each bin by its share of samples", "[metrics][ece]") {
  // 10 bins. Bin [0.1, 0.2): {0.15, 0.15} with one positive -> |0.5 - 0.15| = 0.35.
  // Bin [0.9, 1.0]: {1.0, 0.95} with one positive -> |0.5 - 0.975| = 0.475; p = 1.0 must land
  // here, in the last bin, not past the end or wrapped into the first.
  double ece = mirage::expected_calibration_error({0.15, 0.15, 1.0, 0.95}, {1, 0, 0, 1}, 10);
  CHECK(ece == Approx(0.5 * 0.35 + 0.5 * 0.475));
}

TEST_CASE("expected_calibration_error rejects bad probabilities, labels, sizes and bins",
          "[metrics][ece]") {
  CHECK_THROWS_AS(mirage::expected_calibration_error({1.5}, {1}), mirage::InputError);
  CHECK_THROWS_AS(mirage::expected_calibration_error({-0.1}, {0}), mirage::InputError);
  CHECK_THROWS_AS(mirage::expected_calibration_error({std::nan("")}, {0}), mirage::InputError);
  CHECK_THROWS_AS(mirage::expected_calibration_error({0.5}, {2}), mirage::InputError);
  CHECK_THROWS_AS(mirage::expected_calibration_error({0.5, 0.5}, {1}), mirage::InputError);
  CHECK_THROWS_AS(mirage::expected_calibration_error({0.5}, {1}, 0), mirage::InputError);
  CHECK_THROWS_AS(mirage::expected_calibration_error({}, {}), mirage::InputError);
}
