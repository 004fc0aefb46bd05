// attacks/hop_skip_jump.cpp — HopSkipJumpAttack (Chen et al., S&P 2020), after the authors'
// hsja.py (initialize, binary_search_batch, approximate_gradient,
// geometric_progression_for_stepsize, select_delta), vectorised over the batch.
#include "attacks/hop_skip_jump.h"

#include <torch/torch.h>

#include <cmath>

namespace mirage {

namespace {

// Most images one forward pass gets (gradient probes of several samples share a pass).
constexpr int64_t kMaxImagesPerForward = 4096;


// The decision function phi: whether the model's argmax on each image meets the goal of the
// sample owning it. Counts one query per image against its owner's budget.
class Oracle {
 public:
  Oracle(Model& model, const at::Tensor& y, const Goal& goal, int64_t budget)
      : model_(model), y_(y), goal_(goal), budget_(budget),
        used_(torch::zeros({y.size(0)}, torch::TensorOptions().dtype(torch::kLong).device(y.device()))) {}

  at::Tensor decide(const at::Tensor& images, const at::Tensor& owner) {
    torch::NoGradGuard no_grad;
    std::vector<at::Tensor> out;
    for (int64_t i = 0; i < images.size(0); i += kMaxImagesPerForward) {
      const int64_t m = std::min(kMaxImagesPerForward, images.size(0) - i);
      auto own = owner.narrow(0, i, m);
      auto logits = model_.logits(clamp_box(images.narrow(0, i, m)));
      out.push_back(goal_met(logits, y_.index_select(0, own), goal_subset(goal_, own)));
    }
    used_.index_add_(0, owner, torch::ones_like(owner));
    return torch::cat(out);
  }
  // Samples of `rows` with at least `k` queries left.
  at::Tensor can_pay(const at::Tensor& rows, int64_t k) const { return (budget_ - used_.index_select(0, rows)) >= k; }
  const at::Tensor& used() const { return used_; }

