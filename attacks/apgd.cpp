#include "attacks/apgd.h"

#include <torch/torch.h>

#include "lib/error.h"

namespace mirage {

std::vector<int64_t> apgd_checkpoints(int64_t steps) {
  // The reference's integer schedule (n_iter_2, size_decr, n_iter_min), which rounds the
  // paper's p_j: for 100 steps 22, 41, 57, 70, 80, 87, 93, 99.
  const int64_t first = std::max<int64_t>(static_cast<int64_t>(0.22 * static_cast<double>(steps)), 1);
  const int64_t decrease = std::max<int64_t>(static_cast<int64_t>(0.03 * static_cast<double>(steps)), 1);
  const int64_t minimum = std::max<int64_t>(static_cast<int64_t>(0.06 * static_cast<double>(steps)), 1);
  std::vector<int64_t> out;
  int64_t k = first, pos = 0;
  while (pos + k <= steps) {
    pos += k;
    out.push_back(pos);
    k = std::max(k - decrease, minimum);
  }
  return out;
}

at::Tensor dlr_loss(const at::Tensor& logits, const at::Tensor& labels, const Goal& goal) {
  const int64_t k = logits.size(1);
  if (k < (goal.targeted ? 4 : 3)) {
    throw UsageError("the DLR loss needs at least " + std::to_string(goal.targeted ? 4 : 3) + " classes, the model has " +
                     std::to_string(k));
  }
  auto sorted = std::get<0>(logits.sort(1));
  auto top = sorted.select(1, k - 1);
  auto z_y = logits.gather(1, labels.view({-1, 1})).squeeze(1);
  if (goal.targeted) {
    auto z_t = logits.gather(1, goal.targets.view({-1, 1})).squeeze(1);
    return -(z_y - z_t) / (top - 0.5 * (sorted.select(1, k - 3) + sorted.select(1, k - 4)) + 1e-12);
  }
  auto y_is_top = logits.argmax(1).eq(labels);
  auto max_other = torch::where(y_is_top, sorted.select(1, k - 2), top);
  return -(z_y - max_other) / (top - sorted.select(1, k - 3) + 1e-12);
}

nlohmann::json Apgd::options_json() const {
  nlohmann::json j = {{"norm", norm_name(options_.norm)}, {"eps", options_.eps},   {"steps", options_.steps},
                      {"restarts", options_.restarts},     {"loss", options_.loss}, {"rho", options_.rho},
                      {"early_stop", options_.early_stop}, {"compact", options_.compact}};
  if (targeted_) j["target_classes"] = options_.target_classes;
  return j;
}

namespace {

// Projection of the reference: onto the eps-ball around x, then into the box.
at::Tensor project(const at::Tensor& x, const at::Tensor& z, Norm norm, double eps) {
  return clamp_box(x + project_ball(z - x, norm, eps));
}

}  // namespace

at::Tensor Apgd::single_run(Model& model, const at::Tensor& x_in, const at::Tensor& y_in, const Goal& goal_in,
                            const Goal& success_goal_in, at::Tensor& found, at::Tensor& queries,
                            int64_t& gradient_calls) {
  const auto& o = options_;
  const int64_t n = x_in.size(0);
  // Per-row state, narrowed as rows retire (ActiveRows); the loss reads the current y and goal.
  auto x = x_in, y = y_in;
  Goal goal = goal_in, success_goal = success_goal_in;
  auto loss_fn = [&](const at::Tensor& logits) {
    return o.loss == "dlr" ? dlr_loss(logits, y, goal) : goal_cross_entropy(logits, y, goal);
  };
  at::Tensor x_adv;
  {
    torch::NoGradGuard g;
    auto t = o.norm == Norm::kLinf ? uniform_like(x, generator(), -1.0, 1.0) : normal_like(x, generator());
    x_adv = clamp_box(x + o.eps * t / per_sample(lp_norms(t, o.norm).clamp_min(1e-12)));
  }
  auto [grad, logits] = input_gradient(model, x_adv, loss_fn);
  gradient_calls += 1;
  queries += 1;
  torch::NoGradGuard no_grad;
  auto loss = loss_fn(logits).detach();
  auto met = goal_met(logits, y, success_goal);
  // The run's results, one row per sample given: whether it was made adversarial, and where.
  found = met.clone();
  auto x_best_adv = x_adv.clone();
  ActiveRows rows(n, x.device(), o.compact);
  auto x_best = x_adv.clone(), grad_best = grad.clone(), loss_best = loss.clone();
  auto step = torch::full({n}, 2.0 * o.eps, x.options());
  auto loss_steps = torch::zeros({n, o.steps}, x.options());  // a row's loss after each step
  auto reduced_last_check = torch::ones({n}, x.options().dtype(torch::kBool));
  auto loss_best_last_check = loss_best.clone();
  auto x_adv_old = x_adv.clone();
  // With early stop a sample leaves at its first adversarial iterate (the reference keeps
  // stepping it and returns its latest one; whether it is broken is the same either way).
  auto retire_met = [&](const at::Tensor& now_met) {
    return !o.early_stop || rows.retire(now_met, {&x, &y, &goal.targets, &success_goal.targets, &x_adv, &x_adv_old,
                                                  &grad, &x_best, &grad_best, &loss_best, &step, &loss_steps,
                                                  &reduced_last_check, &loss_best_last_check});
  };
  if (!retire_met(met)) return x_best_adv;
  auto checkpoints = apgd_checkpoints(o.steps);
  size_t next_check = 0;
  int64_t last_check = 0;

  for (int64_t i = 0; i < o.steps; ++i) {
    auto grad2 = x_adv - x_adv_old;
    x_adv_old = x_adv.clone();
    const double a = i > 0 ? 0.75 : 1.0;
    at::Tensor dir = o.norm == Norm::kLinf ? grad.sign() : grad / per_sample(lp_norms(grad, Norm::kL2) + 1e-12);
    auto z = project(x, x_adv + per_sample(step) * dir, o.norm, o.eps);
    x_adv = rows.step(project(x, x_adv + (z - x_adv) * a + grad2 * (1 - a), o.norm, o.eps), x_adv);

    std::tie(grad, logits) = input_gradient(model, x_adv, loss_fn);
    gradient_calls += 1;
    queries.index_add_(0, rows.index(), rows.running().to(torch::kLong));
    loss = loss_fn(logits);
    met = goal_met(logits, y, success_goal);
    auto fresh = met & rows.running();
    merge_subset(x_best_adv, rows.index(), x_adv, fresh);
    found.index_copy_(0, rows.index(), found.index_select(0, rows.index()) | fresh);
    loss_steps.select(1, i).copy_(loss);
    auto improved = loss > loss_best;
    x_best = torch::where(per_sample(improved), x_adv, x_best);
    grad_best = torch::where(per_sample(improved), grad, grad_best);
    loss_best = torch::where(improved, loss, loss_best);
    if (!retire_met(met)) break;

    if (next_check < checkpoints.size() && i + 1 == checkpoints[next_check]) {
      const int64_t k = i + 1 - last_check;
      const int64_t m = rows.size();
      auto increases = torch::zeros({m}, x.options());
      for (int64_t c = 0; c < k; ++c) {
        // At the first checkpoint the reference compares the first step with row -1 of its
        // zero-initialised history (numpy wraps the index), i.e. with 0.
        auto prev = i - c - 1 >= 0 ? loss_steps.select(1, i - c - 1) : torch::zeros({m}, x.options());
        increases += (loss_steps.select(1, i - c) > prev).to(x.scalar_type());
      }
      auto oscillating = increases <= static_cast<double>(k) * o.rho;
      auto no_improvement = ~reduced_last_check & (loss_best_last_check >= loss_best);
      auto reduce = oscillating | no_improvement;
      reduced_last_check = reduce;
      loss_best_last_check = loss_best.clone();
      step = torch::where(reduce, step / 2.0, step);
      x_adv = rows.step(torch::where(per_sample(reduce), x_best, x_adv), x_adv);
      grad = torch::where(per_sample(reduce), grad_best, grad);
      last_check = i + 1;
      ++next_check;
    }
  }
  return x_best_adv;
}

AttackResult Apgd::run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) {
  const auto& o = options_;
  auto start = start_attack(model, images, labels);
  auto& x = start.x;
  auto& y = start.y;
  auto& r = start.result;
  const auto& clean_logits = start.clean_logits;
  auto long_opts = torch::TensorOptions().dtype(torch::kLong).device(x.device());
  r.adversarial = x.clone();
  // Samples whose goal already holds on the clean image are not attacked (they count as
  // successes, as misclassified points do in AutoAttack).
  auto done = goal_met(clean_logits, y, goal);

  auto attack_pass = [&](const Goal& loss_goal_all) {
    auto a = pending_subset(~done, x, y, goal);
    if (a.size() == 0) return;
    Goal loss_goal = goal_subset(loss_goal_all, a.index);
    at::Tensor found, q = torch::zeros({a.size()}, long_opts);
    auto adv = single_run(model, a.x, a.y, loss_goal, a.goal, found, q, r.gradient_calls);
    r.queries.index_add_(0, a.index, q);
    done.index_fill_(0, merge_subset(r.adversarial, a.index, adv, found), true);
  };

  if (targeted_ && !goal.targeted) {
    // APGD-T: targets are the classes ranked 2nd, 3rd, ... by clean logit.
    for (const auto& targets : runner_up_targets(clean_logits, o.target_classes)) {
      for (int64_t restart = 0; restart < o.restarts; ++restart) attack_pass(Goal::targeted_to(targets));
    }
  } else {
    for (int64_t restart = 0; restart < o.restarts; ++restart) attack_pass(goal);
  }
  finalize_result(model, images, labels, goal, r);
  return r;
}

