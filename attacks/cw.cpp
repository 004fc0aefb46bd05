#include "attacks/cw.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "lib/error.h"

namespace mirage {

nlohmann::json CarliniWagner::options_json() const {
  return {{"norm", "l2"},
          {"binary_search_steps", options_.binary_search_steps},
          {"steps", options_.steps},
          {"lr", options_.lr},
          {"initial_const", options_.initial_const},
          {"kappa", options_.kappa},
          {"abort_early", options_.abort_early}};
}

namespace {

// The class whose logit the attack pushes down (untargeted: the label) or up (targeted).
at::Tensor goal_class(const at::Tensor& y, const Goal& goal) { return goal.targeted ? goal.targets : y; }

// f of the paper (its f_6): max(z_y - max_{i!=y} z_i, -kappa) untargeted,
// max(max_{i!=t} z_i - z_t, -kappa) targeted; written as max(. + kappa, 0) as the reference.
at::Tensor cw_margin_loss(const at::Tensor& logits, const at::Tensor& cls, bool targeted, double kappa) {
  return (class_margin(logits, cls, targeted) + kappa).clamp_min(0.0);
}

// The reference's compare(): success with the margin, i.e. argmax after moving z_cls by kappa
// against the attack.
at::Tensor cw_success(const at::Tensor& logits, const at::Tensor& cls, bool targeted, double kappa) {
  auto z = logits.clone();
  auto c = cls.view({-1, 1});
  z.scatter_add_(1, c, torch::full({z.size(0), 1}, targeted ? -kappa : kappa, z.options()));
  auto pred = z.argmax(1);
  return targeted ? pred.eq(cls) : pred.ne(cls);
}

}  // namespace

AttackResult CarliniWagner::run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) {
  const auto& o = options_;
  auto start = start_attack(model, images, labels);
  auto& r = start.result;
  r.adversarial = start.x.clone();
  const bool targeted = goal.targeted;
  auto cls_all = goal_class(start.y, goal);
  // L2 0 cannot be beaten: samples already adversarial (with the margin) stay as they are.
  auto pending = (~cw_success(start.clean_logits, cls_all, targeted, o.kappa)).nonzero().squeeze(1);
  const int64_t n = pending.numel();
  if (n == 0) {
    finalize_result(model, images, labels, goal, r);
    return r;
  }
  auto x = start.x.index_select(0, pending);
  auto cls = cls_all.index_select(0, pending);
  torch::NoGradGuard no_grad;
  auto w0 = torch::atanh((2 * x - 1) * (1 - 1e-6));
  // The reference measures the distortion from tanh(w0), the image the tanh space can represent.
  auto x_rec = (torch::tanh(w0) + 1) / 2;

  auto dopts = torch::TensorOptions().dtype(torch::kDouble).device(x.device());
  auto lower = torch::zeros({n}, dopts);
  auto upper = torch::full({n}, 1e10, dopts);
  auto c = torch::full({n}, o.initial_const, dopts);
  auto best_l2 = torch::full({n}, std::numeric_limits<double>::infinity(), x.options());
  auto best_adv = x.clone();
  auto queries = torch::zeros({n}, pending.options());
  const double beta1 = 0.9, beta2 = 0.999, adam_eps = 1e-8;
  const int64_t check_every = (o.steps + 9) / 10;  // foolbox's ceil(steps/10); steps//10 in the reference

  for (int64_t bs = 0; bs < o.binary_search_steps; ++bs) {
    // The reference repeats the search once at the upper bound when it searches >= 10 times.
    if (o.binary_search_steps >= 10 && bs == o.binary_search_steps - 1) c = upper.clamp_max(1e10);
    // State of the samples still iterating in this search step, compacted as they stop.
    auto idx = torch::arange(n, pending.options());
    auto w = w0.clone(), m = torch::zeros_like(w0), v = torch::zeros_like(w0);
    auto prev = torch::full({n}, std::numeric_limits<float>::infinity(), x.options());
    auto c_run = c.to(x.scalar_type());
    auto found = torch::zeros({n}, dopts.dtype(torch::kBool));

    for (int64_t it = 0; it < o.steps && idx.numel() > 0; ++it) {
      at::Tensor adv, logits, loss, grad;
      {
        torch::AutoGradMode enable(true);
        auto wr = w.detach().requires_grad_(true);
        adv = clamp_box((torch::tanh(wr) + 1) / 2);
        logits = model.logits(adv);
        auto l2sq = (adv - x_rec.index_select(0, idx)).pow(2).flatten(1).sum(1);
        loss = l2sq + c_run * cw_margin_loss(logits, cls.index_select(0, idx), targeted, o.kappa);
        grad = torch::autograd::grad({loss.sum()}, {wr})[0];
      }
      queries.index_add_(0, idx, torch::ones_like(idx));
      r.gradient_calls += 1;
      loss = loss.detach();
      adv = adv.detach();

      // Abort early (per sample, checked every tenth of the steps before the iterate is
      // used, as the reference): a sample stops when its loss fell by less than 0.01%.
      auto keep = torch::ones({idx.numel()}, found.options());
      bool some_stop = false;
      if (o.abort_early && it % check_every == 0) {
        keep = ~(loss > 0.9999 * prev);
        prev = torch::where(keep, loss, prev);
        some_stop = !keep.all().item<bool>();
      }

      auto ok = cw_success(logits.detach(), cls.index_select(0, idx), targeted, o.kappa) & keep;
      auto l2 = lp_norms(adv - x.index_select(0, idx), Norm::kL2);
      // Selects rather than nonzero(), so that a CUDA run does not sync every iteration.
      auto old_l2 = best_l2.index_select(0, idx);
      auto better = ok & (l2 < old_l2);
      best_l2.index_copy_(0, idx, torch::where(better, l2, old_l2));
      best_adv.index_copy_(0, idx, torch::where(per_sample(better), adv, best_adv.index_select(0, idx)));
      found.index_copy_(0, idx, found.index_select(0, idx) | ok);

      // Adam on w (all samples of a search step share the step count t = it + 1).
      const double t = static_cast<double>(it + 1);
      m = beta1 * m + (1 - beta1) * grad;
      v = beta2 * v + (1 - beta2) * grad * grad;
      auto m_hat = m / (1 - std::pow(beta1, t));
      auto v_hat = v / (1 - std::pow(beta2, t));
      w = w - o.lr * m_hat / (v_hat.sqrt() + adam_eps);

      if (some_stop) {
        auto stay = keep.nonzero().squeeze(1);
        idx = idx.index_select(0, stay);
        w = w.index_select(0, stay);
        m = m.index_select(0, stay);
        v = v.index_select(0, stay);
        prev = prev.index_select(0, stay);
        c_run = c_run.index_select(0, stay);
      }
    }

    // Binary search on c (reference): halve towards the lower bound after a success, else
    // x10 until a first success, then bisect.
    upper = torch::where(found, torch::minimum(upper, c), upper);
    lower = torch::where(found, lower, torch::maximum(lower, c));
    c = torch::where(upper < 1e9, (lower + upper) / 2, torch::where(found, c, c * 10));
  }

  r.adversarial.index_copy_(0, pending, clamp_box(best_adv));
  r.queries.index_add_(0, pending, queries);
  finalize_result(model, images, labels, goal, r);
  return r;
}

std::unique_ptr<Attack> make_cw(AttackParams& p) {
  CwOptions o;
  p.norm(Norm::kL2, {Norm::kL2});
  o.binary_search_steps = p.integer("binary_search_steps", o.binary_search_steps, 1);
  o.steps = p.integer("steps", o.steps, 1);
  o.lr = p.positive("lr", o.lr);
  o.initial_const = p.positive("initial_const", o.initial_const);
  o.kappa = p.number("kappa", o.kappa);
  if (o.kappa < 0) throw UsageError("cw parameter 'kappa' must be >= 0, got " + std::to_string(o.kappa));
  o.abort_early = p.flag("abort_early", o.abort_early);
  return std::make_unique<CarliniWagner>(o);
}

}  // namespace mirage
