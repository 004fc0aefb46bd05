// attacks/square.cpp — Square Attack (Andriushchenko et al., ECCV 2020), after AutoAttack's
// square.py (SquareAttack.attack_single_run), with the paper's variable names.
#include "attacks/square.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "lib/error.h"

namespace mirage {

double square_p_selection(int64_t it, int64_t n_queries, double p_init) {
  // resc_schedule: the schedule is written for 10000 queries.
  const auto i = static_cast<int64_t>(static_cast<double>(it) / static_cast<double>(n_queries) * 10000.0);
  const int64_t bounds[] = {10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000};
  double p = p_init;
  for (int64_t b : bounds) {
    if (i > b) p /= 2.0;
  }
  return p;
}

namespace {

// Nested centred rectangles on an x-by-y patch, weight 1/(k+1)^2 for the k-th ring outward
// (the reference's eta_rectangles), unit Frobenius norm.
at::Tensor eta_rectangles(int64_t x, int64_t y) {
  auto delta = torch::zeros({x, y});
  const int64_t x_c = x / 2 + 1, y_c = y / 2 + 1;
  int64_t c0 = x_c - 1, c1 = y_c - 1;
  for (int64_t k = 0; k < std::max(x_c, y_c); ++k, --c0, --c1) {
    const int64_t r_lo = std::max<int64_t>(c0, 0), r_hi = std::min(c0 + 2 * k + 1, x);
    const int64_t q_lo = std::max<int64_t>(c1, 0), q_hi = std::min(c1 + 2 * k + 1, y);
    if (r_hi <= r_lo || q_hi <= q_lo) continue;
    delta.narrow(0, r_lo, r_hi - r_lo).narrow(1, q_lo, q_hi - q_lo) += 1.0 / static_cast<double>((k + 1) * (k + 1));
  }
  if (delta.numel() > 0) delta /= delta.pow(2).sum().sqrt();
  return delta;
}

// floor division, as Python's // (the L2 grid offset can be negative on images under 5 rows).
int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Window rows/cols [n, len] bool: start[i] <= pos < start[i] + s.
at::Tensor window_mask(const at::Tensor& start, int64_t s, int64_t len) {
  auto pos = torch::arange(len, start.options()).view({1, -1});
  auto lo = start.view({-1, 1});
  return (pos >= lo) & (pos < lo + s);
}

// The s x s windows of t [n,c,h,w] at rows vh[i].., cols vw[i].. -> [n,c,s,s]; and writing them.
std::pair<at::Tensor, at::Tensor> window_index(const at::Tensor& t, const at::Tensor& vh, const at::Tensor& vw,
                                               int64_t s) {
  const int64_t n = t.size(0), c = t.size(1), w = t.size(3);
  auto offs = torch::arange(s, vh.options());
  auto rows = (vh.view({-1, 1}) + offs).view({n, 1, s, 1}).expand({n, c, s, w});
  auto cols = (vw.view({-1, 1}) + offs).view({n, 1, 1, s}).expand({n, c, s, s});
  return {rows, cols};
}

at::Tensor get_window(const at::Tensor& t, const at::Tensor& vh, const at::Tensor& vw, int64_t s) {
  auto [rows, cols] = window_index(t, vh, vw, s);
  return t.gather(2, rows).gather(3, cols);
}

void set_window(at::Tensor& t, const at::Tensor& vh, const at::Tensor& vw, int64_t s, const at::Tensor& values) {
  auto [rows, cols] = window_index(t, vh, vw, s);
  auto band = t.gather(2, rows);
  band.scatter_(3, cols, values);
  t.scatter_(2, rows, band);
}


struct Scores {
  at::Tensor margin, loss, met;
};

// The reference's margin_and_loss: margin z_y - max_{i!=y} z_i (targeted: max_{i!=t} z_i - z_t),
// so the sample is adversarial once margin <= 0; loss is minimised: margin or -CE(y), and
// CE(t) for a targeted goal.
Scores margin_and_loss(Model& model, const at::Tensor& x, const at::Tensor& y, const Goal& goal, bool ce) {
  namespace F = torch::nn::functional;
  torch::NoGradGuard no_grad;
  auto logits = model.logits(x);
  auto cls = (goal.targeted ? goal.targets : y).view({-1, 1});
  auto xent = F::cross_entropy(logits, cls.squeeze(1), F::CrossEntropyFuncOptions().reduction(torch::kNone));
  Scores out;
  out.met = goal_met(logits, y, goal);
  out.margin = class_margin(logits, cls.squeeze(1), goal.targeted);
  out.loss = goal.targeted ? xent : (ce ? -xent : out.margin);
  return out;
}

at::Tensor random_signs(std::vector<int64_t> shape, at::Generator& gen, const at::Tensor& like) {
  auto bits = torch::randint(0, 2, shape, gen, torch::TensorOptions().dtype(torch::kLong));
  return (bits * 2 - 1).to(like.options());
}

at::Tensor random_starts(int64_t n, int64_t range, at::Generator& gen, const at::Tensor& like) {
  // random_int(0, range): uniform over 0 .. range-1 (0 when the window spans the image).
  auto v = torch::randint(0, std::max<int64_t>(range, 1), {n}, gen, torch::TensorOptions().dtype(torch::kLong));
  return v.to(like.device());
}

// eta(s) with the reference's random transpose, drawn per sample -> [n,1,s,s].
at::Tensor random_eta(const at::Tensor& eta, int64_t n, at::Generator& gen, const at::Tensor& like) {
  auto flip = torch::rand({n}, gen).gt(0.5).to(like.device()).view({-1, 1, 1, 1});
  auto e = eta.to(like.options());
  return torch::where(flip, e.t().unsqueeze(0).unsqueeze(0), e.unsqueeze(0).unsqueeze(0));
}

}  // namespace

at::Tensor square_eta(int64_t s) {
  auto delta = torch::zeros({s, s});
  const int64_t half = s / 2;
  if (half > 0) delta.narrow(0, 0, half).copy_(eta_rectangles(half, s));
  delta.narrow(0, half, s - half).copy_(-eta_rectangles(s - half, s));
  return delta / delta.pow(2).sum().sqrt();
}

nlohmann::json Square::options_json() const {
  return {{"norm", norm_name(options_.norm)}, {"eps", options_.eps},           {"queries", options_.queries},
          {"p_init", options_.p_init},        {"restarts", options_.restarts}, {"loss", options_.loss}};
}

at::Tensor Square::single_run(Model& model, const at::Tensor& x, const at::Tensor& y, const Goal& goal,
                              at::Tensor& loss_best, at::Tensor& met, at::Tensor& queries) {
  const auto& o = options_;
  const double eps = o.eps;
  const bool ce = o.loss == "ce";
  auto& gen = generator();
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t n_features = c * h * w;
  torch::NoGradGuard no_grad;

  at::Tensor x_best;
  if (o.norm == Norm::kLinf) {
    // Vertical stripes: one random sign per (sample, channel, column).
    x_best = clamp_box(x + eps * random_signs({n, c, 1, w}, gen, x));
  } else {
    // A grid of centred squares of side h/5, each with a random sign per (sample, channel).
    auto delta_init = torch::zeros_like(x);
    const int64_t s = std::max<int64_t>(h / 5, 1);
    const int64_t sp_init = floor_div(h - s * 5, 2);
    auto eta = square_eta(s);
    for (int64_t i = 0; i < h / s; ++i) {
      const int64_t vh = sp_init + i * s;
      for (int64_t j = 0; j < w / s; ++j) {
        const int64_t vw = sp_init + j * s;
        auto patch = random_eta(eta, n, gen, x) * random_signs({n, c, 1, 1}, gen, x);
        // Cells beyond the border are cut (the reference assumes they fit).
        const int64_t r0 = std::max<int64_t>(vh, 0), r1 = std::min(vh + s, h);
        const int64_t c0 = std::max<int64_t>(vw, 0), c1 = std::min(vw + s, w);
        if (r1 <= r0 || c1 <= c0) continue;
        delta_init.narrow(2, r0, r1 - r0).narrow(3, c0, c1 - c0) +=
            patch.narrow(2, r0 - vh, r1 - r0).narrow(3, c0 - vw, c1 - c0);
      }
    }
    x_best = clamp_box(x + delta_init / per_sample(lp_norms(delta_init, Norm::kL2) + 1e-12) * eps);
  }
  auto scores = margin_and_loss(model, x_best, y, goal, ce);
  queries += 1;
  auto margin_min = scores.margin, loss_min = scores.loss;
  met = scores.met;

  // The initial point was query 1; the budget leaves queries - 1 window updates.
  for (int64_t i_iter = 0; i_iter < o.queries - 1; ++i_iter) {
    auto idx_to_fool = (margin_min > 0.0).nonzero().squeeze(1);
    if (idx_to_fool.numel() == 0) break;
    const double p = square_p_selection(i_iter, o.queries, o.p_init);
    auto x_curr = x.index_select(0, idx_to_fool);
    auto x_best_curr = x_best.index_select(0, idx_to_fool);
    auto y_curr = y.index_select(0, idx_to_fool);
    auto goal_curr = goal_subset(goal, idx_to_fool);
    auto margin_min_curr = margin_min.index_select(0, idx_to_fool);
    auto loss_min_curr = loss_min.index_select(0, idx_to_fool);
    const auto size = static_cast<int64_t>(std::nearbyint(std::sqrt(p * n_features / c)));  // round half to even, as Python
    // Every sample in the run draws each iteration, so its windows do not depend on when others stop.
    auto pick = [&](const at::Tensor& v) { return v.index_select(0, idx_to_fool); };

    at::Tensor x_new;
    if (o.norm == Norm::kLinf) {
      const int64_t s = std::min({std::max<int64_t>(size, 1), h, w});
      auto vh = pick(random_starts(n, h - s, gen, x)), vw = pick(random_starts(n, w - s, gen, x));
      auto sign = pick(random_signs({n, c, 1, 1}, gen, x));
      const int64_t m = idx_to_fool.numel();
      auto mask = (window_mask(vh, s, h).view({m, 1, h, 1}) & window_mask(vw, s, w).view({m, 1, 1, w})).to(x.options());
      x_new = x_best_curr + mask * (2.0 * eps) * sign;
      x_new = torch::min(torch::max(x_new, x_curr - eps), x_curr + eps);
      x_new = clamp_box(x_new);
    } else {
      int64_t s = std::max<int64_t>(size, 3);
      if (s % 2 == 0) s += 1;
      s = std::min({s, h, w});
      auto vh = pick(random_starts(n, h - s, gen, x)), vw = pick(random_starts(n, w - s, gen, x));
      auto vh2 = pick(random_starts(n, h - s, gen, x)), vw2 = pick(random_starts(n, w - s, gen, x));
      auto sign = pick(random_signs({n, c, 1, 1}, gen, x));
      auto eta = pick(random_eta(square_eta(s), n, gen, x));
      const int64_t m = idx_to_fool.numel();
      auto delta_curr = x_best_curr - x_curr;
      auto window_1 = get_window(delta_curr, vh, vw, s);
      auto norms_window_1 = window_1.pow(2).sum({2, 3}, true).sqrt();
      auto mask_1 = (window_mask(vh, s, h).view({m, 1, h, 1}) & window_mask(vw, s, w).view({m, 1, 1, w}));
      auto mask_2 = (window_mask(vh2, s, h).view({m, 1, h, 1}) & window_mask(vw2, s, w).view({m, 1, 1, w}));
      auto norms_image = per_sample(lp_norms(delta_curr, Norm::kL2));
      auto norms_windows = per_sample(lp_norms(delta_curr * (mask_1 | mask_2).to(x.options()), Norm::kL2));
      // New mass in window 1: the old content (unit norm per channel) plus a signed eta, scaled
      // so that the budget freed by zeroing window 2 and what is left of eps^2 is spent.
      auto new_deltas = eta * sign + window_1 / (1e-12 + norms_window_1);
      new_deltas = new_deltas / (1e-12 + new_deltas.pow(2).sum({2, 3}, true).sqrt()) *
                   ((eps * eps - norms_image.pow(2)).clamp_min(0.0) / static_cast<double>(c) + norms_windows.pow(2)).sqrt();
      delta_curr = delta_curr * (~mask_2).to(x.options());
      set_window(delta_curr, vh, vw, s, new_deltas);
      x_new = clamp_box(x_curr + delta_curr / per_sample(lp_norms(delta_curr, Norm::kL2) + 1e-12) * eps);
    }

    auto sc = margin_and_loss(model, x_new, y_curr, goal_curr, ce);
    queries.index_add_(0, idx_to_fool, torch::ones_like(idx_to_fool));
    // Keep the change if the loss decreased, or if the sample became adversarial.
    auto improved_loss = sc.loss < loss_min_curr;
    loss_min.index_copy_(0, idx_to_fool, torch::where(improved_loss, sc.loss, loss_min_curr));
    auto improved = improved_loss | (sc.margin <= 0.0);
    margin_min.index_copy_(0, idx_to_fool, torch::where(improved, sc.margin, margin_min_curr));
    met.index_copy_(0, idx_to_fool, torch::where(improved, sc.met, met.index_select(0, idx_to_fool)));
    x_best.index_copy_(0, idx_to_fool, torch::where(per_sample(improved), x_new, x_best_curr));
  }
  loss_best = loss_min;
  return x_best;
}

AttackResult Square::run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) {
  auto start = start_attack(model, images, labels);
  auto& x = start.x;
  auto& y = start.y;
  auto& r = start.result;
  const int64_t n = x.size(0);
  auto long_opts = torch::TensorOptions().dtype(torch::kLong).device(x.device());
  r.adversarial = x.clone();
  // Samples that already meet the goal are not attacked and come back unchanged.
  auto done = goal_met(start.clean_logits, y, goal);
  auto best_loss = torch::full({n}, std::numeric_limits<double>::infinity(), x.options());

  for (int64_t restart = 0; restart < options_.restarts; ++restart) {
    auto a = pending_subset(~done, x, y, goal);
    if (a.size() == 0) break;
    at::Tensor loss, met, q = torch::zeros({a.size()}, long_opts);
    auto adv = single_run(model, a.x, a.y, a.goal, loss, met, q);
    r.queries.index_add_(0, a.index, q);
    // A successful restart wins; otherwise the lowest loss over restarts.
    auto take = met | (loss < best_loss.index_select(0, a.index));
    merge_subset(r.adversarial, a.index, adv, take);
    merge_subset(best_loss, a.index, loss, take);
    done.index_copy_(0, a.index, met);
  }
  finalize_result(model, images, labels, goal, r);
  return r;
}

std::unique_ptr<Attack> make_square(AttackParams& p) {
  SquareOptions o;
  o.norm = p.norm(Norm::kLinf, {Norm::kLinf, Norm::kL2});
  o.eps = p.eps(o.norm, o.eps, 0.5);
  o.queries = p.integer("queries", o.queries, 1);
  o.p_init = p.positive("p_init", o.p_init);
  if (o.p_init > 1.0) throw UsageError("square parameter 'p_init' must be in (0, 1], got " + std::to_string(o.p_init));
  o.restarts = p.integer("restarts", o.restarts, 1);
  o.loss = p.choice("loss", o.loss, {"margin", "ce"});
  return std::make_unique<Square>(o);
}

}  // namespace mirage
