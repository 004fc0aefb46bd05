#include "attacks/fab.h"

#include <torch/torch.h>

#include <limits>

#include "lib/error.h"

namespace mirage {

namespace {

// Row-wise sums of the entries before / after each entry (no subtraction, so a run of zeros
// sums to exactly 0).
at::Tensor sum_before(const at::Tensor& v) {
  return torch::cat({torch::zeros({v.size(0), 1}, v.options()), v.cumsum(1).narrow(1, 0, v.size(1) - 1)}, 1);
}
at::Tensor sum_after(const at::Tensor& v) {
  auto inclusive = v.flip({1}).cumsum(1).flip({1});
  return torch::cat({inclusive.narrow(1, 1, v.size(1) - 1), torch::zeros({v.size(0), 1}, v.options())}, 1);
}

// The norm dual to `norm`, per row: the distance of a point to the hyperplane f + g.(z - x) = 0
// is |f| / ||g||_dual.
at::Tensor dual_norms(const at::Tensor& g, Norm norm) {
  switch (norm) {
    case Norm::kLinf: return lp_norms(g, Norm::kL1);
    case Norm::kL2: return lp_norms(g, Norm::kL2);
    case Norm::kL1: return lp_norms(g, Norm::kLinf);
  }
  return {};
}

}  // namespace

at::Tensor fab_projection(const at::Tensor& t, const at::Tensor& w_in, const at::Tensor& b, Norm norm) {
  // Orient each row so that c = w.t - b >= 0: the projection lowers w.z by c. Every coordinate
  // then moves (if at all) in the direction -sign(w_i), by at most room_i before leaving the box;
  // `amount` is how far it moves. Coordinates with w_i ~ 0 never move (the reference's masks).
  auto c = (w_in * t).sum(1, true) - b.unsqueeze(1);
  auto w = w_in * ((c >= 0).to(w_in.scalar_type()) * 2 - 1);
  c = c.abs();
  auto aw = w.abs();
  if (norm != Norm::kLinf) aw = aw * (aw > 1e-8);
  auto room = torch::where(w < 0, 1 - t, t).clamp_min(0);
  // The largest decrease the box allows; where it does not reach c, every coordinate goes
  // all the way (the corner of the box nearest the hyperplane), as in the reference.
  auto feasible = c < (aw * room).sum(1, true);

  at::Tensor amount;
  switch (norm) {
    case Norm::kLinf: {
      // amount_i = min(lambda, room_i) with the smallest lambda such that
      // g(lambda) = sum_i |w_i| min(lambda, room_i) = c. With rooms sorted descending, on
      // [room_(k+1), room_(k)] g(lambda) = lambda S_k + R_k (S_k: |w| of the first k+1,
      // R_k: |w| room of the rest), and G_k = g(room_(k)) decreases with k.
      auto sorted = torch::sort(room, /*stable=*/true, 1, /*descending=*/true);
      auto rs = std::get<0>(sorted);
      auto aws = aw.gather(1, std::get<1>(sorted));
      auto S = aws.cumsum(1);
      auto R = sum_after(aws * rs);
      auto G = rs * S + R;
      auto k = ((G > c).sum(1, true) - 1).clamp_min(0);
      auto Sk = S.gather(1, k), Rk = R.gather(1, k);
      auto lambda = torch::where(Sk > 0, (c - Rk) / Sk.clamp_min(1e-30), torch::zeros_like(Sk)).clamp_min(0);
      amount = torch::minimum(lambda, room);
      break;
    }
    case Norm::kL2: {
      // KKT: amount_i = min(a |w_i|, room_i), i.e. d = clip(-a w) to the box, with a >= 0 such that
      // h(a) = sum_i |w_i| min(a |w_i|, room_i) = c. Coordinate i saturates at r_i = room_i/|w_i|;
      // with r sorted ascending, on [r_(k-1), r_(k)] h(a) = A_(k-1) + a B_(k-1) (A: w^2 r of the
      // saturated ones, B: w^2 of the others), and H_k = h(r_(k)) increases with k.
      const double big = 1e12;  // r of the coordinates that never move: sorts last, w^2 r = 0
      auto r = torch::where(aw > 0, room / aw, torch::full_like(aw, big));
      auto sorted = torch::sort(r, /*stable=*/true, 1, /*descending=*/false);
      auto rs = std::get<0>(sorted);
      auto w2 = (aw * aw).gather(1, std::get<1>(sorted));
      auto A = (w2 * rs).cumsum(1);
      auto B = sum_after(w2);
      auto H = A + rs * B;
      auto m = (H <= c).sum(1, true);  // a lies below r_(m); m = 0: no coordinate saturates
      auto A_ = torch::cat({torch::zeros_like(c), A}, 1);
      auto B_ = torch::cat({w2.sum(1, true), B}, 1);
      auto Am = A_.gather(1, m), Bm = B_.gather(1, m);
      auto a = torch::where(Bm > 0, (c - Am) / Bm.clamp_min(1e-30), torch::zeros_like(Bm)).clamp_min(0);
      amount = torch::minimum(a * aw, room);
      break;
    }
    case Norm::kL1: {
      // A linear program: a unit of decrease costs 1/|w_i| on coordinate i, so the coordinates
      // with the largest |w| are used first, each up to its room, the last one partly.
      auto sorted = torch::sort(aw, /*stable=*/true, 1, /*descending=*/true);
      auto aws = std::get<0>(sorted);
      auto index = std::get<1>(sorted);
      auto rooms = room.gather(1, index);
      auto need = (c - sum_before(aws * rooms)).clamp_min(0);
      auto moved = torch::where(aws > 0, torch::minimum(need / aws, rooms), torch::zeros_like(aws));
      amount = torch::zeros_like(room).scatter(1, index, moved);
      break;
    }
  }
  amount = torch::where(feasible, amount, room * (aw > 0));
  return -w.sign() * amount;
}

namespace {

enum class Hyperplane {
  kClosest,       // untargeted: the closest of z_k - z_y, k != y
  kVersusLabel,   // FAB-T: z_t - z_y
  kVersusOthers,  // an explicit target: z_t - max_{k != t} z_k at the iterate
};

// The linearisation of the decision boundary at x: f [n] and its gradient w [n, D], so that
// the boundary is approximately f + w.(z - x) = 0.
struct Linear {
  at::Tensor f, w;
};

Linear linearise(Model& model, const at::Tensor& x, const at::Tensor& y, const at::Tensor& target, Hyperplane plane,
                 Norm norm, int64_t& gradient_calls) {
  auto xr = x.detach().requires_grad_(true);
  torch::AutoGradMode enable(true);
  auto z = model.logits(xr);
  const int64_t k = z.size(1);
  if (plane != Hyperplane::kClosest) {
    at::Tensor other = y;
    if (plane == Hyperplane::kVersusOthers) {
      other = z.detach().scatter(1, target.view({-1, 1}), -std::numeric_limits<double>::infinity()).argmax(1);
    }
    auto f = z.gather(1, target.view({-1, 1})).squeeze(1) - z.gather(1, other.view({-1, 1})).squeeze(1);
    auto g = torch::autograd::grad({f.sum()}, {xr})[0];
    gradient_calls += 1;
    return {f.detach(), g.flatten(1)};
  }
  // The Jacobian of z_k - z_y row by row, one backward pass per other class (the reference takes
  // all K rows of the Jacobian and subtracts), keeping for each sample the closest hyperplane
  // seen so far, so that memory stays O(n D) whatever K is.
  auto zd = z.detach();
  auto label = torch::one_hot(y, k).to(z.scalar_type());
  Linear best;
  at::Tensor best_dist;
  for (int64_t j = 1; j < k; ++j) {
    auto mask = torch::one_hot((y + j) % k, k).to(z.scalar_type()) - label;
    auto g = torch::autograd::grad({z}, {xr}, {mask}, /*retain_graph=*/j + 1 < k)[0].flatten(1);
    gradient_calls += 1;
    auto f = (zd * mask).sum(1);
    auto dist = f.abs() / (dual_norms(g, norm) + 1e-12);
    if (j == 1) {
      best = {f, g};
      best_dist = dist;
      continue;
    }
    auto closer = dist < best_dist;
    best.f = torch::where(closer, f, best.f);
    best.w = torch::where(closer.unsqueeze(1), g, best.w);
    best_dist = torch::where(closer, dist, best_dist);
  }
  return best;
}

// One run of `steps` iterations on the samples given (the reference's attack_single_run).
// Returns the adversarial closest to x0 in `norm` found, and whether any was found.
std::pair<at::Tensor, at::Tensor> single_run(Model& model, const FabOptions& o, const at::Tensor& x0,
                                             const at::Tensor& y_in, const at::Tensor& target_in, Hyperplane plane,
                                             bool random_start, at::Generator& gen, at::Tensor& queries,
                                             int64_t& gradient_calls) {
  const int64_t n = x0.size(0);
  const auto shape = x0.sizes().vec();
  auto image_shape = shape;
  image_shape[0] = -1;
  auto xf = x0.flatten(1);
  auto x1 = xf.clone();
  if (random_start) {
    // The reference's start: a random direction scaled to eps/2 (min(res, eps)/2 with res = inf).
    auto t = o.norm == Norm::kLinf ? uniform_like(xf, gen, -1.0, 1.0) : normal_like(xf, gen);
    x1 = clamp_box(xf + 0.5 * o.eps * t / lp_norms(t, o.norm).clamp_min(1e-12).unsqueeze(1));
  }
  // The run's results per sample (closest adversarial, its norm) and the rows still stepping.
  auto adv_out = xf.clone();
  auto res_out = torch::full({n}, std::numeric_limits<double>::infinity(), xf.options());
  ActiveRows rows(n, xf.device(), o.compact);
  auto x0r = xf, y = y_in, target = target_in, adv = adv_out.clone(), res = res_out.clone();
  for (int64_t i = 0; i < o.steps; ++i) {
    auto lin = linearise(model, x1.reshape(image_shape), y, target, plane, o.norm, gradient_calls);
    auto counted = rows.running().to(torch::kLong);
    queries.index_add_(0, rows.index(), counted);
    torch::NoGradGuard no_grad;
    const int64_t m = rows.size();
    auto b = (lin.w * x1).sum(1) - lin.f;
    auto d = fab_projection(torch::cat({x1, x0r}), torch::cat({lin.w, lin.w}), torch::cat({b, b}), o.norm);
    auto d1 = d.narrow(0, 0, m), d2 = d.narrow(0, m, m);
    auto a1 = lp_norms(d1, o.norm).clamp_min(1e-8), a2 = lp_norms(d2, o.norm).clamp_min(1e-8);
    auto alpha = (a1 / (a1 + a2)).clamp(0.0, o.alpha_max).unsqueeze(1);
    x1 = rows.step(clamp_box((x1 + o.eta * d1) * (1 - alpha) + (x0r + o.eta * d2) * alpha), x1);

    auto pred = model.logits(x1.reshape(image_shape)).argmax(1);
    queries.index_add_(0, rows.index(), counted);
    auto is_adv = plane == Hyperplane::kVersusOthers ? pred.eq(target) : pred.ne(y);
    auto dist = lp_norms(x1 - x0r, o.norm);
    auto closer = is_adv & (dist < res) & rows.running();
    adv = torch::where(closer.unsqueeze(1), x1, adv);
    res = torch::where(closer, dist, res);
    x1 = rows.step(torch::where(is_adv.unsqueeze(1), x0r + (x1 - x0r) * o.beta, x1), x1);
    if (o.early_stop) {
      // Within eps is all a robustness evaluation asks; minimising the norm further is not.
      auto done = res <= o.eps;
      merge_subset(adv_out, rows.index(), adv, done & rows.running());
      merge_subset(res_out, rows.index(), res, done & rows.running());
      if (!rows.retire(done, {&x1, &x0r, &y, &target, &adv, &res})) break;
    }
  }
  merge_subset(adv_out, rows.index(), adv, rows.running());
  merge_subset(res_out, rows.index(), res, rows.running());
  return {adv_out.view(shape), torch::isfinite(res_out)};
}

}  // namespace

nlohmann::json Fab::options_json() const {
  const auto& o = options_;
  nlohmann::json j = {{"norm", norm_name(o.norm)},   {"eps", o.eps}, {"steps", o.steps}, {"restarts", o.restarts},
                      {"alpha_max", o.alpha_max}, {"eta", o.eta}, {"beta", o.beta},
                      {"early_stop", o.early_stop}, {"compact", o.compact}};
  if (targeted_) j["target_classes"] = o.target_classes;
  return j;
}

AttackResult Fab::run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) {
  const auto& o = options_;
  auto start = start_attack(model, images, labels);
  auto& x = start.x;
  auto& y = start.y;
  auto& r = start.result;
  const auto& clean_logits = start.clean_logits;
  const int64_t k = clean_logits.size(1);
  if (k < 2) throw UsageError(name_ + " needs a model with at least 2 classes");
  auto long_opts = torch::TensorOptions().dtype(torch::kLong).device(x.device());
  r.adversarial = x.clone();
  // For an untargeted goal: the correctly classified samples (the reference attacks only those).
  auto robust = ~goal_met(clean_logits, y, goal);

  auto attack_pass = [&](const at::Tensor& targets_all, Hyperplane plane, bool random_start) {
    auto a = pending_subset(robust, x, y, goal);
    if (a.size() == 0) return;
    auto ta = targets_all.defined() ? targets_all.index_select(0, a.index) : at::Tensor();
    auto q = torch::zeros({a.size()}, long_opts);
    auto [adv, found] = single_run(model, o, a.x, a.y, ta, plane, random_start, generator(), q, r.gradient_calls);
    r.queries.index_add_(0, a.index, q);
    // The reference's perturb(): broken only where the closest adversarial is within eps.
    auto hit = merge_subset(r.adversarial, a.index, adv, found & (lp_norms(adv - a.x, o.norm) <= o.eps));
    robust.index_fill_(0, hit, false);
  };

  if (goal.targeted) {
    for (int64_t restart = 0; restart < o.restarts; ++restart) {
      attack_pass(goal.targets, Hyperplane::kVersusOthers, restart > 0);
    }
  } else if (targeted_) {
    // FAB-T: targets are the classes ranked 2nd, 3rd, ... by clean logit.
    for (const auto& targets : runner_up_targets(clean_logits, o.target_classes)) {
      for (int64_t restart = 0; restart < o.restarts; ++restart) {
        attack_pass(targets, Hyperplane::kVersusLabel, restart > 0);
      }
    }
  } else {
    for (int64_t restart = 0; restart < o.restarts; ++restart) attack_pass({}, Hyperplane::kClosest, restart > 0);
  }
  finalize_result(model, images, labels, goal, r);
  return r;
}

