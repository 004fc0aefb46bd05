// attacks/attack.h — the Attack interface, the goal of an attack, its result, and the
// bookkeeping every attack shares (box clamp, Lp projection, norms, success, best-so-far).
//
// Conventions (as torchattacks and AutoAttack): images are NCHW in [0,1]; eps and step sizes are
// in [0,1] pixel units; every iterate is projected onto the eps-ball and then clamped to the
// box. An attack never reports a sample as successful unless the returned image, evaluated
// again, meets the goal.
#pragma once
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "lib/model.h"

namespace mirage {

enum class Norm { kLinf, kL2, kL1 };
Norm parse_norm(const std::string& text, const std::string& what);  // "linf" | "l2" | "l1"
std::string norm_name(Norm norm);

// Untargeted: make the prediction differ from the label. Targeted: make it equal the target.
struct Goal {
  bool targeted = false;
  at::Tensor targets;  // [N] int64 on the model's device, when targeted

  static Goal untargeted() { return {}; }
  static Goal targeted_to(at::Tensor targets) { return {true, std::move(targets)}; }
};

// How a targeted run picks its targets: "untargeted", "target:K" (class K for every sample),
// "runner-up" (the second most likely class on the clean image), "random" (uniform over the
// other classes, from `seed`). A class out of range is a UsageError.
Goal make_goal(const std::string& mode, Model& model, const at::Tensor& images, const at::Tensor& labels,
               uint64_t seed);

struct AttackResult {
  at::Tensor adversarial;  // [N,C,H,W] in [0,1]; a failed sample holds the attack's best try
  at::Tensor success;      // [N] bool: the returned image meets the goal (labels of clean misses count as success, as in AutoAttack)
  at::Tensor clean_pred;   // [N] int64
  at::Tensor adv_pred;     // [N] int64
  at::Tensor linf;         // [N] ||adv - x||_inf
  at::Tensor l2;           // [N] ||adv - x||_2
  at::Tensor queries;      // [N] int64: forward passes of the model that included this sample
  int64_t gradient_calls = 0;  // backward passes through the model (0 for black-box attacks)
  nlohmann::json details;      // attack-specific extras for reports (autoattack: its stages), or null
};

class Attack {
 public:
  virtual ~Attack() = default;
  // `labels` are the true classes [N]; `goal` says what counts as success.
  virtual AttackResult run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) = 0;
  virtual std::string name() const = 0;
  // The options as resolved (defaults filled in), for reports.
  virtual nlohmann::json options_json() const = 0;
  // True for attacks that only use model outputs (a test proves they never call backward).
  virtual bool black_box() const { return false; }
  // Random choices (random start, Square's windows, ...) come from this seed, advanced by each run.
  // Ensembles override it to seed their members too.
  virtual void set_seed(uint64_t seed);
  uint64_t seed() const { return seed_; }

 protected:
  at::Generator& generator();

 private:
  uint64_t seed_ = 0;
  at::Generator generator_;
};

// ---- building attacks by name --------------------------------------------------------------

// Reads an attack's parameters from JSON: numbers may be given as strings with fractions
// ("8/255"). Every key must be consumed; finish() throws UsageError naming unknown ones.
class AttackParams {
 public:
  AttackParams(nlohmann::json params, std::string attack);
  double number(const std::string& key, double fallback);
  double positive(const std::string& key, double fallback);  // > 0, finite
  int64_t integer(const std::string& key, int64_t fallback, int64_t min_value);
  bool flag(const std::string& key, bool fallback);
  std::string choice(const std::string& key, const std::string& fallback, const std::vector<std::string>& allowed);
  std::string text(const std::string& key, const std::string& fallback);
  Norm norm(Norm fallback, const std::vector<Norm>& allowed);
  // "eps" (> 0), whose default depends on the threat model: `linf`, `l2` or `l1` for `norm`.
  double eps(Norm norm, double linf, double l2, double l1 = 0.0);
  void finish();
  const std::string& attack() const { return attack_; }

 private:
  const nlohmann::json* take(const std::string& key);
  nlohmann::json params_;
  std::string attack_;
  std::vector<std::string> used_;
};

