#include "reports/latent_search_run.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "lib/atomic_file.h"
#include "lib/dataset.h"
#include "lib/error.h"
#include "lib/image/convert.h"
#include "lib/image/io.h"
#include "lib/image_tensor.h"
#include "lib/json_io.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/parse.h"

namespace mirage {
namespace {

std::string shape_of(const ModelSpec& s) { return image_shape_text(s.channels, s.height, s.width); }

// A model that knows its input shape must take the GAN's images: refused before any work.
void require_same_shape(const ModelSpec& gan, const ModelSpec& model, const std::string& flag, const std::string& path) {
  if (model.channels != gan.channels || model.height != gan.height || model.width != gan.width) {
    throw UsageError(flag + " " + path + " takes " + shape_of(model) + " images but the GAN makes " + shape_of(gan));
  }
}

// --classes: "all" (every class in turn), "K", or "K1,K2,..." (in turn), for n starts.
at::Tensor class_list(const std::string& text, int64_t num_classes, int64_t n) {
  std::vector<int64_t> pool;
  if (text == "all") {
    for (int64_t k = 0; k < num_classes; ++k) pool.push_back(k);
  } else {
    for (const std::string& item : split_list(text)) {
      size_t used = 0;
      int64_t k = -1;
      try {
        k = std::stoll(item, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != item.size() || k < 0 || k >= num_classes) {
        throw UsageError("--classes: '" + item + "' is not a class of the GAN (all, K or K1,K2 with K in [0, " +
                         std::to_string(num_classes) + "))");
      }
      pool.push_back(k);
    }
  }
  if (pool.empty()) throw UsageError("--classes: no class given");
  auto out = torch::empty({n}, torch::kLong);
  for (int64_t i = 0; i < n; ++i) out[i] = pool[static_cast<size_t>(i % static_cast<int64_t>(pool.size()))];
  return out;
}

// What the target says about the unconditional starts G(z0): the labels an unconditional search
// moves away from (or, targeted, the class it starts from).
at::Tensor start_predictions(GeneratorModel& g, Model& target, const std::vector<uint64_t>& seeds, double truncation,
                             int64_t batch_size) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> preds;
  for (size_t first = 0; first < seeds.size(); first += static_cast<size_t>(batch_size)) {
    const std::vector<uint64_t> batch(seeds.begin() + static_cast<int64_t>(first),
                                      seeds.begin() + static_cast<int64_t>(std::min(seeds.size(), first + static_cast<size_t>(batch_size))));
    preds.push_back(target.logits(generate_fakes(g, batch, {}, truncation).to(target.device())).argmax(1).to(torch::kCPU));
  }
  return torch::cat(preds);
}

std::string name_of(const std::vector<std::string>& names, int64_t k) {
  return k >= 0 && k < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(k)] : std::string();
}

nlohmann::json mean_of(const std::vector<double>& v) {
  return v.empty() ? nlohmann::json(nullptr) : nlohmann::json(value_stats(v).mean);
}

}  // namespace

void check_latent_search_config(const LatentSearchRunConfig& c) {
  const LatentSearchOptions& o = c.search;
  if (c.model.empty() == c.detector.empty()) throw UsageError("give exactly one of --model (classifier) and --detector");
  if (!c.detector.empty() && c.target_class >= 0) throw UsageError("--target: a detector search always targets 'real'");
  if (c.n < 1) throw UsageError("--num: must be at least 1");
  if (o.steps < 0) throw UsageError("--steps: must be >= 0");
  if (!(o.lr > 0)) throw UsageError("--lr: must be > 0");
  if (o.eps_z < 0 || o.lambda_z < 0 || o.lambda_aux < 0 || o.kappa < 0) {
    throw UsageError("--eps-z, --lambda-z, --lambda-aux and --kappa must be >= 0");
  }
  if (o.nes_samples < 1) throw UsageError("--nes-samples: must be at least 1");
  if (!(o.nes_sigma > 0)) throw UsageError("--nes-sigma: must be > 0");
  if (o.truncation < 0) throw UsageError("--truncation: must be >= 0");
  if (o.batch_size < 1) throw UsageError("--batch-size: must be at least 1");
  if (c.bits != 8 && c.bits != 16) throw UsageError("--bit-depth: must be 8 or 16");
}

