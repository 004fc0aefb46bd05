// reports/robustness_audit.h — the robustness audit: a classifier's clean accuracy and, for
// every attack x eps of an AuditConfig, robust accuracy and attack success with 95% Wilson
// intervals, perturbation sizes, queries, per-class robustness, where predictions go, and the
// most confidently misclassified examples. Plain structs out; JSON is reports/report_json.h.
//
// Conventions (as AutoAttack, Croce & Hein 2020): a sample is robust at eps when the model is
// right on the clean image and still right on the attack's image, so robust accuracy <= clean
// accuracy; the success rate counts broken samples among the initially correct ones.
#pragma once
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "lib/dataset.h"
#include "lib/metrics.h"
#include "lib/model.h"
#include "reports/audit_config.h"

namespace mirage {

// One of the most confident misclassifications: a successful adversarial of an initially
// correct sample, ranked by margin = max_{j != label} z_j - z_label on the adversarial logits,
// ties by sample index (a total order, so shards and the whole run keep the same examples).
struct WorstExample {
  int64_t index = 0;  // position in the data set
  std::string id;
  int64_t label = 0, clean_pred = 0, adv_pred = 0;
  double margin = 0, linf = 0, l2 = 0;
  at::Tensor clean, adversarial;  // [C,H,W] CPU float in [0,1], for PNGs; undefined when read from a report
  std::string clean_image, adversarial_image;  // PNGs already written (a merged report keeps the shards')
};
// True when `a` ranks before `b` among the worst examples: larger margin, then smaller index.
bool worse_than(const WorstExample& a, const WorstExample& b);

// A stage of the audit (the clean pass, each attack x eps) and when it ran.
struct StageTime {
  std::string name;
  std::string started, finished;  // ISO-8601 UTC
  double seconds = 0;
};

// Times a stage from construction to stop(): UTC start/end and seconds (steady clock).
class StageClock {
 public:
  explicit StageClock(std::string name);
  StageTime stop();

 private:
  StageTime time_;
  std::chrono::steady_clock::time_point t0_;
};

struct AttackEpsResult {
  std::string attack;  // the config's id
  std::string name;    // registry name
  std::string norm;
  double eps = 0;
  std::string eps_text;
  bool black_box = false;
  nlohmann::json options;  // the attack's resolved options (Attack::options_json)
  Rate robust_accuracy;    // over all samples
  Rate success_rate;       // over the initially correct samples
  ValueStats linf, l2;     // perturbation norms of the successes on initially correct samples
  int64_t queries_total = 0;
  double queries_mean = 0;
  int64_t gradient_calls = 0;
  std::vector<Rate> per_class;                       // robust accuracy among samples of each label
  std::vector<std::vector<int64_t>> confusion_shift;  // [clean class][adversarial prediction], successes only
  std::vector<WorstExample> worst;                    // most confident first, at most worst_k
  StageTime time;
};

struct CurvePoint {
  double eps = 0;
  std::string eps_text;
  double robust_accuracy = 0;
};
// Robust accuracy against eps for one config attack, eps ascending.
struct RobustnessCurve {
  std::string attack, norm;
  std::vector<CurvePoint> points;
};

// What one attack x eps did to one sample.
struct SampleOutcome {
  bool correct = false;  // robust: clean prediction right and the adversarial's too
  int64_t adv_pred = 0;
  double linf = 0, l2 = 0;  // of the attack's output, whether it succeeded or not
  int64_t queries = 0;
};

// What one sample did: every number of an audit is summarized from these, so shards merge.
struct SampleRecord {
  int64_t index = 0;  // position in the data set
  std::string id;
  int64_t label = 0, clean_pred = 0;
  bool clean_correct = false;
  std::vector<SampleOutcome> outcomes;  // per entry of RobustnessAudit::results
};

// Shard `index` of `count` (1-based) of an audit: a contiguous run of its batches.
struct Shard {
  int64_t index = 1, count = 1;
  bool sharded() const { return count > 1; }
};
// "I/N" with 1 <= I <= N; anything else is a UsageError starting "--shard: ".
Shard parse_shard(const std::string& text);

struct RobustnessAudit {
  Shard shard;
  int64_t total_n = 0;          // samples of the whole (unsharded) audit
  int64_t first = 0, end = 0;   // this shard's samples: [first, end) of [0, total_n)
  int64_t n = 0;                // samples audited here: end - first
  int64_t num_classes = 0;
  std::vector<std::string> class_names;
  std::string data_sha256;  // over "id\tlabel\n" of every audited sample, in order
  Rate clean_accuracy;
  std::vector<Rate> clean_per_class;
  std::vector<AttackEpsResult> results;  // config order: attack, then its eps
  std::vector<RobustnessCurve> curves;
  // AutoAttack's robust accuracy at the declared eps, when the config has both.
  bool has_headline = false;
  Rate headline;
  double headline_eps = 0;
  std::string headline_eps_text;
  std::vector<SampleRecord> samples;  // index order, [first, end)
  std::vector<StageTime> stages;  // clean, then each attack x eps
  StageTime total;
};

// Called after each batch of each stage: stage name, samples done, samples in the stage.
using AuditProgress = std::function<void(const std::string& stage, int64_t done, int64_t total)>;

// Every derived number of `audit` from its samples and its results' metadata (attack, eps,
// norm): clean and robust accuracy, success rates, perturbation statistics, queries, per-class
// rates, confusion shift, curves, headline, n and data_sha256. Worst examples, gradient calls
// and times are not derivable from the records and are left as they are.
void summarize_audit(RobustnessAudit& audit, const AuditConfig& config);

// The samples [first, end) of shard `shard` of an audit of n samples in batches of batch_size:
// shard I of N gets batches [floor((I-1) nb / N), floor(I nb / N)), nb = ceil(n / batch_size).
// More shards than batches is a UsageError.
std::pair<int64_t, int64_t> shard_range(int64_t n, int64_t batch_size, const Shard& shard);

// Runs the audit on the first config.limit samples of `data` (all when 0), or on the batches of
// `shard` of them. Every sample needs a label in [0, classes): anything else is an InputError
// naming the sample. Each batch of each attack x eps draws its random numbers from
// derive_seed(seed, "<id>@<eps>#<index of the batch's first sample>"), so a shard computes
// exactly what the whole run computes for its samples, and shards merge (reports/merge.h) into
// the whole run's report.
RobustnessAudit run_robustness_audit(Model& model, Dataset& data, const AuditConfig& config, uint64_t seed,
                                     const AuditProgress& progress = {}, const Shard& shard = {});

}  // namespace mirage
