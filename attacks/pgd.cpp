#include "attacks/pgd.h"

#include <torch/torch.h>

namespace mirage {

nlohmann::json Pgd::options_json() const {
  return {{"norm", norm_name(options_.norm)}, {"eps", options_.eps},           {"alpha", options_.alpha},
          {"steps", options_.steps},          {"restarts", options_.restarts}, {"random_start", options_.random_start},
          {"early_stop", options_.early_stop}, {"compact", options_.compact}};
}

AttackResult Pgd::run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) {
  const auto& o = options_;
  auto start = start_attack(model, images, labels);
  auto& x = start.x;
  auto& y = start.y;
  auto& r = start.result;
  const int64_t n = x.size(0);
  auto long_opts = torch::TensorOptions().dtype(torch::kLong).device(x.device());
  auto best = x.clone();
  auto found = torch::zeros({n}, torch::TensorOptions().dtype(torch::kBool).device(x.device()));

  for (int64_t restart = 0; restart < o.restarts; ++restart) {
    // Only samples no earlier restart broke are attacked again.
    auto a = pending_subset(~found, x, y, goal);
    if (a.size() == 0) break;
    const auto& active = a.index;
    auto adv_out = a.x.clone();  // this restart's result per sample of the subset
    // The rows still stepping (with early stop, those not adversarial yet) and their state.
    ActiveRows rows(a.size(), x.device(), o.compact);
    auto xa = a.x, ya = a.y;
    auto ga = a.goal;
    auto adv = xa.clone();
    if (o.random_start) adv = clamp_box(xa + random_start(xa, o.norm, o.eps, generator()));
    auto steps_taken = torch::zeros({a.size()}, long_opts);  // forward passes per sample
    for (int64_t step = 0; step < o.steps; ++step) {
      auto [grad, logits] = input_gradient(model, adv, [&](const at::Tensor& l) { return goal_cross_entropy(l, ya, ga); });
      r.gradient_calls += 1;
      torch::NoGradGuard g;
      steps_taken.index_add_(0, rows.index(), rows.running().to(torch::kLong));
      if (o.early_stop) {
        // A sample stops at its first adversarial iterate, which is what it returns.
        auto met = goal_met(logits, ya, ga);
        merge_subset(adv_out, rows.index(), adv, met & rows.running());
        if (!rows.retire(met, {&adv, &grad, &xa, &ya, &ga.targets})) break;
      }
      at::Tensor step_dir;
      if (o.norm == Norm::kLinf) {
        step_dir = grad.sign();
      } else {
        step_dir = grad / lp_norms(grad, Norm::kL2).clamp_min(1e-12).view({-1, 1, 1, 1});
      }
      adv = rows.step(clamp_box(xa + project_ball(adv + o.alpha * step_dir - xa, o.norm, o.eps)), adv);
    }
    merge_subset(adv_out, rows.index(), adv, rows.running());
    r.queries.index_add_(0, active, steps_taken);
    torch::NoGradGuard g;
    auto met = goal_met(model.logits(adv_out), a.y, a.goal);
    r.queries.index_add_(0, active, torch::ones_like(active));
    // Keep this restart's iterate where it succeeded, or where nothing has succeeded yet.
    auto take = met | ~found.index_select(0, active);
    merge_subset(best, active, adv_out, take);
    found.index_copy_(0, active, found.index_select(0, active) | met);
  }
  r.adversarial = best;
  finalize_result(model, images, labels, goal, r);
  return r;
}

namespace {
PgdOptions read_pgd(AttackParams& p, bool bim) {
  PgdOptions o;
  o.norm = p.norm(Norm::kLinf, {Norm::kLinf, Norm::kL2});
  // L2: torchattacks' PGDL2 defaults.
  o.eps = p.eps(o.norm, o.eps, 1.0);
  o.alpha = p.positive("alpha", o.norm == Norm::kL2 ? 0.2 : o.alpha);
  o.steps = p.integer("steps", o.steps, 1);
  o.restarts = p.integer("restarts", o.restarts, 1);
  o.random_start = p.flag("random_start", !bim);
  o.early_stop = p.flag("early_stop", o.early_stop);
  o.compact = p.flag("compact", o.compact);
  return o;
}
}  // namespace

std::unique_ptr<Attack> make_pgd(AttackParams& p) { return std::make_unique<Pgd>(read_pgd(p, false)); }
std::unique_ptr<Attack> make_bim(AttackParams& p) { return std::make_unique<Pgd>(read_pgd(p, true), "bim"); }

}  // namespace mirage
