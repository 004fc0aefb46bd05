// attacks/apgd.h — Auto-PGD (Croce & Hein, ICML 2020, "Reliable evaluation of adversarial
// robustness with an ensemble of diverse parameter-free attacks"), Linf and L2, with the
// cross-entropy (APGD-CE) or difference-of-logits-ratio (APGD-DLR) loss, untargeted or
// targeted (APGD-T: DLR-targeted against the top `target_classes` other classes in turn).
//
// As the reference autopgd_base.py: start at x + eps * t/||t|| (t uniform in [-1,1] for Linf,
// Gaussian for L2); step size 2*eps; momentum alpha = 0.75 after the first step; at the
// checkpoints w_j = ceil(p_j * n_iter), p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1}
// - 0.03, 0.06), a sample's step size is halved and it restarts from its best point when fewer
// than rho = 0.75 of the steps since the last checkpoint increased its loss, or when its step
// was not halved at the last checkpoint and its best loss did not improve. Only samples the
// model classifies correctly are attacked; a sample never made adversarial is returned
// unchanged (as the reference does), so its perturbation norm is 0.
#pragma once
#include "attacks/attack.h"

namespace mirage {

struct ApgdOptions {
  Norm norm = Norm::kLinf;
  double eps = 8.0 / 255;
  int64_t steps = 100;     // n_iter
  int64_t restarts = 1;    // n_restarts
  std::string loss = "ce"; // ce | dlr
  double rho = 0.75;
  int64_t target_classes = 9;  // targeted mode (APGD-T): how many runner-up classes to try
  // A sample stops at its first adversarial iterate and returns it. On by default: which
  // samples are broken is the same as without it (the reference keeps stepping a broken sample
  // and returns its latest adversarial iterate; set false for that).
  bool early_stop = true;
  bool compact = true;  // as PgdOptions::compact
};

class Apgd final : public Attack {
 public:
  Apgd(ApgdOptions options, bool targeted, std::string name)
      : options_(std::move(options)), targeted_(targeted), name_(std::move(name)) {}
  // `goal`: untargeted, or targeted with explicit targets. With targeted_ (apgd-t) and an
  // untargeted goal, targets are the top classes by clean logit, as the reference APGD-T.
  AttackResult run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) override;
  std::string name() const override { return name_; }
  nlohmann::json options_json() const override;

 private:
  // One run of n_iter steps on the samples given: `goal` drives the loss, `success_goal` says
  // what counts as adversarial (they differ in APGD-T). Returns, where `found` is true, the
  // latest iterate that met the success goal (the reference's x_best_adv).
  at::Tensor single_run(Model& model, const at::Tensor& x, const at::Tensor& y, const Goal& goal,
                        const Goal& success_goal, at::Tensor& found, at::Tensor& queries, int64_t& gradient_calls);
  ApgdOptions options_;
  bool targeted_;
  std::string name_;
};

// The iterations (1-based counts of steps done) after which APGD checks its step size.
std::vector<int64_t> apgd_checkpoints(int64_t steps);

// Difference-of-logits-ratio loss per sample (to ascend): untargeted
// -(z_y - max_{i!=y} z_i) / (z_pi1 - z_pi3); targeted -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4)/2).
at::Tensor dlr_loss(const at::Tensor& logits, const at::Tensor& labels, const Goal& goal);

std::unique_ptr<Attack> make_apgd_ce(AttackParams& p);
std::unique_ptr<Attack> make_apgd_dlr(AttackParams& p);
std::unique_ptr<Attack> make_apgd_t(AttackParams& p);

}  // namespace mirage