namespace {
ApgdOptions read_apgd(AttackParams& p, const std::string& loss) {
  ApgdOptions o;
  o.norm = p.norm(Norm::kLinf, {Norm::kLinf, Norm::kL2});
  o.eps = p.eps(o.norm, o.eps, 0.5);
  o.steps = p.integer("steps", o.steps, 1);
  o.restarts = p.integer("restarts", o.restarts, 1);
  o.loss = p.choice("loss", loss, {"ce", "dlr"});
  o.rho = p.positive("rho", o.rho);
  o.early_stop = p.flag("early_stop", o.early_stop);
  o.compact = p.flag("compact", o.compact);
  return o;
}
}  // namespace

std::unique_ptr<Attack> make_apgd_ce(AttackParams& p) {
  return std::make_unique<Apgd>(read_apgd(p, "ce"), false, "apgd-ce");
}
std::unique_ptr<Attack> make_apgd_dlr(AttackParams& p) {
  return std::make_unique<Apgd>(read_apgd(p, "dlr"), false, "apgd-dlr");
}
std::unique_ptr<Attack> make_apgd_t(AttackParams& p) {
  auto o = read_apgd(p, "dlr");
  o.target_classes = p.integer("target_classes", o.target_classes, 1);
  return std::make_unique<Apgd>(o, true, "apgd-t");
}

}  // namespace mirage