struct AttackInfo {
  std::string name;
  std::string summary;
  bool black_box;
  std::function<std::unique_ptr<Attack>(AttackParams&)> make;
};

// Every attack mirage has, by name (attacks/registry.cpp lists them).
const std::vector<AttackInfo>& attack_registry();
// Builds attack `name` from JSON parameters; unknown names or parameters are UsageErrors.
std::unique_ptr<Attack> make_attack(const std::string& name, const nlohmann::json& params);

// `key=value` pairs set on `params`, values kept as strings (the attack's parameter reader parses
// numbers, fractions and booleans and names the parameter it cannot); `what` names the flag in
// the UsageError for a pair without '=' or key. `mirage attack -p` and the spec below use it.
void set_param_pairs(nlohmann::json& params, const std::vector<std::string>& pairs, const std::string& what);

// An attack written on one line, "NAME[:key=value,...]" (e.g. "pgd:eps=8/255,steps=10"), as
// train-detector's --attack takes it. `text` is kept as written: reports key results by it.
struct AttackSpec {
  std::string text, name;
  nlohmann::json params = nlohmann::json::object();
};
AttackSpec parse_attack_spec(const std::string& text);

// ---- shared bookkeeping --------------------------------------------------------------------

at::Tensor clamp_box(const at::Tensor& x);
// A per-sample value [N] viewed as [N,1,1,1], to scale or mask image batches.
inline at::Tensor per_sample(const at::Tensor& v) { return v.view({-1, 1, 1, 1}); }
// Per-sample norms of `delta` [N,...] -> [N].
at::Tensor lp_norms(const at::Tensor& delta, Norm norm);
// Projects each sample of `delta` onto the `norm` ball of radius `eps` (L1 by Duchi et al. 2008).
at::Tensor project_ball(const at::Tensor& delta, Norm norm, double eps);
// A random start inside the ball: Linf uniform in [-eps, eps]; L2 a Gaussian direction scaled
// to a radius uniform in [0, eps] (torchattacks' PGDL2).
at::Tensor random_start(const at::Tensor& x, Norm norm, double eps, at::Generator& gen);
// Uniform / normal noise shaped like `like`, drawn on the CPU from `gen` (so CPU and CUDA runs
// see the same numbers) and moved to `like`'s device.
at::Tensor uniform_like(const at::Tensor& like, at::Generator& gen, double lo = 0.0, double hi = 1.0);
at::Tensor normal_like(const at::Tensor& like, at::Generator& gen);
// Whether `logits`' argmax meets the goal for each sample [N] bool.
at::Tensor goal_met(const at::Tensor& logits, const at::Tensor& labels, const Goal& goal);
// The goal restricted to the samples at `index`.
Goal goal_subset(const Goal& goal, const at::Tensor& index);
// The C&W margin (Carlini & Wagner 2017, f_6, before clamping) per sample: z_c - max_{j!=c} z_j
// (untargeted, c = the label: > 0 while the model still predicts it) or max_{j!=c} z_j - z_c
// (targeted, c = the target). <= 0 exactly when the goal is met, ties aside. Attacks clamp it as
// their papers do (C&W: max(m + kappa, 0); AdvGAN, latent search: max(m, -kappa)).
at::Tensor class_margin(const at::Tensor& logits, const at::Tensor& cls, bool targeted);
// Cross-entropy per sample toward the goal: CE(label) to ascend when untargeted, -CE(target)
// when targeted, so every attack ascends what it gets.
at::Tensor goal_cross_entropy(const at::Tensor& logits, const at::Tensor& labels, const Goal& goal);
// Gradient of sum(loss(model.logits(x))) with respect to x; also returns the logits.
std::pair<at::Tensor, at::Tensor> input_gradient(Model& model, const at::Tensor& x,
                                                 const std::function<at::Tensor(const at::Tensor&)>& loss);

// What every iterative run starts with: the batch on the model's device and the clean logits
// from one forward pass, counted as one query per sample in `result.queries`.
struct AttackStart {
  at::Tensor x, y, clean_logits;
  AttackResult result;  // clean_pred and queries filled in
};
AttackStart start_attack(Model& model, const at::Tensor& images, const at::Tensor& labels);

