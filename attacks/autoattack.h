// attacks/autoattack.h — the AutoAttack ensemble (Croce & Hein, ICML 2020), standard version:
// APGD-CE → APGD-T → FAB-T → Square, each stage run only on the samples every earlier stage
// left robust, each sample keeping the first adversarial found (autoattack.py's
// run_standard_evaluation). The robust accuracy after every stage is recorded in
// AttackResult::details. Every stage stops a sample once it is broken (APGD's and FAB's
// early_stop; Square stops by design), which cannot change which samples are broken.
#pragma once
#include "attacks/attack.h"

namespace mirage {

struct AutoAttackOptions {
  Norm norm = Norm::kLinf;
  double eps = 8.0 / 255;  // L2: 0.5
  std::vector<std::string> attacks = {"apgd-ce", "apgd-t", "fab-t", "square"};
  int64_t steps = 100;     // APGD and FAB iterations
  int64_t queries = 5000;  // Square's budget per sample
  int64_t target_classes = 9;
  // Batch compaction in every stage (a stage's samples leave its batch once broken). False
  // computes every sample every step, masked: the same results, at the reference's cost.
  bool compact = true;
};

class AutoAttack final : public Attack {
 public:
  explicit AutoAttack(AutoAttackOptions options);
  AttackResult run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) override;
  std::string name() const override { return "autoattack"; }
  nlohmann::json options_json() const override;
  void set_seed(uint64_t seed) override;

 private:
  AutoAttackOptions options_;
  std::vector<std::unique_ptr<Attack>> stages_;
};

// The parameters each stage gets in the standard version (autoattack.py, version='standard').
nlohmann::json autoattack_stage_params(const std::string& stage, const AutoAttackOptions& options);

std::unique_ptr<Attack> make_autoattack(AttackParams& p);

}  // namespace mirage
