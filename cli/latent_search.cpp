// mirage latent-search — unrestricted adversarial examples (Song et al., NeurIPS 2018) and
// detector-evading fakes, found by searching a GAN's latent space: start and found PNGs, one JSON
// line per start, a summary; written into one folder that appears only when the run completes.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "attacks/latent_search.h"
#include "cli/common.h"
#include "detectors/detector.h"
#include "gan/sampling.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/image/convert.h"
#include "lib/image/io.h"
#include "lib/image_tensor.h"
#include "lib/json_io.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/parse.h"

namespace mirage::cli {

namespace {

// A default for --help as a person writes it (0.1, not 0.10000000000000001).
std::string shortest(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

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

int latent_search_main(const std::vector<std::string>& args) {
  CommonFlags common;
  std::string gan_path, model_path, aux_path, detector_path, classes_text, out;
  int64_t n = 64, target_class = -1, batch_size = 64;
  int bits = 8;
  bool overwrite = false;
  LatentSearchOptions o;
  po::options_description options("options");
  options.add_options()
    ("gan", po::value(&gan_path)->required(), "noise GAN: checkpoint folder (from train-gan) or its generator.pt")
    ("model,m", po::value(&model_path), "target classifier (.pt): unrestricted adversarial search")
    ("aux", po::value(&aux_path), "auxiliary classifier (.pt) that must still see the GAN's class (conditional GAN)")
    ("detector", po::value(&detector_path), "target detector (.pt): search for fakes it calls real")
    ("num,n", po::value(&n)->default_value(64), "how many starts; start i has latent seed fake_seed(--seed, i), as in 'mirage generate'")
    ("classes", po::value(&classes_text), "conditional GAN: all (default, classes in turn), K, or K1,K2 (in turn)")
    ("target", po::value(&target_class)->default_value(-1), "--model: search for images the model calls class K (default: any class but the start's)")
    ("steps", po::value(&o.steps)->default_value(o.steps), "Adam steps on z")
    ("lr", po::value(&o.lr)->default_value(o.lr, shortest(o.lr)), "Adam learning rate on z")
    ("eps-z", po::value(&o.eps_z)->default_value(o.eps_z, shortest(o.eps_z)), "per-coordinate distance from z0 that costs nothing")
    ("lambda-z", po::value(&o.lambda_z)->default_value(o.lambda_z), "weight of the distance term beyond --eps-z")
    ("lambda-aux", po::value(&o.lambda_aux)->default_value(o.lambda_aux), "weight of the auxiliary classifier's cross-entropy")
    ("kappa", po::value(&o.kappa)->default_value(o.kappa, shortest(o.kappa)), "margin (logits) past the target's decision boundary at which its term stops pulling")
    ("gradient-free", po::bool_switch(&o.gradient_free), "estimate gradients by NES from model outputs only (no backward through the target)")
    ("nes-samples", po::value(&o.nes_samples)->default_value(o.nes_samples), "NES antithetic pairs per step")
    ("nes-sigma", po::value(&o.nes_sigma)->default_value(o.nes_sigma, shortest(o.nes_sigma)), "NES sampling radius in z")
    ("truncation", po::value(&o.truncation)->default_value(0.0), "start codes: redraw latent entries beyond +-T (0 = off; as 'mirage generate')")
    ("no-early-stop", "keep searching after a success (returns the closest success)")
    ("batch-size", po::value(&batch_size)->default_value(64), "starts searched together")
    ("bit-depth", po::value(&bits)->default_value(8), "PNG bits per channel: 8 or 16")
    ("out,o", po::value(&out)->required(), "output folder: found/, start/, results.jsonl, summary.json")
    ("overwrite", po::bool_switch(&overwrite), "replace an existing --out folder");
  add_common_options(options, common);
  po::variables_map vm;
  if (!parse_command("latent-search", "--gan CHECKPOINT (--model M.pt [--aux A.pt] | --detector D.pt) --out DIR [options]",
                     "Searches a GAN's latent space, from the latent seeds 'mirage generate' would use, for images a\n"
                     "classifier gets wrong (unrestricted adversarial examples, Song et al. 2018) or that a detector\n"
                     "calls real. With --model the target must stop predicting the start's class (or predict\n"
                     "--target); for a conditional GAN the class is the one given to the generator, and --aux names\n"
                     "a classifier that must still see it (success requires both). With --detector the goal is its\n"
                     "verdict 'real'. The code z moves by Adam on the target's margin plus a distance penalty beyond\n"
                     "--eps-z (and the auxiliary cross-entropy); --gradient-free estimates that gradient by NES.\n"
                     "Writes into --out (which appears only when the run completes): found/ and start/ PNGs named\n"
                     "<index>_seed<seed>.png, results.jsonl (one line per start) and summary.json.",
                     "  mirage latent-search --gan runs/cgan/checkpoint --model fmnist.pt --aux aux.pt -n 100 --out unrestricted\n"
                     "  mirage latent-search --gan runs/cgan/checkpoint --model fmnist.pt --classes 7 --target 5 --out sneaker-to-sandal\n"
                     "  mirage latent-search --gan runs/dcgan/checkpoint --detector det.pt -n 200 --out evading\n"
                     "  mirage latent-search --gan runs/dcgan/checkpoint --detector det.pt --gradient-free --nes-samples 20 --out nes\n",
                     args, options, {}, vm)) {
    return kExitOk;
  }
  o.early_stop = !vm.count("no-early-stop");
  o.batch_size = batch_size;
  if (model_path.empty() == detector_path.empty()) throw UsageError("give exactly one of --model (classifier) and --detector");
  if (!detector_path.empty() && target_class >= 0) throw UsageError("--target: a detector search always targets 'real'");
  if (n < 1) throw UsageError("--num: must be at least 1");
  if (o.steps < 0) throw UsageError("--steps: must be >= 0");
  if (!(o.lr > 0)) throw UsageError("--lr: must be > 0");
  if (o.eps_z < 0 || o.lambda_z < 0 || o.lambda_aux < 0 || o.kappa < 0) {
    throw UsageError("--eps-z, --lambda-z, --lambda-aux and --kappa must be >= 0");
  }
  if (o.nes_samples < 1) throw UsageError("--nes-samples: must be at least 1");
  if (!(o.nes_sigma > 0)) throw UsageError("--nes-sigma: must be > 0");
  if (o.truncation < 0) throw UsageError("--truncation: must be >= 0");
  if (batch_size < 1) throw UsageError("--batch-size: must be at least 1");
  if (bits != 8 && bits != 16) throw UsageError("--bit-depth: must be 8 or 16");
  AtomicDirectory folder(out, overwrite);
  Runtime runtime = start_runtime(common);
  const std::string started = utc_now();

  auto g = GeneratorModel::load(gan_path, runtime.device);
  if (!g->takes_noise()) throw UsageError("--gan " + gan_path + ": a " + g->arch() + " generator translates images; latent search needs a noise GAN");
  const ModelSpec& gan_spec = g->spec();
  const bool conditional_gan = g->num_classes() > 0;
  if (!conditional_gan && (!aux_path.empty() || !classes_text.empty())) {
    throw UsageError(std::string(aux_path.empty() ? "--classes" : "--aux") +
                     ": the GAN has no classes: a conditional search needs a conditional GAN");
  }
  DatasetInfo gan_images;  // completes the spec of a model file without metadata
  gan_images.name = "gan";
  gan_images.channels = gan_spec.channels;
  gan_images.height = gan_spec.height;
  gan_images.width = gan_spec.width;

  std::unique_ptr<TorchScriptModel> classifier, aux_model;
  std::unique_ptr<Detector> detector;
  std::unique_ptr<Model> verdict;
  Model* target = nullptr;
  if (!model_path.empty()) {
    classifier = TorchScriptModel::load(model_path, runtime.device);
    classifier->complete_spec(gan_images);  // fills only what the file does not say
    require_same_shape(gan_spec, classifier->spec(), "--model", model_path);
    target = classifier.get();
    if (target_class >= target->spec().num_classes) {
      throw UsageError("--target: " + std::to_string(target_class) + " is not a class of the model (0.." +
                       std::to_string(target->spec().num_classes - 1) + ")");
    }
  } else {
    detector = load_detector(detector_path, runtime.device);
    require_same_shape(gan_spec, detector->spec(), "--detector", detector_path);
    verdict = verdict_model(*detector);
    target = verdict.get();
  }
  if (!aux_path.empty()) {
    aux_model = TorchScriptModel::load(aux_path, runtime.device);
    aux_model->complete_spec(gan_images);
    require_same_shape(gan_spec, aux_model->spec(), "--aux", aux_path);
    if (aux_model->spec().num_classes < g->num_classes()) {
      throw UsageError("--aux " + aux_path + " has " + std::to_string(aux_model->spec().num_classes) +
                       " classes but the GAN " + std::to_string(g->num_classes()));
    }
  }

  const std::vector<uint64_t> seeds = fake_seeds(runtime.seed, n);
  at::Tensor classes, labels;
  if (conditional_gan) classes = class_list(classes_text.empty() ? "all" : classes_text, g->num_classes(), n);
  Goal goal;
  if (detector) {
    labels = torch::ones({n}, torch::kLong);  // class 1 = fake
    goal = Goal::targeted_to(torch::zeros({n}, torch::TensorOptions().dtype(torch::kLong).device(target->device())));
  } else {
    if (conditional_gan) {
      if (classes.max().item<int64_t>() >= target->spec().num_classes) {
        throw UsageError("--model " + model_path + " has " + std::to_string(target->spec().num_classes) +
                         " classes, fewer than the GAN's classes used");
      }
      labels = classes;
    } else {
      labels = start_predictions(*g, *target, seeds, o.truncation, batch_size);
    }
    if (target_class >= 0) {
      goal = Goal::targeted_to(torch::full({n}, target_class, torch::TensorOptions().dtype(torch::kLong).device(target->device())));
    }
  }

  const std::string staging = folder.staging();
  ensure_directory(staging + "/found");
  ensure_directory(staging + "/start");
  const auto t0 = std::chrono::steady_clock::now();
  LatentGenerator generator = LatentGenerator::from(*g);
  Progress progress("latent-search", o.steps * ((n + batch_size - 1) / batch_size), "step");
  LatentSearchResult r = latent_search(generator, *target, aux_model.get(), seeds, classes, labels, goal, o,
                                       [&](int64_t done, int64_t) { progress.advance(done - progress.done()); });
  progress.finish();
  const double search_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // What the written files do: the found images at --bit-depth, evaluated again.
  const at::Tensor saved = quantize(r.images, bits);
  at::Tensor saved_pred;
  {
    torch::NoGradGuard no_grad;
    saved_pred = target->logits(saved.to(target->device())).argmax(1).to(torch::kCPU);
  }
  const ModelSpec& tspec = target->spec();
  const std::vector<std::string>& gan_names =
      !gan_spec.class_names.empty() ? gan_spec.class_names : (aux_model ? aux_model->spec().class_names : tspec.class_names);
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
                          (!aux_model || aux_pred == klass);
    nlohmann::json line = {{"index", i},
                           {"seed", seed},
                           {"class", klass >= 0 ? nlohmann::json(klass) : nlohmann::json(nullptr)},
                           {"label", label},
                           {"target_start_pred", start_pred},
                           {"target_pred", pred},
                           {"aux_pred", aux_model ? nlohmann::json(aux_pred) : nlohmann::json(nullptr)},
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

  nlohmann::json summary = run_header("latent-search", runtime, started);
  summary["mode"] = detector ? "detector" : "classifier";
  summary["gan"] = model_file_json(g->path(), gan_spec);
  if (classifier) summary["model"] = model_file_json(model_path, classifier->spec());
  if (detector) {
    summary["detector"] = model_file_json(detector_path, detector->spec());
    summary["threshold"] = detector->threshold();
  }
  summary["aux"] = aux_model ? model_file_json(aux_path, aux_model->spec()) : nlohmann::json(nullptr);
  summary["goal"] = detector ? "target:0 (real)" : target_class >= 0 ? "target:" + std::to_string(target_class) : "untargeted";
  summary["classes"] = conditional_gan ? nlohmann::json(classes_text.empty() ? "all" : classes_text) : nlohmann::json(nullptr);
  summary["options"] = {{"steps", o.steps},           {"lr", o.lr},
                        {"eps_z", o.eps_z},           {"lambda_z", o.lambda_z},
                        {"lambda_aux", o.lambda_aux}, {"kappa", o.kappa},
                        {"gradient_free", o.gradient_free}, {"nes_samples", o.nes_samples},
                        {"nes_sigma", o.nes_sigma},   {"truncation", o.truncation},
                        {"early_stop", o.early_stop}, {"batch_size", o.batch_size},
                        {"bit_depth", bits}};
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
  write_json(staging + "/summary.json", summary);
  folder.commit();
  char msg[200];
  std::snprintf(msg, sizeof(msg), "%lld/%lld searches succeeded (%.1f%%) in %.1f s, wrote %s", static_cast<long long>(successes),
                static_cast<long long>(n), 100.0 * static_cast<double>(successes) / static_cast<double>(n), search_seconds,
                out.c_str());
  log_info(msg);
  return kExitOk;
}

}  // namespace mirage::cli