LatentSearchRun::LatentSearchRun(LatentSearchRunConfig config, uint64_t seed, c10::Device device)
    : config_(std::move(config)), seed_(seed) {
  check_latent_search_config(config_);
  gan_ = GeneratorModel::load(config_.gan, device);
  GeneratorModel* g = gan_.get();
  if (!g->takes_noise()) throw UsageError("--gan " + config_.gan + ": a " + g->arch() + " generator translates images; latent search needs a noise GAN");
  const ModelSpec& gan_spec = g->spec();
  const bool conditional_gan = g->num_classes() > 0;
  if (!conditional_gan && (!config_.aux.empty() || !config_.classes.empty())) {
    throw UsageError(std::string(config_.aux.empty() ? "--classes" : "--aux") +
                     ": the GAN has no classes: a conditional search needs a conditional GAN");
  }
  DatasetInfo gan_images;  // completes the spec of a model file without metadata
  gan_images.name = "gan";
  gan_images.channels = gan_spec.channels;
  gan_images.height = gan_spec.height;
  gan_images.width = gan_spec.width;

  if (!config_.model.empty()) {
    classifier_ = TorchScriptModel::load(config_.model, device);
    classifier_->complete_spec(gan_images);  // fills only what the file does not say
    require_same_shape(gan_spec, classifier_->spec(), "--model", config_.model);
    target_ = classifier_.get();
    if (config_.target_class >= target_->spec().num_classes) {
      throw UsageError("--target: " + std::to_string(config_.target_class) + " is not a class of the model (0.." +
                       std::to_string(target_->spec().num_classes - 1) + ")");
    }
  } else {
    detector_ = load_detector(config_.detector, device);
    require_same_shape(gan_spec, detector_->spec(), "--detector", config_.detector);
    verdict_ = verdict_model(*detector_);
    target_ = verdict_.get();
  }
  if (!config_.aux.empty()) {
    aux_ = TorchScriptModel::load(config_.aux, device);
    aux_->complete_spec(gan_images);
    require_same_shape(gan_spec, aux_->spec(), "--aux", config_.aux);
    if (aux_->spec().num_classes < g->num_classes()) {
      throw UsageError("--aux " + config_.aux + " has " + std::to_string(aux_->spec().num_classes) +
                       " classes but the GAN " + std::to_string(g->num_classes()));
    }
  }

}

