// reports/attack_run.h — one attack over a labelled data set, as `mirage attack` runs it: per
// sample the clean and adversarial predictions, success, norms and queries, and what the
// adversarial does once written as an 8/16-bit image; over the run clean and robust accuracy, the
// success rate on the initially correct samples (95% Wilson intervals), norm and query
// statistics and autoattack's stages. The smaller sibling of the robustness audit
// (reports/robustness_audit.h): one attack, one eps, any goal, images out.
#pragma once
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "attacks/attack.h"
#include "lib/dataset.h"
#include "lib/metrics.h"
#include "lib/model.h"

namespace mirage {

struct AttackRunOptions {
  std::string goal = "untargeted";  // make_goal's mode: untargeted, target:K, runner-up, random
  int64_t limit = 0;                // attack the first `limit` samples only (0 = all)
  int64_t batch_size = 128;
  int bits = 16;                    // bits per channel of the written images, 8 or 16
};

// What the attack did to one sample, or why the sample could not be read.
struct AttackedSample {
  int64_t index = 0;  // position in the data set
  std::string id;
  std::string error;  // not empty: the sample was unreadable and skipped (nothing below is set)
  int64_t label = 0;
  bool label_predicted = false;  // unlabelled: attacked against the model's own clean prediction
  int64_t clean_pred = 0, adv_pred = 0;
  bool success = false;
  double linf = 0, l2 = 0;
  int64_t queries = 0;
  bool targeted = false;
  int64_t target = 0;
  at::Tensor saved;        // [C, H, W] CPU: the adversarial as a `bits`-bit image file holds it
  int64_t saved_pred = 0;  // the model's prediction on `saved`
};
// {"index", "id", "error"} for a skipped sample, else {"index", "id", "label", "label_predicted",
// "clean_pred", "adv_pred", "success", "linf", "l2", "queries", "saved_pred"} (+ "target").
nlohmann::json attacked_sample_json(const AttackedSample& sample);

// An ensemble's stage (autoattack's details["stages"]), summed over batches.
struct AttackStageTotals {
  std::string attack;
  int64_t attacked = 0, broken = 0, robust = 0;
  double seconds = 0;
};

struct AttackRun {
  int64_t total = 0;  // samples asked for: min(limit, size) or size
  int64_t n = 0;      // samples attacked (total less the skipped)
  int64_t clean_correct = 0, robust = 0, broken = 0;  // broken: successes on initially correct samples
  int64_t saved_robust = 0, saved_broken = 0, saved_changed = 0;  // the same for the written images
  int64_t labels_from_predictions = 0, queries_total = 0, gradient_calls = 0;
  int64_t oom_splits = 0;        // batches halved after an out-of-memory error (run_splitting_on_oom)
  std::vector<double> linf, l2;  // of the successes on initially correct samples
  std::vector<double> queries;   // per sample
  double seconds = 0, attack_seconds = 0;  // the whole loop; inside Attack::run only
  std::vector<AttackStageTotals> stages;   // first-seen order
  std::vector<AttackedSample> skipped;     // unreadable samples (index, id, error)
  Rate clean_accuracy() const { return make_rate(clean_correct, n); }
  Rate robust_accuracy() const { return make_rate(robust, n); }
  Rate success_rate() const { return make_rate(broken, clean_correct); }
  double images_per_second() const { return attack_seconds > 0 ? static_cast<double>(n) / attack_seconds : 0.0; }
};
// `mirage attack`'s summary "result": n, skipped, clean_accuracy, robust_accuracy, success_rate,
// linf, l2 ({n, mean, median, max}, null when empty), queries, gradient_calls, seconds,
// attack_seconds, images_per_second, labels_from_predictions, saved (at `bits`), stages.
nlohmann::json attack_run_json(const AttackRun& run, int bits);

// Called for each sample in data-set order, except that a batch's unreadable samples come first.
using AttackSampleSink = std::function<void(const AttackedSample& sample)>;

// Runs `attack` (seeded `seed`) over the first options.limit samples of `data`, batch by batch.
// An unreadable image is skipped and reported (InputError only); an unlabelled sample is attacked
// against the model's prediction; a label >= the model's classes is an InputError naming the
// sample. Batch b's goal draws from derive_seed(seed, "goal-batch-<b>").
AttackRun run_attack(Model& model, Dataset& data, Attack& attack, const AttackRunOptions& options, uint64_t seed,
                     const AttackSampleSink& sink = {});

}  // namespace mirage
