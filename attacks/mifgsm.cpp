#include "attacks/mifgsm.h"

#include <torch/torch.h>

#include "lib/error.h"

namespace mirage {

nlohmann::json MiFgsm::options_json() const {
  return {{"norm", "linf"},
          {"eps", options_.eps},
          {"alpha", options_.alpha},
          {"steps", options_.steps},
          {"decay", options_.decay},
          {"early_stop", options_.early_stop},
          {"compact", options_.compact}};
}

AttackResult MiFgsm::run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) {
  const auto& o = options_;
  auto start = start_attack(model, images, labels);
  auto& x = start.x;
  auto& y = start.y;
  auto& r = start.result;
  const int64_t n = x.size(0);
  auto out = x.clone();
  ActiveRows rows(n, x.device(), o.compact);
  auto xr = x, yr = y;
  auto gr = goal;
  auto adv = x.clone();
  auto momentum = torch::zeros_like(x);
  for (int64_t step = 0; step < o.steps; ++step) {
    auto [grad, logits] = input_gradient(model, adv, [&](const at::Tensor& l) { return goal_cross_entropy(l, yr, gr); });
    r.gradient_calls += 1;
    torch::NoGradGuard g;
    r.queries.index_add_(0, rows.index(), rows.running().to(torch::kLong));
    if (o.early_stop) {
      // As PGD: a sample stops at, and returns, its first adversarial iterate.
      auto met = goal_met(logits, yr, gr);
      merge_subset(out, rows.index(), adv, met & rows.running());
      if (!rows.retire(met, {&adv, &grad, &momentum, &xr, &yr, &gr.targets})) break;
    }
    // Eq. (6): g_{t+1} = mu * g_t + grad / ||grad||_1, with the L1 norm taken as a per-sample
    // mean as torchattacks does (a constant factor, so the same direction). The clamp only
    // guards a zero gradient, whose sign step is 0 either way.
    auto mean_abs = grad.abs().mean({1, 2, 3}, /*keepdim=*/true).clamp_min(1e-12);
    momentum = rows.step(grad / mean_abs + o.decay * momentum, momentum);
    // The same two operations as BIM (attacks/pgd.cpp), so decay 0 reproduces it bit for bit.
    auto moved = adv + o.alpha * momentum.sign();
    adv = rows.step(clamp_box(xr + project_ball(moved - xr, Norm::kLinf, o.eps)), adv);
  }
  merge_subset(out, rows.index(), adv, rows.running());
  r.adversarial = out;
  finalize_result(model, images, labels, goal, r);
  return r;
}

std::unique_ptr<Attack> make_mifgsm(AttackParams& p) {
  MiFgsmOptions o;
  p.norm(Norm::kLinf, {Norm::kLinf});
  o.eps = p.positive("eps", o.eps);
  o.alpha = p.positive("alpha", o.alpha);
  o.steps = p.integer("steps", o.steps, 1);
  o.decay = p.number("decay", o.decay);
  o.early_stop = p.flag("early_stop", o.early_stop);
  o.compact = p.flag("compact", o.compact);
  if (o.decay < 0) throw UsageError("mi-fgsm parameter 'decay' must be >= 0, got " + std::to_string(o.decay));
  return std::make_unique<MiFgsm>(o);
}

}  // namespace mirage
