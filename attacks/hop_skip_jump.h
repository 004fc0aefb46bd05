// attacks/hop_skip_jump.h — HopSkipJumpAttack (Chen, Jordan & Wainwright, IEEE S&P 2020,
// "HopSkipJumpAttack: a query-efficient decision-based attack"), L2 and Linf.
//
// Decision-based and black-box: only the argmax of model.logits() under NoGradGuard. As the
// reference (Jianbo-Lab/HSJA hsja.py): start from uniform noise that meets the goal, blended
// toward x by binary search; then repeat: binary search to the boundary (threshold
// theta = gamma / d^(3/2) for L2, gamma / d^2 for Linf), estimate the gradient direction at the
// boundary from num_evals = min(init_evals * sqrt(t), max_evals) random probes at radius delta,
// step along it by a geometric search from dist / sqrt(t), and search back to the boundary.
// Minimal-norm: there is no eps; every returned point meets the goal, and its distance shrinks
// with the iterations. A sample with no adversarial start returns unchanged, success false.
//
// Queries: every image the model sees is one query of its sample (gradient probes included).
// `queries` bounds the attack's own queries per sample; result.queries adds the clean pass, so a
// sample costs at most 1 + queries. A new iteration starts only with num_evals + 1 queries left.
#pragma once
#include "attacks/attack.h"

namespace mirage {

struct HopSkipJumpOptions {
  Norm norm = Norm::kL2;
  int64_t queries = 10000;       // budget per sample
  int64_t steps = 64;            // num_iterations
  double gamma = 1.0;            // binary-search threshold scale
  int64_t init_evals = 100;      // gradient probes at iteration 1
  int64_t max_evals = 10000;     // cap on gradient probes per iteration
  int64_t init_attempts = 100;   // uniform-noise draws tried for the adversarial start
};

class HopSkipJump final : public Attack {
 public:
  explicit HopSkipJump(HopSkipJumpOptions options) : options_(options) {}
  AttackResult run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) override;
  std::string name() const override { return "hsj"; }
  nlohmann::json options_json() const override;
  bool black_box() const override { return true; }

 private:
  HopSkipJumpOptions options_;
};

std::unique_ptr<Attack> make_hsj(AttackParams& p);

}  // namespace mirage
