// attacks/latent_search.cpp — latent-space search for unrestricted adversarial examples (Song et
// al., NeurIPS 2018) and for fakes a detector calls real; the gradient-free form estimates the
// same gradient with NES (Ilyas et al., ICML 2018).
//
// The target term is the C&W margin (Carlini & Wagner, S&P 2017, f6) clamped at -kappa instead
// of Song et al.'s cross-entropy: -CE(y) (untargeted) is unbounded below and would outweigh the
// auxiliary and distance terms for ever; the clamped margin stops pulling once the target is
// fooled by kappa, so only "stay a y" and "stay close" remain.
#include "attacks/latent_search.h"

#include <torch/torch.h>

#include <algorithm>
#include <limits>
#include <string>

#include "gan/sampling.h"
#include "lib/error.h"
#include "lib/image_tensor.h"
#include "lib/runtime.h"

namespace mirage {

LatentGenerator LatentGenerator::from(GeneratorModel& g) {
  if (!g.takes_noise()) {
    throw UsageError(g.path() + ": a " + g.arch() + " generator translates images; latent search needs a noise generator");
  }
  LatentGenerator out;
  GeneratorModel* model = &g;
  out.generate = [model](const at::Tensor& z, const at::Tensor& y) {
    return model->generate(z, y.defined() && y.numel() > 0 ? y : at::Tensor());
  };
  out.z_dim = g.z_dim();
  out.num_classes = g.num_classes();
  out.device = g.device();
  return out;
}

namespace {

// A model whose spec knows its input shape must take what G makes (0 fields are unknown).
void check_shape(const at::Tensor& images, const Model& model, const std::string& role) {
  const ModelSpec& s = model.spec();
  const bool differs = (s.channels > 0 && s.channels != images.size(1)) || (s.height > 0 && s.height != images.size(2)) ||
                       (s.width > 0 && s.width != images.size(3));
  if (differs) {
    throw UsageError("the generator makes " + image_shape_text(images.size(1), images.size(2), images.size(3)) +
                     " images but the " + role + (s.name.empty() ? "" : " '" + s.name + "'") + " takes " +
                     image_shape_text(s.channels, s.height, s.width));
  }
}

// C&W's margin toward the goal, clamped at -kappa: <= 0 exactly when the goal is met.
at::Tensor goal_margin(const at::Tensor& logits, const at::Tensor& labels, const Goal& goal, double kappa) {
  return class_margin(logits, goal.targeted ? goal.targets : labels, goal.targeted).clamp_min(-kappa);
}

// The soft box of Song et al.: distance costs nothing within eps_z of z0 in each coordinate.
at::Tensor distance_penalty(const at::Tensor& z, const at::Tensor& z0, const LatentSearchOptions& o) {
  return o.lambda_z * ((z - z0).abs() - o.eps_z).clamp_min(0).mean(1);
}

// Everything a search over one batch needs to evaluate the models on codes.
struct BatchSearch {
  const LatentGenerator& generator;
  Model& target;
  Model* aux;
  const LatentSearchOptions& options;
  at::Tensor y_gen;  // [n] classes for G (undefined when unconditional), on G's device
  at::Tensor labels; // [n] on the target's device
  Goal goal;         // targets on the target's device
  at::Tensor y_aux;  // [n] on the aux model's device

  struct Eval {
    at::Tensor images;        // on the target's device
    at::Tensor model_loss;    // [m] target margin + lambda_aux * CE(aux)
    at::Tensor target_logits; // [m]
    at::Tensor met;           // [m] bool: goal met and aux still predicts y (target's device)
    at::Tensor aux_pred;      // [m] or undefined
  };

