// attacks/deepfool.h — DeepFool (Moosavi-Dezfooli et al., CVPR 2016), L2 and Linf, a
// minimal-norm attack: no eps bound.
//
// As foolbox's DeepFoolAttack (and the authors' code): each iteration linearises the logit
// differences f_k = z_k - z_y around the current iterate (w_k = grad f_k) for the `candidates`
// classes ranked highest on the clean image, picks l = argmin_k |f_k| / ||w_k||_q (q = 2 for
// L2, 1 for Linf), steps r = (|f_l|/||w_l||_2 + 1e-4) * w_l/||w_l||_2 (Linf: (|f_l|/||w_l||_1
// + 1e-4) * sign(w_l)), accumulates r_tot and sets x' = clip(x + (1 + overshoot) * r_tot).
// A sample stops once adversarial; one never made adversarial returns its last iterate.
// Targeted goals (mirage's extension; the references are untargeted only) linearise only
// z_t - z_c, c the currently predicted class.
#pragma once
#include "attacks/attack.h"

namespace mirage {

struct DeepFoolOptions {
  Norm norm = Norm::kL2;
  int64_t steps = 50;
  double overshoot = 0.02;
  int64_t candidates = 0;  // classes considered, the label included; 0 = all classes
};

class DeepFool final : public Attack {
 public:
  explicit DeepFool(DeepFoolOptions options) : options_(options) {}
  AttackResult run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) override;
  std::string name() const override { return "deepfool"; }
  nlohmann::json options_json() const override;

 private:
  DeepFoolOptions options_;
};

std::unique_ptr<Attack> make_deepfool(AttackParams& p);

}  // namespace mirage
