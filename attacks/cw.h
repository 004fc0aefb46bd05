// attacks/cw.h — Carlini & Wagner L2 (S&P 2017, "Towards evaluating the robustness of neural
// networks"), a minimal-norm attack: no eps bound.
//
// As the authors' l2_attack.py (and foolbox's L2CarliniWagnerAttack): optimise w with Adam,
// x' = (tanh(w) + 1)/2 (w starts at atanh((2x-1)(1-1e-6)) at every binary-search step, with a
// fresh Adam state), minimising ||x' - x||_2^2 + c * f(x'), f = max(z_y - max_{i!=y} z_i, -kappa)
// untargeted, max(max_{i!=t} z_i - z_t, -kappa) targeted. Per sample, c is binary-searched
// (x10 until a first success, then bisection), and the successful iterate with the smallest
// L2 over all steps is returned. A sample never made adversarial is returned unchanged;
// a sample whose clean image already meets the goal (with margin kappa) is not attacked.
#pragma once
#include "attacks/attack.h"

namespace mirage {

struct CwOptions {
  int64_t binary_search_steps = 9;
  int64_t steps = 1000;        // Adam iterations per binary-search step (max_iterations)
  double lr = 0.01;            // Adam learning rate
  double initial_const = 1e-3; // c at the first binary-search step
  double kappa = 0.0;          // confidence margin (>= 0)
  bool abort_early = true;     // stop a search step once the loss stalls
};

class CarliniWagner final : public Attack {
 public:
  explicit CarliniWagner(CwOptions options) : options_(options) {}
  AttackResult run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) override;
  std::string name() const override { return "cw"; }
  nlohmann::json options_json() const override;

 private:
  CwOptions options_;
};

std::unique_ptr<Attack> make_cw(AttackParams& p);

}  // namespace mirage