namespace {
FabOptions read_fab(AttackParams& p) {
  FabOptions o;
  o.norm = p.norm(Norm::kLinf, {Norm::kLinf, Norm::kL2, Norm::kL1});
  o.eps = p.eps(o.norm, o.eps, 0.5, 12.0);
  o.steps = p.integer("steps", o.steps, 1);
  o.restarts = p.integer("restarts", o.restarts, 1);
  o.alpha_max = p.positive("alpha_max", o.alpha_max);
  o.eta = p.positive("eta", o.eta);
  o.beta = p.positive("beta", o.beta);
  if (o.alpha_max > 1) throw UsageError(p.attack() + " parameter 'alpha_max' must be in (0, 1]");
  if (o.beta > 1) throw UsageError(p.attack() + " parameter 'beta' must be in (0, 1]");
  o.early_stop = p.flag("early_stop", o.early_stop);
  o.compact = p.flag("compact", o.compact);
  return o;
}
}  // namespace

std::unique_ptr<Attack> make_fab(AttackParams& p) { return std::make_unique<Fab>(read_fab(p), false, "fab"); }

std::unique_ptr<Attack> make_fab_t(AttackParams& p) {
  auto o = read_fab(p);
  o.target_classes = p.integer("target_classes", o.target_classes, 1);
  return std::make_unique<Fab>(o, true, "fab-t");
}

}  // namespace mirage