 private:
  Model& model_;
  at::Tensor y_;
  Goal goal_;
  int64_t budget_;
  at::Tensor used_;
};

}  // namespace

nlohmann::json HopSkipJump::options_json() const {
  const auto& o = options_;
  return {{"norm", norm_name(o.norm)},     {"queries", o.queries},       {"steps", o.steps},
          {"gamma", o.gamma},              {"init_evals", o.init_evals}, {"max_evals", o.max_evals},
          {"init_attempts", o.init_attempts}};
}

AttackResult HopSkipJump::run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) {
  const auto& o = options_;
  const bool l2 = o.norm == Norm::kL2;
  auto start = start_attack(model, images, labels);
  auto& x = start.x;
  auto& r = start.result;
  const int64_t n = x.size(0);
  const auto d = static_cast<double>(x[0].numel());
  const double theta = l2 ? o.gamma / (d * std::sqrt(d)) : o.gamma / (d * d);
  auto& gen = generator();
  auto f64 = x.options().dtype(torch::kDouble);
  auto long_opts = torch::TensorOptions().dtype(torch::kLong).device(x.device());
  Oracle oracle(model, start.y, goal, o.queries);
  torch::NoGradGuard no_grad;
  auto distance = [&](const at::Tensor& a, const at::Tensor& rows) {
    return lp_norms(a - x.index_select(0, rows), o.norm).to(torch::kDouble);
  };
  // The reference's project(): blend (L2) or clip into the Linf ball of radius alpha (Linf).
  auto project = [&](const at::Tensor& xs, const at::Tensor& perturbed, const at::Tensor& alphas) {
    auto a = per_sample(alphas.to(x.scalar_type()));
    if (l2) return (1 - a) * xs + a * perturbed;
    return torch::min(torch::max(perturbed, xs - a), xs + a);
  };
  // binary_search_batch for one perturbed image per sample of `rows`: returns the point at
  // `highs` (on the goal side) and the distance of `perturbed` before the search. The point
  // returned is the very image last judged to meet the goal (`perturbed` if none was), not a
  // recomputation of project(highs) that could round across the boundary.
  auto boundary_search = [&](const at::Tensor& perturbed, const at::Tensor& rows) {
    auto xs = x.index_select(0, rows);
    auto dist_post_update = distance(perturbed, rows);
    const int64_t m = rows.numel();
    auto highs = l2 ? torch::ones({m}, f64) : dist_post_update.clone();
    auto thresholds = l2 ? torch::full({m}, theta, f64) : (dist_post_update * theta).clamp_max(theta);
    auto lows = torch::zeros({m}, f64);
    auto out = perturbed.clone();
    while (true) {
      auto sel = (((highs - lows) / thresholds > 1) & oracle.can_pay(rows, 1)).nonzero().squeeze(1);
      if (sel.numel() == 0) break;
      auto mids = (highs.index_select(0, sel) + lows.index_select(0, sel)) / 2.0;
      auto mid_images = project(xs.index_select(0, sel), perturbed.index_select(0, sel), mids);
      auto ok = oracle.decide(mid_images, rows.index_select(0, sel));
      lows.index_copy_(0, sel, torch::where(ok, lows.index_select(0, sel), mids));
      highs.index_copy_(0, sel, torch::where(ok, mids, highs.index_select(0, sel)));
      out.index_copy_(0, sel.masked_select(ok), mid_images.index_select(0, ok.nonzero().squeeze(1)));
    }
    return std::make_pair(out, dist_post_update);
  };

  r.adversarial = x.clone();
  auto dist = torch::zeros({n}, f64), dist_post_update = torch::zeros({n}, f64);

  // initialize(): uniform noise until it meets the goal, then blend it toward x by binary search.
  auto searching = ~goal_met(start.clean_logits, start.y, goal);
  auto found = torch::zeros({n}, long_opts.dtype(torch::kBool));
  auto noise = torch::zeros_like(x);
  auto all = torch::arange(n, long_opts);
  for (int64_t attempt = 0; attempt < o.init_attempts; ++attempt) {
    auto draw = uniform_like(x, gen);
    auto sel = (searching & oracle.can_pay(all, 1)).nonzero().squeeze(1);
    if (sel.numel() == 0) break;
    auto hit = sel.masked_select(oracle.decide(draw.index_select(0, sel), sel));
    noise.index_copy_(0, hit, draw.index_select(0, hit));
    found.index_fill_(0, hit, true);
    searching.index_fill_(0, hit, false);
  }
  auto rows = found.nonzero().squeeze(1);
  if (rows.numel() > 0) {
    auto xs = x.index_select(0, rows), ns = noise.index_select(0, rows);
    auto low = torch::zeros({rows.numel()}, f64), high = torch::ones({rows.numel()}, f64);
    auto blended = ns.clone();  // (1 - high) * x + high * noise, as judged
    for (double width = 1.0; width > 0.001; width /= 2.0) {
      auto sel = oracle.can_pay(rows, 1).nonzero().squeeze(1);
      if (sel.numel() == 0) break;
      auto mid = (high.index_select(0, sel) + low.index_select(0, sel)) / 2.0;
      auto m = per_sample(mid.to(x.scalar_type()));
      auto mid_images = (1 - m) * xs.index_select(0, sel) + m * ns.index_select(0, sel);
      auto ok = oracle.decide(mid_images, rows.index_select(0, sel));
      high.index_copy_(0, sel, torch::where(ok, mid, high.index_select(0, sel)));
      low.index_copy_(0, sel, torch::where(ok, low.index_select(0, sel), mid));
      blended.index_copy_(0, sel.masked_select(ok), mid_images.index_select(0, ok.nonzero().squeeze(1)));
    }
    auto [adv, post] = boundary_search(blended, rows);
    r.adversarial.index_copy_(0, rows, adv);
    dist_post_update.index_copy_(0, rows, post);
    dist.index_copy_(0, rows, distance(adv, rows));
  }

  for (int64_t t = 1; t <= o.steps; ++t) {
    const int64_t num_evals =
        std::min(static_cast<int64_t>(static_cast<double>(o.init_evals) * std::sqrt(static_cast<double>(t))), o.max_evals);
    auto alive = found.nonzero().squeeze(1);
    alive = alive.masked_select(oracle.can_pay(alive, num_evals + 1));
    const int64_t m = alive.numel();
    if (m == 0) break;
    auto current = r.adversarial.index_select(0, alive);
    // select_delta(): probe radius at the scale of the last distance.
    auto delta = t == 1 ? torch::full({m}, 0.1, f64)
                        : dist_post_update.index_select(0, alive) * (l2 ? std::sqrt(d) * theta : d * theta);

    // approximate_gradient(): Monte-Carlo estimate of the boundary normal, with the baseline
    // subtracted unless every probe decided the same way.
    std::vector<at::Tensor> grads;
    const int64_t group = std::max<int64_t>(1, kMaxImagesPerForward / num_evals);
    for (int64_t g0 = 0; g0 < m; g0 += group) {
      const int64_t gm = std::min(group, m - g0);
      auto base = current.narrow(0, g0, gm).repeat_interleave(num_evals, 0);
      auto rv = l2 ? normal_like(base, gen) : uniform_like(base, gen, -1.0, 1.0);
      rv = rv / per_sample(lp_norms(rv, Norm::kL2));
      auto dl = per_sample(delta.narrow(0, g0, gm).repeat_interleave(num_evals).to(x.scalar_type()));
      auto probes = clamp_box(base + dl * rv);
      rv = (probes - base) / dl;
      auto ok = oracle.decide(probes, alive.narrow(0, g0, gm).repeat_interleave(num_evals)).view({gm, num_evals});
      auto fval = ok.to(x.scalar_type()) * 2 - 1;
      auto hits = ok.sum(1, true);
      auto same = (hits == 0) | (hits == num_evals);
      fval = torch::where(same, fval, fval - fval.mean(1, true));
      auto sizes = rv.sizes().vec();
      sizes[0] = num_evals;
      sizes.insert(sizes.begin(), gm);
      auto gradf = (fval.view({gm, num_evals, 1, 1, 1}) * rv.view(sizes)).mean(1);
      grads.push_back(gradf / per_sample(lp_norms(gradf, Norm::kL2).clamp_min(1e-12)));
    }
    auto gradf = torch::cat(grads);
    auto update = l2 ? gradf : gradf.sign();

    // geometric_progression_for_stepsize(): halve from dist / sqrt(t) until the step meets the goal.
    auto epsilon = dist.index_select(0, alive) / std::sqrt(static_cast<double>(t));
    auto pending = torch::ones({m}, long_opts.dtype(torch::kBool));
    auto stepped = torch::zeros({m}, long_opts.dtype(torch::kBool));
    auto step_of = [&](const at::Tensor& sel) {
      return current.index_select(0, sel) + per_sample(epsilon.index_select(0, sel).to(x.scalar_type())) * update.index_select(0, sel);
    };
    while (true) {
      auto sel = (pending & oracle.can_pay(alive, 1)).nonzero().squeeze(1);
      if (sel.numel() == 0) break;
      auto ok = oracle.decide(step_of(sel), alive.index_select(0, sel));
      stepped.index_copy_(0, sel, ok);
      pending.index_copy_(0, sel, ~ok);
      epsilon.index_copy_(0, sel, torch::where(ok, epsilon.index_select(0, sel), epsilon.index_select(0, sel) / 2.0));
    }
    auto moved = stepped.nonzero().squeeze(1);
    if (moved.numel() == 0) continue;
    auto moved_rows = alive.index_select(0, moved);
    auto [adv, post] = boundary_search(clamp_box(step_of(moved)), moved_rows);
    r.adversarial.index_copy_(0, moved_rows, adv);
    dist_post_update.index_copy_(0, moved_rows, post);
    dist.index_copy_(0, moved_rows, distance(adv, moved_rows));
  }
  r.queries += oracle.used();
  finalize_result(model, images, labels, goal, r);
  return r;
}

std::unique_ptr<Attack> make_hsj(AttackParams& p) {
  HopSkipJumpOptions o;
  o.norm = p.norm(Norm::kL2, {Norm::kL2, Norm::kLinf});
  o.queries = p.integer("queries", o.queries, 1);
  o.steps = p.integer("steps", o.steps, 1);
  o.gamma = p.positive("gamma", o.gamma);
  o.init_evals = p.integer("init_evals", o.init_evals, 1);
  o.max_evals = p.integer("max_evals", o.max_evals, 1);
  o.init_attempts = p.integer("init_attempts", o.init_attempts, 1);
  return std::make_unique<HopSkipJump>(o);
}

}  // namespace mirage