// The samples still to attack, gathered into a smaller batch: what every attack with restarts,
// target classes or stages runs on (only samples no earlier pass broke are attacked again).
struct PendingSubset {
  at::Tensor index;  // [K] long: positions in the full batch
  at::Tensor x, y;   // [K, ...] the images and labels at `index`
  Goal goal;         // the goal restricted to `index`
  int64_t size() const { return index.numel(); }
};
// The subset where `pending` [N] bool holds.
PendingSubset pending_subset(const at::Tensor& pending, const at::Tensor& x, const at::Tensor& y, const Goal& goal);
// Writes back a pass over a subset: `into`[index[i]] = values[i] for every i where `take` [K]
// holds (undefined `take`: every i). Returns the positions written, in the full batch.
at::Tensor merge_subset(at::Tensor& into, const at::Tensor& index, const at::Tensor& values,
                        const at::Tensor& take = {});

// Batch compaction (docs/attacks.md, "Batch compaction"): the rows an iterative attack still
// steps. Compacting, a row that finishes leaves the batch, and every per-row state tensor is
// gathered down to the rows still running, so a finished sample costs no more forward or
// backward passes. Not compacting (the baseline a benchmark compares with, and what the
// reference implementations cost), every row stays in the batch and a finished one is frozen by
// masking. Per-sample results are the same either way, up to float rounding from batch size.
class ActiveRows {
 public:
  ActiveRows(int64_t n, c10::Device device, bool compact);
  // [K] long: the rows in the batch now, as positions 0..n-1 of the run's batch.
  const at::Tensor& index() const { return index_; }
  // [K] bool: which of them still step (all true when compacting).
  const at::Tensor& running() const { return running_; }
  int64_t size() const { return index_.numel(); }
  bool compact() const { return compact_; }
  // `next` where a row still steps, `current` where it is frozen ([K, ...] both).
  at::Tensor step(const at::Tensor& next, const at::Tensor& current) const;
  // The rows where `finished` [K] bool holds stop stepping (the caller has written out what it
  // keeps of them). Compacting, each defined tensor in `state` ([K, ...], or [..., K] when
  // listed in `state_dim1`) is narrowed to the rows that stay. Returns whether any row still runs.
  bool retire(const at::Tensor& finished, std::initializer_list<at::Tensor*> state,
              std::initializer_list<at::Tensor*> state_dim1 = {});

 private:
  bool compact_;
  bool frozen_ = false;  // not compacting: some row is frozen, so step() must mask
  at::Tensor index_, running_;
};

// The classes ranked 2nd, 3rd, ... by clean logit, one [N] long tensor per rank, at most
// `count` of them (fewer when the model has fewer classes): the targets of APGD-T and FAB-T.
std::vector<at::Tensor> runner_up_targets(const at::Tensor& clean_logits, int64_t count);

// ---- memory --------------------------------------------------------------------------------

// `attack.run`, where an out-of-memory error halves the batch and runs each half in turn, down
// to one sample (where it becomes an InputError naming the model, the device and its free
// memory); the halves' results are joined in batch order. A split batch draws other random
// numbers than the whole would (the attack's generator is not rewound), so a run that split is
// reproducible only where it splits again. `splits` (if given) counts the halvings.
AttackResult run_splitting_on_oom(Attack& attack, Model& model, const at::Tensor& images, const at::Tensor& labels,
                                  const Goal& goal, int64_t* splits = nullptr);

// `--batch-size auto`: the largest of cap, cap/2, ... for which a forward and backward pass on
// copies of `sample` ([1, C, H, W] or [N, ...], its first image used) fits on the model's
// device; out of memory at batch 1 is the InputError above.
int64_t probe_batch_size(Model& model, const at::Tensor& sample, int64_t cap);
// The cap `auto` starts from: 1024 on CUDA, 128 on the CPU (where larger batches do not run
// faster and only grow the resident set).
int64_t auto_batch_cap(c10::Device device);

// Fills success, predictions and norms of `result.adversarial` by one more forward pass (not
// counted in queries), so that what is reported is what the image does.
void finalize_result(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal,
                     AttackResult& result);

}  // namespace mirage
