// attacks/fgsm.h — Fast Gradient Sign Method (Goodfellow et al., ICLR 2015).
// x_adv = clip_[0,1](x + eps * sign(grad_x CE)), one step; targeted steps down CE(target).
#pragma once
#include "attacks/attack.h"

namespace mirage {

struct FgsmOptions {
  double eps = 8.0 / 255;  // Linf, [0,1] pixel units
};

class Fgsm final : public Attack {
 public:
  explicit Fgsm(FgsmOptions options) : options_(options) {}
  AttackResult run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) override;
  std::string name() const override { return "fgsm"; }
  nlohmann::json options_json() const override { return {{"norm", "linf"}, {"eps", options_.eps}}; }  // Linf only

 private:
  FgsmOptions options_;
};

std::unique_ptr<Attack> make_fgsm(AttackParams& p);

}  // namespace mirage
