#include "attacks/deepfool.h"

#include <torch/torch.h>

#include <limits>

#include "lib/error.h"

namespace mirage {

nlohmann::json DeepFool::options_json() const {
  return {{"norm", norm_name(options_.norm)},
          {"steps", options_.steps},
          {"overshoot", options_.overshoot},
          {"candidates", options_.candidates == 0 ? nlohmann::json("all") : nlohmann::json(options_.candidates)}};
}

namespace {

// The classes each sample's boundary is sought against [N, M]: untargeted, the M = candidates-1
// classes other than the label with the highest clean logits (foolbox ranks by clean logits);
// targeted, the target alone.
at::Tensor candidate_classes(const at::Tensor& clean_logits, const at::Tensor& y, const Goal& goal,
                             int64_t candidates) {
  if (goal.targeted) return goal.targets.view({-1, 1});
  const int64_t k = clean_logits.size(1);
  const int64_t m = (candidates == 0 ? k : std::min(candidates, k)) - 1;
  auto others = clean_logits.scatter(1, y.view({-1, 1}), -std::numeric_limits<double>::infinity());
  return std::get<1>(others.topk(m, 1));
}

}  // namespace

AttackResult DeepFool::run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) {
  const auto& o = options_;
  auto start = start_attack(model, images, labels);
  auto& x = start.x;
  auto& y = start.y;
  auto& r = start.result;
  if (!goal.targeted && start.clean_logits.size(1) < 2) throw UsageError("deepfool needs a model with >= 2 classes");
  auto classes = candidate_classes(start.clean_logits, y, goal, o.candidates);
  auto adv = x.clone();
  auto r_tot = torch::zeros_like(x);
  // Samples whose goal already holds are never moved (foolbox leaves adversarial inputs alone).
  auto done = goal_met(start.clean_logits, y, goal);

  for (int64_t step = 0; step < o.steps; ++step) {
    auto active = (~done).nonzero().squeeze(1);
    if (active.numel() == 0) break;
    auto xa = adv.index_select(0, active).detach().requires_grad_(true);
    auto ya = y.index_select(0, active);
    auto ga = goal_subset(goal, active);
    auto ca = classes.index_select(0, active);
    at::Tensor logits;
    {
      torch::AutoGradMode enable(true);
      logits = model.logits(xa);
    }
    r.queries.index_add_(0, active, torch::ones_like(active));
    auto met = goal_met(logits.detach(), ya, ga);
    done.index_copy_(0, active, met);
    if (met.all().item<bool>()) break;

    // Reference class: the label (untargeted, where it is still the prediction), or the current
    // prediction (targeted).
    auto ref = ga.targeted ? logits.detach().argmax(1) : ya;
    auto z_ref = logits.gather(1, ref.view({-1, 1})).squeeze(1);
    const int64_t na = xa.size(0);
    auto best_dist = torch::full({na}, std::numeric_limits<double>::infinity(), x.options());
    auto best_w = torch::zeros_like(xa);
    auto best_wnorm = torch::ones({na}, x.options());
    const int64_t m = ca.size(1);
    for (int64_t j = 0; j < m; ++j) {
      at::Tensor f, w;
      {
        torch::AutoGradMode enable(true);
        f = logits.gather(1, ca.select(1, j).view({-1, 1})).squeeze(1) - z_ref;
        w = torch::autograd::grad({f.sum()}, {xa}, {}, /*retain_graph=*/j + 1 < m)[0];
      }
      r.gradient_calls += 1;
      torch::NoGradGuard g;
      // The dual norm of the attack's norm measures the distance to the linearised boundary.
      auto w_norm = lp_norms(w, o.norm == Norm::kL2 ? Norm::kL2 : Norm::kL1) + 1e-8;
      auto dist = f.detach().abs() / w_norm;
      auto better = dist < best_dist;
      best_dist = torch::where(better, dist, best_dist);
      best_w = torch::where(per_sample(better), w, best_w);
      best_wnorm = torch::where(better, w_norm, best_wnorm);
    }
    torch::NoGradGuard g;
    auto moving = (~met).nonzero().squeeze(1);
    auto index = active.index_select(0, moving);
    auto dist = best_dist.index_select(0, moving) + 1e-4;  // as the references, for numerical stability
    auto w = best_w.index_select(0, moving);
    auto r_step = o.norm == Norm::kL2 ? per_sample(dist / best_wnorm.index_select(0, moving)) * w
                                      : per_sample(dist) * w.sign();
    r_tot.index_add_(0, index, r_step);
    auto x_next = clamp_box(x.index_select(0, index) + (1.0 + o.overshoot) * r_tot.index_select(0, index));
    adv.index_copy_(0, index, x_next);
  }
  r.adversarial = adv;
  finalize_result(model, images, labels, goal, r);
  return r;
}

std::unique_ptr<Attack> make_deepfool(AttackParams& p) {
  DeepFoolOptions o;
  o.norm = p.norm(o.norm, {Norm::kL2, Norm::kLinf});
  o.steps = p.integer("steps", o.steps, 1);
  o.overshoot = p.number("overshoot", o.overshoot);
  if (o.overshoot < 0) {
    throw UsageError("deepfool parameter 'overshoot' must be >= 0, got " + std::to_string(o.overshoot));
  }
  o.candidates = p.integer("candidates", o.candidates, 0);
  if (o.candidates == 1) throw UsageError("deepfool parameter 'candidates' must be >= 2 (or 0 for all classes)");
  return std::make_unique<DeepFool>(o);
}

}  // namespace mirage
