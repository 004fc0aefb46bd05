#include "detectors/blind_spots.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include "attacks/attack.h"
#include "detectors/detector.h"
#include "detectors/evaluate.h"
#include "detectors/train.h"
#include "lib/error.h"
#include "lib/image_tensor.h"
#include "lib/metrics.h"
#include "lib/runtime.h"
#include "lib/transforms.h"

namespace mirage {
namespace {

// A slice: which rows of a population (fakes or reals) it holds and their scores under it.
struct SliceRows {
  std::vector<int64_t> rows;
  std::vector<double> scores;
  std::vector<double> clean_scores;  // empty when the slice has no transform
};

bool is_failure(double score, double threshold, bool fakes) { return fakes ? score < threshold : score >= threshold; }

FindingExample example_of(const BlindSpotData& data, bool fakes, int64_t row, double score, double clean) {
  FindingExample e;
  e.index = row;
  e.score = score;
  e.clean_score = clean;
  const auto r = static_cast<size_t>(row);
  if (fakes) {
    if (r < data.fake_ids.size()) e.id = data.fake_ids[r];
    if (r < data.fake_seeds.size()) e.seed = data.fake_seeds[r];
    if (data.fake_classes.defined() && data.fake_classes.numel() > row) e.cls = data.fake_classes[row].item<int64_t>();
  } else {
    if (r < data.real_ids.size()) e.id = data.real_ids[r];
    if (data.real_classes.defined() && data.real_classes.numel() > row) e.cls = data.real_classes[row].item<int64_t>();
  }
  if (e.id.empty() && e.seed) e.id = "seed:" + std::to_string(*e.seed);
  return e;
}

// Counts, the Wilson interval and the most failing examples of one slice.
Finding make_finding(const BlindSpotData& data, std::string search, std::string slice, nlohmann::json parameters,
                     bool fakes, const SliceRows& s, double threshold, double baseline_rate, int64_t examples) {
  Finding f;
  f.search = std::move(search);
  f.slice = std::move(slice);
  f.parameters = std::move(parameters);
  f.population = fakes ? "fakes" : "reals";
  f.n = static_cast<int64_t>(s.rows.size());
  f.baseline_rate = baseline_rate;
  double sum = 0;
  std::vector<size_t> failing;
  for (size_t i = 0; i < s.rows.size(); ++i) {
    sum += s.scores[i];
    if (is_failure(s.scores[i], threshold, fakes)) {
      ++f.failures;
      failing.push_back(i);
    }
  }
  f.mean_score = f.n > 0 ? sum / static_cast<double>(f.n) : 0;
  f.rate = f.n > 0 ? static_cast<double>(f.failures) / static_cast<double>(f.n) : 0;
  std::tie(f.ci_low, f.ci_high) = wilson_interval(f.failures, f.n);
  // Worst first: the fakes scored most real, the reals scored most fake.
  std::sort(failing.begin(), failing.end(), [&](size_t a, size_t b) {
    return fakes ? s.scores[a] < s.scores[b] : s.scores[a] > s.scores[b];
  });
  for (size_t k = 0; k < failing.size() && static_cast<int64_t>(k) < examples; ++k) {
    const size_t i = failing[k];
    f.examples.push_back(example_of(data, fakes, s.rows[i], s.scores[i], s.clean_scores.empty() ? -1.0 : s.clean_scores[i]));
  }
  return f;
}

double failure_rate(const std::vector<double>& scores, double threshold, bool fakes) {
  if (scores.empty()) return 0;
  int64_t k = 0;
  for (double s : scores) k += is_failure(s, threshold, fakes);
  return static_cast<double>(k) / static_cast<double>(scores.size());
}

SliceRows all_rows(const std::vector<double>& scores) {
  SliceRows s;
  s.rows.resize(scores.size());
  std::iota(s.rows.begin(), s.rows.end(), 0);
  s.scores = scores;
  return s;
}

int64_t class_of(const at::Tensor& classes, int64_t row) {
  return classes.defined() && classes.numel() > row ? classes[row].item<int64_t>() : -1;
}

std::string class_label(const std::vector<std::string>& names, int64_t c) {
  return c >= 0 && static_cast<size_t>(c) < names.size() ? names[static_cast<size_t>(c)] : std::to_string(c);
}

// A transform of a batch whose first row is row `start` of its population (noise is seeded from
// it, so results do not depend on how the population is cut into batches... for a fixed cut).
using Transform = std::function<at::Tensor(const at::Tensor& batch, int64_t start)>;

// Scores of `images` after `transform`, batch by batch (transforms run on the CPU tensors).
std::vector<double> transformed_scores(Detector& detector, const at::Tensor& images, int64_t batch_size,
                                       const Transform& transform) {
  std::vector<double> out;
  out.reserve(static_cast<size_t>(images.size(0)));
  for (int64_t start = 0; start < images.size(0); start += batch_size) {
    auto batch = images.slice(0, start, std::min(images.size(0), start + batch_size));
    auto scores = score_images(detector, transform(batch, start).clamp(0, 1).contiguous(), batch_size);
    out.insert(out.end(), scores.begin(), scores.end());
  }
  return out;
}

}  // namespace

// ---- slices ------------------------------------------------------------------------------------

std::vector<Finding> source_and_class_slices(Detector& detector, const BlindSpotData& data,
                                             const std::vector<double>& fake_scores,
                                             const std::vector<double>& real_scores, int64_t examples) {
  const double t = detector.threshold();
  std::vector<Finding> out;
  const double fake_rate = failure_rate(fake_scores, t, true);
  const double real_rate = failure_rate(real_scores, t, false);
  // Per source (only when there is more than one: one source is the overall rate).
  std::map<std::string, SliceRows> sources;
  for (size_t i = 0; i < fake_scores.size() && i < data.fake_sources.size(); ++i) {
    auto& s = sources[data.fake_sources[i]];
    s.rows.push_back(static_cast<int64_t>(i));
    s.scores.push_back(fake_scores[i]);
  }
  if (sources.size() > 1) {
    for (const auto& [name, s] : sources) {
      out.push_back(make_finding(data, "source", "source", {{"source", name}}, true, s, t, fake_rate, examples));
    }
  }
  // Per class, for fakes (misses) and reals (false alarms).
  auto by_class = [&](const std::vector<double>& scores, const at::Tensor& classes, bool fakes, double base) {
    std::map<int64_t, SliceRows> groups;
    for (size_t i = 0; i < scores.size(); ++i) {
      const int64_t c = class_of(classes, static_cast<int64_t>(i));
      if (c < 0) continue;
      auto& s = groups[c];
      s.rows.push_back(static_cast<int64_t>(i));
      s.scores.push_back(scores[i]);
    }
    if (groups.size() < 2) return;
    for (const auto& [c, s] : groups) {
      out.push_back(make_finding(data, "class", "class", {{"class", c}, {"name", class_label(data.class_names, c)}},
                                 fakes, s, t, base, examples));
    }
  };
  by_class(fake_scores, data.fake_classes, true, fake_rate);
  by_class(real_scores, data.real_classes, false, real_rate);
  return out;
}

std::vector<Finding> post_processing_slices(Detector& detector, const BlindSpotData& data,
                                            const std::vector<double>& fake_scores,
                                            const std::vector<double>& real_scores, const BlindSpotOptions& options,
                                            const ImageCodec& codec) {
  const double t = detector.threshold();
  struct Sweep {
    std::string slice;
    nlohmann::json parameters;
    Transform transform;
  };
  std::vector<Sweep> sweeps;
  if (codec.has_jpeg()) {
    for (int q : options.jpeg_qualities) {
      sweeps.push_back({"jpeg", {{"quality", q}}, [&codec, q](const at::Tensor& x, int64_t) { return codec.jpeg(x, q); }});
    }
  }
  for (double s : options.blur_sigmas) {
    sweeps.push_back({"blur", {{"sigma", s}}, [s](const at::Tensor& x, int64_t) { return gaussian_blur(x, s); }});
  }
  for (double s : options.resize_scales) {
    sweeps.push_back({"resize", {{"scale", s}}, [&codec, s](const at::Tensor& x, int64_t) {
                        return codec.resize_roundtrip(x, s);
                      }});
  }
  for (double s : options.noise_sigmas) {
    // The noise depends on the seed and sigma only, not on the sigma's place in the list, so a
    // finding's reproduce command (that sigma alone) draws the same noise.
    char name[64];
    std::snprintf(name, sizeof(name), "noise sigma=%.17g", s);
    const uint64_t seed = derive_seed(options.seed, name);
    sweeps.push_back({"noise", {{"sigma", s}}, [s, seed](const at::Tensor& x, int64_t start) {
                        return add_gaussian_noise(x, s, seed + static_cast<uint64_t>(start));
                      }});
  }
  for (double f : options.crop_fractions) {
    sweeps.push_back({"crop", {{"fraction", f}}, [f](const at::Tensor& x, int64_t) { return center_crop_resize(x, f); }});
  }
  if (options.gray_slice && data.fakes.defined() && data.fakes.size(1) == 3) {
    sweeps.push_back({"gray", nlohmann::json::object(), [](const at::Tensor& x, int64_t) { return gray_roundtrip(x); }});
  }

  std::vector<Finding> out;
  const double fake_rate = failure_rate(fake_scores, t, true);
  const double real_rate = failure_rate(real_scores, t, false);
  for (const auto& sweep : sweeps) {
    if (data.fakes.defined() && data.fakes.size(0) > 0) {
      SliceRows s = all_rows(transformed_scores(detector, data.fakes, options.batch_size, sweep.transform));
      s.clean_scores = fake_scores;
      out.push_back(make_finding(data, "post-processing", sweep.slice, sweep.parameters, true, s, t, fake_rate,
                                 options.examples));
    }
    if (data.reals.defined() && data.reals.size(0) > 0) {
      SliceRows s = all_rows(transformed_scores(detector, data.reals, options.batch_size, sweep.transform));
      s.clean_scores = real_scores;
      out.push_back(make_finding(data, "post-processing", sweep.slice, sweep.parameters, false, s, t, real_rate,
                                 options.examples));
    }
  }
  return out;
}

std::vector<Finding> evasion_slices(Detector& detector, const BlindSpotData& data,
                                    const std::vector<double>& fake_scores, const BlindSpotOptions& options) {
  std::vector<Finding> out;
  const int64_t n = std::min<int64_t>(options.evasion_samples, data.fakes.defined() ? data.fakes.size(0) : 0);
  if (n <= 0) return out;
  const double t = detector.threshold();
  auto verdict = verdict_model(detector);
  const auto x = data.fakes.slice(0, 0, n);
  const auto labels = torch::ones({n}, torch::kInt64);  // class 1 = fake; untargeted = toward real
  const std::vector<double> clean(fake_scores.begin(), fake_scores.begin() + n);
  const double base = failure_rate(clean, t, true);

  // Runs `attack` batch by batch on the first n fakes; the scores of what it returns.
  auto attacked_scores = [&](Attack& attack, AttackResult* keep) {
    std::vector<at::Tensor> adv, linf, l2, success;
    for (int64_t start = 0; start < n; start += options.batch_size) {
      const int64_t end = std::min(n, start + options.batch_size);
      auto r = attack.run(*verdict, x.slice(0, start, end).to(detector.device()), labels.slice(0, start, end).to(detector.device()),
                          Goal::untargeted());
      adv.push_back(r.adversarial.cpu());
      linf.push_back(r.linf.cpu());
      l2.push_back(r.l2.cpu());
      success.push_back(r.success.cpu());
    }
    if (keep) {
      keep->adversarial = torch::cat(adv);
      keep->linf = torch::cat(linf);
      keep->l2 = torch::cat(l2);
      keep->success = torch::cat(success);
    }
    return score_images(detector, torch::cat(adv), options.batch_size);
  };
  auto budget_finding = [&](const std::string& attack_name, const std::string& norm, double eps,
                            const nlohmann::json& params) {
    auto attack = make_attack(attack_name, params);
    attack->set_seed(options.seed);
    SliceRows s = all_rows(attacked_scores(*attack, nullptr));
    s.clean_scores = clean;
    auto f = make_finding(data, "evasion", attack_name + "-" + norm, {{"eps", eps}, {"norm", norm}}, true, s, t, base,
                          options.examples);
    f.details["attack"] = attack->options_json();
    f.details["white_box"] = !attack->black_box();
    return f;
  };
  // PGD runs its whole budget (no early stop): evasion is judged at the detector's calibrated
  // threshold, not at the argmax boundary where early stop would leave each image.
  for (double eps : options.evasion_eps_linf) {
    out.push_back(budget_finding("pgd", "linf", eps,
                                 {{"norm", "linf"}, {"eps", eps}, {"alpha", eps / 4}, {"steps", options.pgd_steps}, {"early_stop", false}}));
    if (options.square_queries > 0) {
      out.push_back(budget_finding("square", "linf", eps, {{"norm", "linf"}, {"eps", eps}, {"queries", options.square_queries}}));
    }
  }
  for (double eps : options.evasion_eps_l2) {
    out.push_back(budget_finding("pgd", "l2", eps,
                                 {{"norm", "l2"}, {"eps", eps}, {"alpha", eps / 4}, {"steps", options.pgd_steps}, {"early_stop", false}}));
  }
  if (options.minimal_norm) {
    // Carlini & Farid: the smallest perturbation that flips each fake. FAB with a budget no image
    // needs (the whole box) returns its minimal find; flipped ones give the distribution.
    for (const std::string norm : {"linf", "l2"}) {
      const double eps = norm == "linf" ? 1.0 : std::sqrt(static_cast<double>(x[0].numel()));
      auto attack = make_attack("fab", {{"norm", norm}, {"eps", eps}, {"steps", 50}});
      attack->set_seed(options.seed);
      AttackResult r;
      SliceRows s = all_rows(attacked_scores(*attack, &r));
      s.clean_scores = clean;
      auto f = make_finding(data, "evasion", "minimal-" + norm, {{"norm", norm}, {"attack", "fab"}}, true, s, t, base,
                            options.examples);
      std::vector<double> norms;
      const auto d = (norm == "linf" ? r.linf : r.l2).to(torch::kFloat64).contiguous();
      for (int64_t i = 0; i < n; ++i) {
        if (is_failure(s.scores[static_cast<size_t>(i)], t, true) && !is_failure(clean[static_cast<size_t>(i)], t, true)) {
          norms.push_back(d[i].item<double>());
        }
      }
      std::sort(norms.begin(), norms.end());
      auto pct = [&](double q) {
        return norms.empty() ? nlohmann::json(nullptr)
                             : nlohmann::json(norms[std::min(norms.size() - 1, static_cast<size_t>(q * static_cast<double>(norms.size())))]);
      };
      f.details["flipped"] = norms.size();
      f.details["minimal_norm"] = {{"p10", pct(0.1)}, {"median", pct(0.5)}, {"p90", pct(0.9)}};
      f.details["attack"] = attack->options_json();
      out.push_back(std::move(f));
    }
  }
  return out;
}

std::vector<Finding> latent_cluster_slices(const BlindSpotData& data, const std::vector<double>& fake_scores,
                                           double threshold, int64_t k, int64_t examples, uint64_t seed) {
  std::vector<Finding> out;
  if (k <= 0 || !data.fake_latents.defined() || data.fake_latents.size(0) != static_cast<int64_t>(fake_scores.size())) {
    return out;
  }
  const auto z = data.fake_latents.to(torch::kFloat64).contiguous();
  std::vector<int64_t> evading;
  for (size_t i = 0; i < fake_scores.size(); ++i) {
    if (is_failure(fake_scores[i], threshold, true)) evading.push_back(static_cast<int64_t>(i));
  }
  if (evading.empty()) return out;
  const auto ze = select_rows(z, evading);
  k = std::min<int64_t>(k, ze.size(0));
  // k-means++ (Arthur & Vassilvitskii 2007) then Lloyd iterations, on the evading codes.
  at::Generator gen = at::detail::createCPUGenerator(seed);
  std::vector<int64_t> first = {torch::randint(ze.size(0), {1}, gen, torch::kInt64).item<int64_t>()};
  auto centres = select_rows(ze, first);
  while (centres.size(0) < k) {
    auto d2 = torch::cdist(ze, centres).pow(2).amin(1);
    if (d2.sum().item<double>() <= 0) break;  // fewer distinct codes than k
    auto next = torch::multinomial(d2, 1, false, gen);
    centres = torch::cat({centres, ze.index_select(0, next)});
  }
  for (int it = 0; it < 50; ++it) {
    auto assign = torch::cdist(ze, centres).argmin(1);
    auto moved = centres.clone();
    for (int64_t c = 0; c < centres.size(0); ++c) {
      auto members = (assign == c).nonzero().squeeze(1);
      if (members.numel() > 0) moved[c] = ze.index_select(0, members).mean(0);
    }
    const bool done = torch::allclose(moved, centres);
    centres = moved;
    if (done) break;
  }
  // A cluster's region: within the 90th percentile of its evading members' distance to the
  // centre. Every fake inside a region (the nearest centre's, when regions overlap) counts, so a
  // cluster's evasion rate says how much of that part of the latent space evades.
  const auto assign_evading = torch::cdist(ze, centres).argmin(1);
  std::vector<double> radius(static_cast<size_t>(centres.size(0)), 0.0);
  for (int64_t c = 0; c < centres.size(0); ++c) {
    auto members = (assign_evading == c).nonzero().squeeze(1);
    if (members.numel() == 0) continue;
    auto d = (ze.index_select(0, members) - centres[c]).norm(2, 1);
    radius[static_cast<size_t>(c)] = torch::quantile(d, 0.9).item<double>();
  }
  const auto dist = torch::cdist(z, centres).contiguous();
  const auto nearest = dist.argmin(1).contiguous();
  const double base = failure_rate(fake_scores, threshold, true);
  for (int64_t c = 0; c < centres.size(0); ++c) {
    SliceRows s;
    std::map<int64_t, int64_t> mix;
    for (int64_t i = 0; i < z.size(0); ++i) {
      const bool evades = is_failure(fake_scores[static_cast<size_t>(i)], threshold, true);
      if (nearest[i].item<int64_t>() != c) continue;
      // Evading fakes always belong to their nearest cluster; others only inside its radius.
      if (!evades && dist[i][c].item<double>() > radius[static_cast<size_t>(c)]) continue;
      s.rows.push_back(i);
      s.scores.push_back(fake_scores[static_cast<size_t>(i)]);
      if (evades) ++mix[class_of(data.fake_classes, i)];
    }
    auto f = make_finding(data, "latent-cluster", "cluster", {{"cluster", c}, {"k", centres.size(0)}}, true, s, threshold,
                          base, examples);
    nlohmann::json classes = nlohmann::json::object();
    for (const auto& [cls, count] : mix) classes[cls < 0 ? "unknown" : class_label(data.class_names, cls)] = count;
    f.details["evading_class_mix"] = classes;
    f.details["centre_norm"] = centres[c].norm().item<double>();
    f.details["radius"] = radius[static_cast<size_t>(c)];
    out.push_back(std::move(f));
  }
  return out;
}

Finding latent_search_finding(const LatentSearchResult& result, double threshold, const std::vector<double>& found_scores,
                              int64_t examples) {
  Finding f;
  f.search = "latent-search";
  f.slice = "latent-search";
  f.population = "fakes";
  f.n = static_cast<int64_t>(result.seeds.size());
  std::vector<size_t> found;
  double sum = 0;
  int64_t start_misses = 0;
  for (size_t i = 0; i < result.seeds.size(); ++i) {
    sum += found_scores[i];
    if (result.success[static_cast<int64_t>(i)].item<bool>()) found.push_back(i);
    if (result.target_start_pred[static_cast<int64_t>(i)].item<int64_t>() == 0) ++start_misses;
  }
  f.failures = static_cast<int64_t>(found.size());
  f.rate = f.n > 0 ? static_cast<double>(f.failures) / static_cast<double>(f.n) : 0;
  f.baseline_rate = f.n > 0 ? static_cast<double>(start_misses) / static_cast<double>(f.n) : 0;
  f.mean_score = f.n > 0 ? sum / static_cast<double>(f.n) : 0;
  std::tie(f.ci_low, f.ci_high) = wilson_interval(f.failures, f.n);
  std::sort(found.begin(), found.end(), [&](size_t a, size_t b) { return found_scores[a] < found_scores[b]; });
  for (size_t k = 0; k < found.size() && static_cast<int64_t>(k) < examples; ++k) {
    const auto i = found[k];
    FindingExample e;
    e.index = static_cast<int64_t>(i);
    e.seed = result.seeds[i];
    e.id = "seed:" + std::to_string(result.seeds[i]);
    e.cls = result.classes.defined() && result.classes.numel() > 0 ? result.classes[static_cast<int64_t>(i)].item<int64_t>() : -1;
    e.score = found_scores[i];
    f.examples.push_back(e);
  }
  double dz = 0;
  for (auto i : found) dz += result.z_distance[static_cast<int64_t>(i)].item<double>();
  f.details["mean_z_distance"] = found.empty() ? 0.0 : dz / static_cast<double>(found.size());
  f.details["steps"] = result.steps_run;
  f.details["threshold"] = threshold;
  return f;
}

void rank_findings(std::vector<Finding>& findings, int64_t min_n) {
  findings.erase(std::remove_if(findings.begin(), findings.end(), [&](const Finding& f) { return f.n < min_n; }),
                 findings.end());
  std::stable_sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    if (a.ci_low != b.ci_low) return a.ci_low > b.ci_low;
    if (a.rate != b.rate) return a.rate > b.rate;
    return a.n > b.n;
  });
}

