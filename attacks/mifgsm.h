// attacks/mifgsm.h — Momentum Iterative FGSM (Dong et al., CVPR 2018, "Boosting adversarial
// attacks with momentum"), Linf.
//
// As torchattacks' MIFGSM: start at x (no random start); each step normalises the CE gradient
// by its per-sample mean absolute value, accumulates g = g/mean|g| + decay * g_prev, moves
// alpha * sign(g), projects onto the eps-ball around x and clamps to [0,1]. Targeted: descends
// CE(target). With decay 0 it is BIM. A failed sample returns its last iterate; with early_stop
// (the default, as PGD's) a sample stops at its first adversarial iterate and returns it.
#pragma once
#include "attacks/attack.h"

namespace mirage {

struct MiFgsmOptions {
  double eps = 8.0 / 255;    // Linf, [0,1] pixel units
  double alpha = 2.0 / 255;  // step size
  int64_t steps = 10;
  double decay = 1.0;        // momentum factor mu (>= 0; 0 gives BIM)
  bool early_stop = true;    // as PgdOptions::early_stop (false: torchattacks' last iterate)
  bool compact = true;       // as PgdOptions::compact
};

class MiFgsm final : public Attack {
 public:
  explicit MiFgsm(MiFgsmOptions options) : options_(options) {}
  AttackResult run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) override;
  std::string name() const override { return "mi-fgsm"; }
  nlohmann::json options_json() const override;

 private:
  MiFgsmOptions options_;
};

std::unique_ptr<Attack> make_mifgsm(AttackParams& p);

}  // namespace mirage
