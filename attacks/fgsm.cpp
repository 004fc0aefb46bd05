#include "attacks/fgsm.h"

#include <torch/torch.h>

namespace mirage {

AttackResult Fgsm::run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) {
  auto x = images.to(model.device());
  auto y = labels.to(model.device());
  auto [grad, logits] = input_gradient(model, x, [&](const at::Tensor& l) { return goal_cross_entropy(l, y, goal); });
  AttackResult r;
  r.clean_pred = logits.argmax(1);
  r.adversarial = clamp_box(x + options_.eps * grad.sign());
  r.queries = torch::ones({x.size(0)}, torch::TensorOptions().dtype(torch::kLong).device(x.device()));
  r.gradient_calls = 1;
  finalize_result(model, images, labels, goal, r);
  return r;
}

std::unique_ptr<Attack> make_fgsm(AttackParams& p) {
  FgsmOptions o;
  o.eps = p.positive("eps", o.eps);
  return std::make_unique<Fgsm>(o);
}

}  // namespace mirage