const OptionFields<BlindSpotOptions>& BlindSpotOptions::fields() {
  using O = BlindSpotOptions;
  using S = LatentSearchSettings;
  constexpr double kAny = 1e6;
  static const OptionFields<O> f =
      OptionFields<O>(Naming::kPath)
          .add("batch_size", &O::batch_size).at_least(1)
          .group("post_processing", OptionFields<O>(Naming::kPath)
                                        .add("jpeg", &O::jpeg_qualities).within(1, 100)
                                        .add("blur", &O::blur_sigmas).within(0, kAny, true)
                                        .add("resize", &O::resize_scales).within(0, 8, true)
                                        .add("noise", &O::noise_sigmas).within(0, 1, true)
                                        .add("crop", &O::crop_fractions).within(0, 1, true)
                                        .add("gray", &O::gray_slice))
          .group("evasion", OptionFields<O>(Naming::kPath)
                                .add("eps_linf", &O::evasion_eps_linf).within(0, 1, true)
                                .add("eps_l2", &O::evasion_eps_l2).within(0, kAny, true)
                                .add("samples", &O::evasion_samples).at_least(0)
                                .add("pgd_steps", &O::pgd_steps).at_least(1)
                                .add("square_queries", &O::square_queries).at_least(0)
                                .add("minimal_norm", &O::minimal_norm))
          .add("latent_search", &O::latent_search, &S::n).at_least(0)
          .add("search_steps", &O::latent_search, &S::steps).at_least(1)
          .add("search_lr", &O::latent_search, &S::lr).above(0)
          .add("lambda_z", &O::latent_search, &S::lambda_z).at_least(0)
          .add("gradient_free", &O::latent_search, &S::gradient_free)
          .add("clusters", &O::clusters).at_least(0)
          .add("examples", &O::examples).at_least(0)
          .add("min_slice", &O::min_slice).at_least(1);
  return f;
}