  // Models on G(z, y) for the rows `rows` (indices into the batch, on CPU) of this batch; z [m, d].
  Eval evaluate(const at::Tensor& z, const at::Tensor& rows) const {
    Eval e;
    at::Tensor yg;
    if (y_gen.defined()) yg = y_gen.index_select(0, rows.to(y_gen.device()));
    e.images = generator.generate(z, yg).to(target.device());
    auto rt = rows.to(target.device());
    auto lab = labels.index_select(0, rt);
    Goal g = goal_subset(goal, rt);
    e.target_logits = target.logits(e.images);
    e.model_loss = goal_margin(e.target_logits, lab, g, options.kappa);
    e.met = goal_met(e.target_logits.detach(), lab, g);
    if (aux) {
      auto ya = y_aux.index_select(0, rows.to(y_aux.device()));
      auto aux_logits = aux->logits(e.images.to(aux->device()));
      namespace F = torch::nn::functional;
      auto ce = F::cross_entropy(aux_logits, ya, F::CrossEntropyFuncOptions().reduction(torch::kNone));
      e.model_loss = e.model_loss + options.lambda_aux * ce.to(target.device());
      e.aux_pred = aux_logits.detach().argmax(1);
      e.met = e.met & e.aux_pred.eq(ya).to(target.device());
    }
    return e;
  }
};

// An independent stream for this batch, from its seeds alone: the same seeds, the same noise.
at::Generator nes_generator(const std::vector<uint64_t>& seeds, size_t first, size_t last) {
  uint64_t s = 0;
  for (size_t i = first; i < last; ++i) s = derive_seed(s ^ seeds[i], "latent-search-nes");
  return make_generator(s);
}

}  // namespace

const OptionFields<LatentSearchOptions>& LatentSearchOptions::fields() {
  using O = LatentSearchOptions;
  static const OptionFields<O> f = OptionFields<O>()
      .add("steps", &O::steps).add("lr", &O::lr).add("eps_z", &O::eps_z).add("lambda_z", &O::lambda_z)
      .add("lambda_aux", &O::lambda_aux).add("gradient_free", &O::gradient_free).add("nes_samples", &O::nes_samples)
      .add("nes_sigma", &O::nes_sigma).add("truncation", &O::truncation).add("early_stop", &O::early_stop)
      .add("batch_size", &O::batch_size).add("kappa", &O::kappa);
  return f;
}

LatentSearchResult latent_search(const LatentGenerator& generator, Model& target, Model* aux,
                                 const std::vector<uint64_t>& seeds, const at::Tensor& classes,
                                 const at::Tensor& labels, const Goal& goal, const LatentSearchOptions& options,
                                 const std::function<void(int64_t, int64_t)>& progress) {
  const int64_t n = static_cast<int64_t>(seeds.size());
  const bool conditional = (classes.defined() && classes.numel() > 0) || aux != nullptr;
  if (conditional && generator.num_classes == 0) {
    throw UsageError("the GAN has no classes: a conditional search needs a conditional GAN");
  }
  if (generator.num_classes > 0 && !(classes.defined() && classes.numel() > 0) && n > 0) {
    throw UsageError("a conditional GAN needs a class for each start (classes is empty)");
  }
  if (!generator.generate || generator.z_dim < 1) throw UsageError("latent search needs a noise generator (z_dim >= 1)");
  if (!labels.defined() || labels.dim() != 1 || labels.size(0) != n) {
    throw UsageError("latent search: " + std::to_string(n) + " seeds but " +
                     (labels.defined() ? std::to_string(labels.numel()) : std::string("no")) + " labels");
  }
  if (conditional && (classes.dim() != 1 || classes.size(0) != n)) {
    throw UsageError("latent search: " + std::to_string(n) + " seeds but " + std::to_string(classes.numel()) + " classes");
  }
  if (goal.targeted && (!goal.targets.defined() || goal.targets.numel() != n)) {
    throw UsageError("latent search: a targeted goal needs one target per seed");
  }
  if (options.steps < 0 || options.batch_size < 1 || options.nes_samples < 1 || !(options.nes_sigma > 0) ||
      !(options.lr > 0) || options.eps_z < 0 || options.lambda_z < 0 || options.lambda_aux < 0 || options.kappa < 0) {
    throw UsageError("latent search: steps >= 0, batch_size >= 1, nes_samples >= 1, and lr, nes_sigma > 0, "
                     "eps_z, lambda_z, lambda_aux, kappa >= 0");
  }
  const auto long_cpu = torch::TensorOptions().dtype(torch::kLong);
  at::Tensor classes_cpu = conditional ? classes.to(torch::kCPU, torch::kLong) : torch::full({n}, -1, long_cpu);
  if (conditional && n > 0 && (classes_cpu.min().item<int64_t>() < 0 || classes_cpu.max().item<int64_t>() >= generator.num_classes)) {
    throw UsageError("latent search: classes must lie in [0, " + std::to_string(generator.num_classes) + ")");
  }

  LatentSearchResult result;
  result.seeds = seeds;
  result.classes = classes_cpu;
  if (n == 0) {
    auto empty_long = torch::empty({0}, long_cpu);
    result.z0 = torch::empty({0, generator.z_dim});
    result.z = result.z0.clone();
    result.start_images = torch::empty({0});
    result.images = torch::empty({0});
    result.target_start_pred = result.target_pred = result.aux_pred = result.queries = empty_long;
    result.success = torch::empty({0}, torch::kBool);
    result.z_distance = result.linf = result.l2 = torch::empty({0});
    return result;
  }

  const c10::Device gdev = generator.device;
  const c10::Device tdev = target.device();
  const int64_t num_batches = (n + options.batch_size - 1) / options.batch_size;
  std::vector<at::Tensor> z0_parts, z_parts, start_parts, image_parts, start_pred_parts, pred_parts, aux_parts,
      success_parts, query_parts;
  for (int64_t b = 0; b < num_batches; ++b) {
    const int64_t first = b * options.batch_size, last = std::min(n, first + options.batch_size);
    const int64_t m = last - first;
    std::vector<at::Tensor> codes;
    for (int64_t i = first; i < last; ++i) {
      codes.push_back(latent_for_seed(seeds[static_cast<size_t>(i)], generator.z_dim, options.truncation));
    }
    const at::Tensor z0 = torch::stack(codes).to(gdev);
    BatchSearch search{generator, target, aux, options, {}, labels.slice(0, first, last).to(tdev, torch::kLong), {}, {}};
    if (conditional) search.y_gen = classes_cpu.slice(0, first, last).to(gdev);
    if (aux) search.y_aux = classes_cpu.slice(0, first, last).to(aux->device());
    search.goal = goal.targeted ? Goal::targeted_to(goal.targets.slice(0, first, last).to(tdev, torch::kLong)) : goal;

    if (b == 0) {
      // The shapes must agree before any model sees an image: one probe through G.
      torch::NoGradGuard no_grad;
      at::Tensor y1;
      if (conditional) y1 = search.y_gen.slice(0, 0, 1);
      const at::Tensor probe = generator.generate(z0.slice(0, 0, 1), y1);
      if (probe.dim() != 4) throw UsageError("the generator must make [N, C, H, W] images, got " + std::to_string(probe.dim()) + " dimensions");
      check_shape(probe, target, "target model");
      if (aux) check_shape(probe, *aux, "auxiliary model");
    }
    at::Tensor z = z0.clone().requires_grad_(true);
    torch::optim::Adam adam({z}, torch::optim::AdamOptions(options.lr));
    at::Tensor best_z = z0.clone();
    at::Tensor best_dist = torch::full({m}, std::numeric_limits<double>::infinity());
    at::Tensor found = torch::zeros({m}, torch::kBool);
    at::Tensor active = torch::ones({m}, torch::kBool);  // CPU: rows still searched
    at::Tensor queries = torch::zeros({m}, long_cpu);
    at::Generator gen = nes_generator(seeds, static_cast<size_t>(first), static_cast<size_t>(last));
    at::Tensor start_images, start_pred;

    for (int64_t t = 0;; ++t) {
      const at::Tensor rows = active.nonzero().squeeze(1);
      if (rows.numel() == 0) break;
      const bool step = t < options.steps;
      // Where the active codes stand: success is judged here, after every step.
      BatchSearch::Eval e;
      at::Tensor za;
      {
        torch::AutoGradMode grad_mode(step && !options.gradient_free);
        za = z.index_select(0, rows.to(gdev));
        e = search.evaluate(za, rows);
      }
      queries.index_add_(0, rows, torch::ones({rows.numel()}, long_cpu));
      if (t == 0) {
        start_images = e.images.detach().to(torch::kCPU);
        start_pred = e.target_logits.detach().argmax(1).to(torch::kCPU);
      }
      {
        torch::NoGradGuard no_grad;
        auto met = e.met.to(torch::kCPU);
        auto dist = (za.detach() - z0.index_select(0, rows.to(gdev))).norm(2, 1).to(torch::kCPU, torch::kDouble);
        auto better = met & (dist < best_dist.index_select(0, rows));
        auto take = better.nonzero().squeeze(1);
        if (take.numel() > 0) {
          auto at_rows = rows.index_select(0, take);
          best_z.index_copy_(0, at_rows.to(gdev), za.detach().index_select(0, take.to(gdev)));
          best_dist.index_copy_(0, at_rows, dist.index_select(0, take).to(best_dist.dtype()));
          found.index_fill_(0, at_rows, true);
          if (options.early_stop) active.index_fill_(0, at_rows, false);
        }
      }
      if (!step) break;
      const at::Tensor live = active.nonzero().squeeze(1);
      if (live.numel() == 0) break;
      const at::Tensor live_dev = live.to(gdev);
      // Rows that just succeeded are frozen: their codes are put back after Adam's step, whose
      // momentum would otherwise keep moving them.
      const at::Tensor frozen_z = z.detach().clone();

      adam.zero_grad();
      if (options.gradient_free) {
        // NES with antithetic pairs: grad ~ 1/(2 sigma k) sum_j (L(z + sigma u_j) - L(z - sigma u_j)) u_j,
        // from model outputs only. The distance term is the attacker's own function of z, so its
        // gradient is exact.
        const int64_t a = live.numel();
        at::Tensor zl = z.detach().index_select(0, live_dev);
        at::Tensor estimate = torch::zeros_like(zl);
        torch::NoGradGuard no_grad;
        auto pair_rows = torch::cat({live, live});
        for (int64_t j = 0; j < options.nes_samples; ++j) {
          at::Tensor u = normal_like(zl, gen);
          auto l = search.evaluate(torch::cat({zl + options.nes_sigma * u, zl - options.nes_sigma * u}), pair_rows)
                       .model_loss.to(gdev, zl.scalar_type());
          estimate += (l.slice(0, 0, a) - l.slice(0, a, 2 * a)).unsqueeze(1) * u;
        }
        estimate /= 2.0 * options.nes_sigma * static_cast<double>(options.nes_samples);
        queries.index_add_(0, live, torch::full({a}, 2 * options.nes_samples, long_cpu));
        z.mutable_grad() = torch::zeros_like(z).index_copy_(0, live_dev, estimate);
        {
          torch::AutoGradMode grad_mode(true);
          auto zr = z.index_select(0, live_dev);
          distance_penalty(zr, z0.index_select(0, live_dev), options).sum().backward();
        }
      } else {
        torch::AutoGradMode grad_mode(true);
        // The evaluated rows may include some that just succeeded: only live ones count.
        auto keep = active.index_select(0, rows).to(e.model_loss.device());
        auto loss = (e.model_loss * keep.to(e.model_loss.dtype())).sum() +
                    distance_penalty(za, z0.index_select(0, rows.to(gdev)), options)
                        .mul(keep.to(gdev, za.scalar_type()))
                        .sum();
        loss.backward();
      }
      adam.step();
      {
        torch::NoGradGuard no_grad;
        auto keep_rows = (~active).nonzero().squeeze(1).to(gdev);
        if (keep_rows.numel() > 0) z.index_copy_(0, keep_rows, frozen_z.index_select(0, keep_rows));
      }
      result.steps_run = std::max(result.steps_run, t + 1);
      if (progress) progress(b * options.steps + t + 1, num_batches * options.steps);
    }

    // What is returned is what the returned code does: one more pass, not counted as queries.
    torch::NoGradGuard no_grad;
    const at::Tensor out_z = torch::where(found.to(gdev).unsqueeze(1), best_z, z.detach());
    const at::Tensor all = torch::arange(m, long_cpu);
    auto e = search.evaluate(out_z, all);
    const at::Tensor images = e.images.to(torch::kCPU);
    z0_parts.push_back(z0.to(torch::kCPU));
    z_parts.push_back(out_z.to(torch::kCPU));
    start_parts.push_back(start_images);
    image_parts.push_back(images);
    start_pred_parts.push_back(start_pred);
    pred_parts.push_back(e.target_logits.argmax(1).to(torch::kCPU));
    aux_parts.push_back(aux ? e.aux_pred.to(torch::kCPU) : torch::full({m}, -1, long_cpu));
    success_parts.push_back(e.met.to(torch::kCPU));
    query_parts.push_back(queries);
  }
  result.z0 = torch::cat(z0_parts);
  result.z = torch::cat(z_parts);
  result.start_images = torch::cat(start_parts);
  result.images = torch::cat(image_parts);
  result.target_start_pred = torch::cat(start_pred_parts);
  result.target_pred = torch::cat(pred_parts);
  result.aux_pred = torch::cat(aux_parts);
  result.success = torch::cat(success_parts);
  result.queries = torch::cat(query_parts);
  result.z_distance = (result.z - result.z0).norm(2, 1);
  const at::Tensor delta = result.images - result.start_images;
  result.linf = lp_norms(delta, Norm::kLinf);
  result.l2 = lp_norms(delta, Norm::kL2);
  return result;
}

}  // namespace mirage