nlohmann::json LatentSearchRun::run(const std::string& dir) {
  GeneratorModel* g = gan_.get();
  const ModelSpec& gan_spec = g->spec();
  const bool conditional_gan = g->num_classes() > 0;
  const int64_t n = config_.n, batch_size = config_.search.batch_size;
  const int bits = config_.bits;
  const LatentSearchOptions& o = config_.search;
  const std::vector<uint64_t> seeds = fake_seeds(seed_, n);
  at::Tensor classes, labels;
  if (conditional_gan) classes = class_list(config_.classes.empty() ? "all" : config_.classes, g->num_classes(), n);
  Goal goal;
  if (detector_) {
    labels = torch::ones({n}, torch::kLong);  // class 1 = fake
    goal = Goal::targeted_to(torch::zeros({n}, torch::TensorOptions().dtype(torch::kLong).device(target_->device())));
  } else {
    if (conditional_gan) {
      if (classes.max().item<int64_t>() >= target_->spec().num_classes) {
        throw UsageError("--model " + config_.model + " has " + std::to_string(target_->spec().num_classes) +
                         " classes, fewer than the GAN's classes used");
      }
      labels = classes;
    } else {
      labels = start_predictions(*g, *target_, seeds, o.truncation, batch_size);
    }
    if (config_.target_class >= 0) {
      goal = Goal::targeted_to(torch::full({n}, config_.target_class, torch::TensorOptions().dtype(torch::kLong).device(target_->device())));
    }
  }

  const std::string& staging = dir;
  ensure_directory(staging + "/found");
  ensure_directory(staging + "/start");
  const auto t0 = std::chrono::steady_clock::now();
  LatentGenerator generator = LatentGenerator::from(*g);
  Progress progress("latent-search", o.steps * ((n + batch_size - 1) / batch_size), "step");
  LatentSearchResult r = latent_search(generator, *target_, aux_.get(), seeds, classes, labels, goal, o,
                                       [&](int64_t done, int64_t) { progress.advance(done - progress.done()); });
  progress.finish();
  const double search_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // What the written files do: the found images at --bit-depth, evaluated again.
  const at::Tensor saved = quantize(r.images, bits);
  at::Tensor saved_pred;
  {
    torch::NoGradGuard no_grad;
    saved_pred = target_->logits(saved.to(target_->device())).argmax(1).to(torch::kCPU);
  }
  const ModelSpec& tspec = target_->spec();
  const std::vector<std::string>& gan_names =
      !gan_spec.class_names.empty() ? gan_spec.class_names : (aux_ ? aux_->spec().class_names : tspec.class_names);
  std::ofstream jsonl(staging + "/results.jsonl");
  if (!jsonl) throw InputError(staging + "/results.jsonl: cannot write");
  int64_t successes = 0, start_met = 0, saved_successes = 0;
  std::vector<double> z_ok, linf_ok, l2_ok;
  int64_t total_queries = 0;
  const at::Tensor targets = goal.targeted ? goal.targets.to(torch::kCPU) : at::Tensor();
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t seed = seeds[static_cast<size_t>(i)];
    char name[64];
    std::snprintf(name, sizeof(name), "%06lld_seed%llu.png", static_cast<long long>(i), static_cast<unsigned long long>(seed));
    write_image(staging + "/found/" + name, saved[i], 95, bits);
    write_image(staging + "/start/" + name, r.start_images[i], 95, bits);
    const int64_t klass = r.classes[i].item<int64_t>();
    const int64_t label = labels[i].item<int64_t>();
    const int64_t start_pred = r.target_start_pred[i].item<int64_t>(), pred = r.target_pred[i].item<int64_t>();
    const int64_t aux_pred = r.aux_pred[i].item<int64_t>();
    const bool ok = r.success[i].item<bool>();
    const bool met_at_start = goal.targeted ? start_pred == targets[i].item<int64_t>() : start_pred != label;
    const bool saved_ok = (goal.targeted ? saved_pred[i].item<int64_t>() == targets[i].item<int64_t>()
                                         : saved_pred[i].item<int64_t>() != label) &&
                          (!aux_ || aux_pred == klass);
    nlohmann::json line = {{"index", i},
                           {"seed", seed},
                           {"class", klass >= 0 ? nlohmann::json(klass) : nlohmann::json(nullptr)},
                           {"label", label},
                           {"target_start_pred", start_pred},
                           {"target_pred", pred},
                           {"aux_pred", aux_ ? nlohmann::json(aux_pred) : nlohmann::json(nullptr)},
                           {"success", ok},
                           {"z_distance", r.z_distance[i].item<double>()},
                           {"linf", r.linf[i].item<double>()},
                           {"l2", r.l2[i].item<double>()},
                           {"queries", r.queries[i].item<int64_t>()},
                           {"saved_target_pred", saved_pred[i].item<int64_t>()},
                           {"found", std::string("found/") + name},
                           {"start", std::string("start/") + name}};
    if (goal.targeted) line["target"] = targets[i].item<int64_t>();
    if (klass >= 0 && !name_of(gan_names, klass).empty()) line["class_name"] = name_of(gan_names, klass);
    if (!name_of(tspec.class_names, start_pred).empty()) {
      line["target_start_pred_name"] = name_of(tspec.class_names, start_pred);
      line["target_pred_name"] = name_of(tspec.class_names, pred);
    }
    jsonl << line.dump() << "\n";
    successes += ok;
    start_met += met_at_start;
    saved_successes += saved_ok;
    total_queries += r.queries[i].item<int64_t>();
    if (ok) {
      z_ok.push_back(r.z_distance[i].item<double>());
      linf_ok.push_back(r.linf[i].item<double>());
      l2_ok.push_back(r.l2[i].item<double>());
    }
  }
  jsonl.close();
  if (!jsonl) throw InputError(staging + "/results.jsonl: write failed");

  nlohmann::json summary;
  summary["mode"] = detector_ ? "detector" : "classifier";
  if (detector_) summary["threshold"] = detector_->threshold();
  summary["goal"] = detector_ ? "target:0 (real)" : config_.target_class >= 0 ? "target:" + std::to_string(config_.target_class) : "untargeted";
  summary["classes"] = conditional_gan ? nlohmann::json(config_.classes.empty() ? "all" : config_.classes) : nlohmann::json(nullptr);
  summary["options"] = LatentSearchOptions::fields().to_json(o);
  summary["options"]["bit_depth"] = bits;
  summary["n"] = n;
  summary["successes"] = successes;
  summary["rate"] = rate_json(successes, n);
  summary["met_at_start"] = start_met;
  summary["saved"] = {{"successes", saved_successes}, {"rate", rate_json(saved_successes, n)}};
  summary["mean_z_distance"] = mean_of(z_ok);
  summary["mean_linf"] = mean_of(linf_ok);
  summary["mean_l2"] = mean_of(l2_ok);
  summary["queries"] = total_queries;
  summary["steps_run"] = r.steps_run;
  summary["seconds"] = search_seconds;
  return summary;
}

}  // namespace mirage