BlindSpotReport search_blind_spots(Detector& detector, const BlindSpotData& data, const BlindSpotOptions& options,
                                   const ImageCodec& codec, const std::function<void(const std::string&)>& progress) {
  if (!data.fakes.defined() || data.fakes.size(0) == 0) throw UsageError("the blind-spot search needs fakes");
  const auto& spec = detector.spec();
  auto check_shape = [&](const at::Tensor& x, const std::string& what) {
    if (x.defined() && x.size(0) > 0 &&
        (x.dim() != 4 || x.size(1) != spec.channels || x.size(2) != spec.height || x.size(3) != spec.width)) {
      throw UsageError(what + " are " + c10::str(x.sizes().slice(1)) + " but the detector takes [" + std::to_string(spec.channels) +
                       ", " + std::to_string(spec.height) + ", " + std::to_string(spec.width) + "]");
    }
  };
  check_shape(data.fakes, "the fakes");
  check_shape(data.reals, "the reals");
  auto say = [&](const std::string& stage) {
    if (progress) progress(stage);
  };
  BlindSpotReport report;
  report.threshold = detector.threshold();
  report.n_fakes = data.fakes.size(0);
  report.n_reals = data.reals.defined() ? data.reals.size(0) : 0;
  say("scoring");
  const auto fake_scores = score_images(detector, data.fakes, options.batch_size);
  const auto real_scores = report.n_reals > 0 ? score_images(detector, data.reals, options.batch_size) : std::vector<double>{};
  for (double s : fake_scores) report.misses += is_failure(s, report.threshold, true);
  for (double s : real_scores) report.false_alarms += is_failure(s, report.threshold, false);

  auto add = [&](std::vector<Finding> more) {
    for (auto& f : more) report.findings.push_back(std::move(f));
  };
  say("source and class slices");
  add(source_and_class_slices(detector, data, fake_scores, real_scores, options.examples));
  say("post-processing slices");
  add(post_processing_slices(detector, data, fake_scores, real_scores, options, codec));
  say("evasion budgets");
  add(evasion_slices(detector, data, fake_scores, options));
  if (options.clusters > 0 && data.fake_latents.defined()) {
    say("latent clusters");
    add(latent_cluster_slices(data, fake_scores, report.threshold, options.clusters, options.examples, options.seed));
  }
  rank_findings(report.findings, options.min_slice);
  if (data.gan && options.latent_search.n > 0) {
    say("latent search over " + std::to_string(options.latent_search.n) + " codes");
    add_latent_search_slice(detector, data, options, report);
  }
  return report;
}

void add_latent_search_slice(Detector& detector, const BlindSpotData& data, const BlindSpotOptions& options,
                             BlindSpotReport& report) {
  const LatentSearchSettings& search = options.latent_search;
  if (!data.gan || search.n <= 0) return;
  GeneratorModel& gan = *data.gan;
  auto verdict = verdict_model(detector);
  const std::vector<uint64_t> seeds = fake_seeds(data.gan_seed, search.n);
  const std::vector<int64_t> cls = fake_classes(gan.num_classes(), search.n);
  LatentSearchOptions lo;
  lo.steps = search.steps;
  lo.gradient_free = search.gradient_free;
  lo.lambda_aux = 0;
  lo.lr = search.lr;
  lo.lambda_z = search.lambda_z;
  const auto classes = cls.empty() ? at::Tensor() : torch::tensor(cls, torch::kInt64);
  const auto labels = torch::ones({search.n}, torch::kInt64);
  const auto goal = Goal::targeted_to(torch::zeros({search.n}, torch::kInt64).to(detector.device()));
  const auto result = latent_search(LatentGenerator::from(gan), *verdict, nullptr, seeds, classes,
                                    labels.to(detector.device()), goal, lo);
  const auto found_scores = score_images(detector, result.images, options.batch_size);
  Finding f = latent_search_finding(result, detector.threshold(), found_scores, options.examples);
  f.parameters = {{"gan", data.gan_spec}, {"steps", search.steps}, {"lr", search.lr}, {"lambda_z", search.lambda_z},
                  {"gradient_free", search.gradient_free}};
  f.details["queries_mean"] = result.queries.to(torch::kFloat64).mean().item<double>();
  report.findings.push_back(std::move(f));
  rank_findings(report.findings, options.min_slice);
  report.found_images = result.images;
}

}  // namespace mirage
