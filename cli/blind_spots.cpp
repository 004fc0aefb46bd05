// mirage blind-spots — where a detector fails: fakes it calls real (and reals it calls fake) by
// source, class, post-processing, evasion budget, latent cluster and latent search, ranked worst
// first, with example images and the seeds that regenerate them. Writes one output folder
// (findings.json, examples/) that appears only when the run completes.
#include <torch/torch.h>

#include <cstdio>
#include <sstream>

#include "attacks/latent_search.h"
#include "cli/common.h"
#include "cli/detector_data.h"
#include "detectors/blind_spots.h"
#include "detectors/detector.h"
#include "detectors/evaluate.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/image/grid.h"
#include "lib/image/io.h"
#include "lib/image/open_data.h"
#include "lib/image/transforms.h"
#include "lib/image_tensor.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/parse.h"

namespace mirage::cli {
namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw UsageError(message);
}

nlohmann::json rate_json(int64_t k, int64_t n) {
  const auto [lo, hi] = wilson_interval(k, n);
  return {{"failures", k}, {"n", n}, {"rate", n > 0 ? static_cast<double>(k) / static_cast<double>(n) : 0.0}, {"ci95", {lo, hi}}};
}

// The command that regenerates a GAN fake exactly (generate draws one fake per pass, as here).
std::string regenerate_command(const std::string& gan, uint64_t seed, int64_t cls) {
  std::string c = "mirage generate --gan " + gan + " --latent-seeds " + std::to_string(seed);
  if (cls >= 0) c += " --class " + std::to_string(cls);
  return c + " --out fake-" + std::to_string(seed);
}

}  // namespace

int blind_spots_main(const std::vector<std::string>& args) {
  CommonFlags common;
  std::string detector_path, real, out, jpeg, blur, resize, noise, crop, eps_linf, eps_l2;
  std::vector<std::string> fakes;
  int64_t n_fakes = 1000, limit = 1000, batch_size = 256, search_n = 64, search_steps = 50, clusters = 4, examples = 5,
          evasion_samples = 200, pgd_steps = 20, square_queries = 500, min_slice = 20;
  double search_lr = 0.05, lambda_z = 1.0;
  bool gradient_free = false, no_minimal = false, overwrite = false;
  po::options_description options("options");
  options.add_options()
    ("detector,d", po::value(&detector_path), "detector file (.pt from 'mirage train-detector')")
    ("fake", po::value(&fakes)->composing(), "[name=]fakes: a GAN checkpoint folder or generator .pt (sampled from --seed), or image data; repeatable")
    ("real", po::value(&real)->default_value("fashion-mnist:test"), "real images for the false-alarm slices (data spec; 'none' to skip)")
    ("out,o", po::value(&out), "output folder: findings.json and examples/")
    ("overwrite", po::bool_switch(&overwrite), "replace --out if it exists")
    ("n", po::value(&n_fakes)->default_value(1000), "fakes sampled per GAN source")
    ("limit", po::value(&limit)->default_value(1000), "images used per image-data source and of --real (a seeded sample; 0 = all)")
    ("jpeg", po::value(&jpeg)->default_value("90,75,50,30"), "JPEG qualities to sweep ('none' to skip)")
    ("blur", po::value(&blur)->default_value("0.5,1,2"), "Gaussian blur sigmas in pixels")
    ("resize", po::value(&resize)->default_value("0.5,0.75,1.5"), "down/up-scaling factors (scaled and back)")
    ("noise", po::value(&noise)->default_value("0.01,0.03,0.1"), "Gaussian noise sigmas in [0,1] units")
    ("crop", po::value(&crop)->default_value("0.9,0.75"), "center-crop fractions (scaled back to the input size)")
    ("eps-linf", po::value(&eps_linf)->default_value("1/255,2/255,4/255,8/255"), "evasion budgets for PGD and Square (Linf)")
    ("eps-l2", po::value(&eps_l2)->default_value("0.1,0.25,0.5,1"), "evasion budgets for PGD (L2)")
    ("evasion-samples", po::value(&evasion_samples)->default_value(200), "fakes attacked per budget")
    ("pgd-steps", po::value(&pgd_steps)->default_value(20), "PGD steps per budget (step size eps/4)")
    ("square-queries", po::value(&square_queries)->default_value(500), "black-box Square queries per fake (0 skips it)")
    ("no-minimal", po::bool_switch(&no_minimal), "skip the minimal-perturbation (FAB) search")
    ("latent-search", po::value(&search_n)->default_value(64), "GAN latent codes searched for fakes called real (0 = off)")
    ("search-steps", po::value(&search_steps)->default_value(50), "steps of the latent search")
    ("search-lr", po::value(&search_lr)->default_value(0.05), "Adam step on the latent codes")
    ("lambda-z", po::value(&lambda_z)->default_value(1.0), "weight of the latent search's distance term (beyond 0.1 per coordinate)")
    ("gradient-free", po::bool_switch(&gradient_free), "latent search from scores only (NES), as against a black-box detector")
    ("clusters", po::value(&clusters)->default_value(4), "k of the k-means on the evading fakes' latent codes (0 = off)")
    ("examples", po::value(&examples)->default_value(5), "examples kept per finding")
    ("min-slice", po::value(&min_slice)->default_value(20), "drop slices with fewer images")
    ("batch-size", po::value(&batch_size)->default_value(256), "images per forward pass");
  add_common_options(options, common);
  po::positional_options_description positional;
  positional.add("detector", 1);
  po::variables_map vm;
  if (!parse_command("blind-spots", "--detector DETECTOR.pt --fake SOURCE... --out DIR [options]",
                     "Searches for a detector's blind spots: the fakes it calls real and the reals it calls fake,\n"
                     "at its stored threshold, sliced by fake source, class, post-processing (JPEG, blur, resize,\n"
                     "noise, crop, gray), evasion budget (white-box PGD and black-box Square toward 'real', and\n"
                     "the minimal perturbation that flips each fake), latent cluster of the evading GAN fakes,\n"
                     "and a latent search over the GAN for fakes called real. Each finding has n, failures,\n"
                     "the failure rate with a 95% Wilson interval, the gap to the unsliced rate and examples with\n"
                     "the seed or file that reproduces them; findings are ranked by the interval's lower end.\n"
                     "Writes DIR/findings.json and DIR/examples/ (the examples of the top findings as PNG, and\n"
                     "examples/top.png: a row per top finding).\n"
                     "Exit 0 when the search ran (finding blind spots is a result, not an error); 2 on bad usage.",
                     "  mirage blind-spots det.pt --fake runs/gan --out blindspots\n"
                     "  mirage blind-spots det.pt --fake dcgan=runs/dcgan --fake fakes/ --jpeg 75,50 --latent-search 0 --out bs\n"
                     "  mirage blind-spots det.pt --fake runs/cgan --gradient-free --square-queries 1000 --out bs\n",
                     args, options, positional, vm, describe_data_specs())) {
    return kExitOk;
  }
  require(!detector_path.empty(), "--detector is required");
  require(!fakes.empty(), "--fake is required (a GAN checkpoint or image data)");
  require(!out.empty(), "--out is required (a folder for findings.json and examples/)");
  require(search_lr > 0 && lambda_z >= 0, "--search-lr must be > 0 and --lambda-z >= 0");
  require(n_fakes >= 1 && limit >= 0 && batch_size >= 1 && search_n >= 0 && search_steps >= 1 && clusters >= 0 &&
              examples >= 0 && evasion_samples >= 0 && pgd_steps >= 1 && square_queries >= 0 && min_slice >= 1,
          "--n, --batch-size, --search-steps, --pgd-steps and --min-slice must be >= 1; the other counts >= 0");
  BlindSpotOptions o;
  o.jpeg_qualities.clear();
  for (double q : parse_number_list(jpeg, "--jpeg")) {
    require(q >= 1 && q <= 100 && q == std::floor(q), "--jpeg: qualities are integers in [1, 100]");
    o.jpeg_qualities.push_back(static_cast<int>(q));
  }
  o.blur_sigmas = parse_number_list(blur, "--blur");
  o.resize_scales = parse_number_list(resize, "--resize");
  o.noise_sigmas = parse_number_list(noise, "--noise");
  o.crop_fractions = parse_number_list(crop, "--crop");
  o.evasion_eps_linf = parse_number_list(eps_linf, "--eps-linf");
  o.evasion_eps_l2 = parse_number_list(eps_l2, "--eps-l2");
  for (double v : o.blur_sigmas) require(v > 0, "--blur: sigmas must be > 0");
  for (double v : o.resize_scales) require(v > 0 && v <= 8, "--resize: scales must be in (0, 8]");
  for (double v : o.noise_sigmas) require(v > 0 && v <= 1, "--noise: sigmas must be in (0, 1]");
  for (double v : o.crop_fractions) require(v > 0 && v <= 1, "--crop: fractions must be in (0, 1]");
  for (double v : o.evasion_eps_linf) require(v > 0 && v <= 1, "--eps-linf: budgets must be in (0, 1]");
  for (double v : o.evasion_eps_l2) require(v > 0, "--eps-l2: budgets must be > 0");
  o.evasion_samples = evasion_samples;
  o.pgd_steps = pgd_steps;
  o.square_queries = square_queries;
  o.minimal_norm = !no_minimal;
  o.clusters = clusters;
  o.examples = examples;
  o.min_slice = min_slice;
  o.batch_size = batch_size;
  AtomicDirectory folder(out, overwrite);  // refuses an existing --out before any work

  Runtime runtime = start_runtime(common);
  o.seed = derive_seed(runtime.seed, "blind-spots");
  const std::string started = utc_now();
  auto detector = load_detector(detector_path, runtime.device);
  const ModelSpec& spec = detector->spec();
  const int64_t channels = spec.channels, size = spec.height;
  const std::string policy = detector->info().input_policy;

  // Fakes: GAN sources one per pass from fake_seed(seed, i) (regenerable with 'mirage generate
  // --latent-seeds'), with their latent codes; data sources as files.
  BlindSpotData data;
  std::vector<at::Tensor> fake_sets, fake_classes, latents;
  nlohmann::json sources = nlohmann::json::array();
  std::shared_ptr<GeneratorModel> search_gan;
  std::string search_gan_spec;
  bool all_gan = true;
  for (size_t k = 0; k < fakes.size(); ++k) {
    ImageSource s = open_image_source(fakes[k], channels, size, policy, runtime.device);
    if (s.is_gan()) {
      GeneratorModel& g = *s.generator;
      if (g.output_channels() != channels || g.spec().height != size || g.spec().width != size) {
        throw UsageError(s.spec + ": the GAN makes " + std::to_string(g.output_channels()) + "x" + std::to_string(g.spec().height) + "x" +
                         std::to_string(g.spec().width) + " images but the detector takes " + std::to_string(channels) + "x" +
                         std::to_string(size) + "x" + std::to_string(size));
      }
      if (!search_gan) {
        search_gan = s.generator;
        search_gan_spec = s.spec;
      }
      torch::NoGradGuard no_grad;
      std::vector<at::Tensor> images, z;
      std::vector<int64_t> cls;
      for (int64_t i = 0; i < n_fakes; ++i) {
        const uint64_t seed = fake_seed(runtime.seed, i);
        z.push_back(latent_for_seed(seed, g.z_dim()));
        at::Tensor y;
        int64_t c = -1;
        if (g.num_classes() > 0) {
          c = i % g.num_classes();
          y = torch::tensor({c}, torch::kLong).to(g.device());
        }
        images.push_back(g.generate(z.back().unsqueeze(0).to(g.device()), y).to(torch::kCPU));
        cls.push_back(c);
        data.fake_seeds.push_back(seed);
        data.fake_ids.push_back(s.name + ":seed:" + std::to_string(seed));
        data.fake_sources.push_back(s.name);
      }
      fake_sets.push_back(torch::cat(images));
      fake_classes.push_back(torch::tensor(cls, torch::kInt64));
      latents.push_back(torch::stack(z));
      sources.push_back({{"name", s.name}, {"spec", s.spec}, {"kind", "gan"}, {"n", n_fakes}, {"classes", g.num_classes()}});
    } else {
      all_gan = false;
      SourceImages f = load_source(s, limit, derive_seed(runtime.seed, "fake-sample-" + std::to_string(k)), channels, size);
      if (f.images.size(0) == 0) throw UsageError(s.spec + ": no images");
      fake_sets.push_back(f.images);
      fake_classes.push_back(torch::full({f.images.size(0)}, -1, torch::kInt64));
      for (const auto& id : f.ids) {
        data.fake_ids.push_back(id);
        data.fake_seeds.push_back(std::nullopt);
        data.fake_sources.push_back(s.name);
      }
      sources.push_back({{"name", s.name}, {"spec", s.spec}, {"kind", "images"}, {"n", f.images.size(0)}});
    }
  }
  data.fakes = torch::cat(fake_sets);
  data.fake_classes = torch::cat(fake_classes);
  // Latent clusters need a code for every fake (and one latent space): one GAN source only.
  if (all_gan && latents.size() == 1) data.fake_latents = latents[0];
  if (real != "none") {
    ImageSource r = open_image_source(real, channels, size, policy, runtime.device);
    require(!r.is_gan(), "--real must be image data, not a GAN");
    data.class_names = r.data->info().class_names;
    SourceImages reals = load_source(r, limit, derive_seed(runtime.seed, "real-sample"), channels, size);
    data.reals = reals.images;
    data.real_classes = reals.labels;
    data.real_ids = reals.ids;
    sources.push_back({{"name", "real"}, {"spec", real}, {"kind", "images"}, {"n", reals.images.size(0)}});
  }
  if (data.class_names.empty() && search_gan) data.class_names = search_gan->spec().class_names;

  PostProcessing post;
  post.jpeg = [](const at::Tensor& x, int q) { return jpeg_recompress(x, q); };
  post.resize = [](const at::Tensor& x, double s) { return resize_roundtrip(x, s); };
  BlindSpotReport report = search_blind_spots(*detector, data, o, post, [](const std::string& stage) { log_info("blind-spots: " + stage); });

  // Latent search: from the first search_n seeds of the first GAN, toward "real".
  at::Tensor found_images;
  std::vector<std::string> found_files;
  nlohmann::json search_json = nullptr;
  if (search_gan && search_n > 0) {
    log_info("blind-spots: latent search over " + std::to_string(search_n) + " codes");
    auto verdict = verdict_model(*detector);
    std::vector<uint64_t> seeds;
    std::vector<int64_t> cls;
    for (int64_t i = 0; i < search_n; ++i) {
      seeds.push_back(fake_seed(runtime.seed, i));
      cls.push_back(search_gan->num_classes() > 0 ? i % search_gan->num_classes() : -1);
    }
    LatentSearchOptions lo;
    lo.steps = search_steps;
    lo.gradient_free = gradient_free;
    lo.lambda_aux = 0;
    lo.lr = search_lr;
    lo.lambda_z = lambda_z;
    const auto classes = search_gan->num_classes() > 0 ? torch::tensor(cls, torch::kInt64) : at::Tensor();
    const auto labels = torch::ones({search_n}, torch::kInt64);
    const auto goal = Goal::targeted_to(torch::zeros({search_n}, torch::kInt64).to(detector->device()));
    const auto result = latent_search(LatentGenerator::from(*search_gan), *verdict, nullptr, seeds, classes,
                                      labels.to(detector->device()), goal, lo);
    const auto found_scores = score_images(*detector, result.images, batch_size);
    Finding f = latent_search_finding(result, detector->threshold(), found_scores, examples);
    f.parameters = {{"gan", search_gan_spec}, {"steps", search_steps}, {"lr", search_lr}, {"lambda_z", lambda_z},
                    {"gradient_free", gradient_free}};
    f.details["queries_mean"] = result.queries.to(torch::kFloat64).mean().item<double>();
    found_images = result.images;
    report.findings.push_back(std::move(f));
    rank_findings(report.findings, o.min_slice);
  }

  // Output: findings.json, and the examples' images (fakes as sampled or read; latent-search
  // finds as found) under examples/.
  const std::string staging = folder.staging();
  ensure_directory(staging + "/examples");
  nlohmann::json findings = nlohmann::json::array();
  int rank = 0;
  for (const auto& f : report.findings) {
    ++rank;
    nlohmann::json ex = nlohmann::json::array();
    int k = 0;
    for (const auto& e : f.examples) {
      nlohmann::json j = {{"id", e.id}, {"score", e.score}};
      if (e.seed) j["seed"] = *e.seed;
      if (e.cls >= 0) {
        j["class"] = e.cls;
        if (static_cast<size_t>(e.cls) < data.class_names.size()) j["class_name"] = data.class_names[static_cast<size_t>(e.cls)];
      }
      if (e.clean_score >= 0) j["clean_score"] = e.clean_score;
      const bool from_search = f.search == "latent-search";
      at::Tensor image;
      if (from_search && found_images.defined()) image = found_images[e.index];
      else if (!from_search && f.population == "fakes") image = data.fakes[e.index];
      else if (!from_search) image = data.reals[e.index];
      if (image.defined() && rank <= 20) {
        char name[64];
        std::snprintf(name, sizeof(name), "examples/%02d_%s_%d.png", rank, f.population.c_str(), k);
        write_image(staging + "/" + name, image);
        j["image"] = name;
      }
      if (e.seed && !from_search) {
        for (const auto& s : sources) {
          if (e.id.rfind(s["name"].get<std::string>() + ":seed:", 0) == 0) {
            j["reproduce"] = regenerate_command(s["spec"].get<std::string>(), *e.seed, e.cls);
          }
        }
      }
      ex.push_back(j);
      ++k;
    }
    findings.push_back({{"rank", rank},
                        {"search", f.search},
                        {"slice", f.slice},
                        {"parameters", f.parameters},
                        {"population", f.population},
                        {"n", f.n},
                        {"failures", f.failures},
                        {"rate", f.rate},
                        {"ci95", {f.ci_low, f.ci_high}},
                        {"baseline_rate", f.baseline_rate},
                        {"gap", f.gap()},
                        {"mean_p_fake", f.mean_score},
                        {"examples", ex},
                        {"details", f.details}});
  }
  // One contact sheet of the top findings: a row each, their examples left to right.
  if (examples > 0) {
    std::vector<at::Tensor> cells;
    int64_t rows = 0;
    for (const auto& f : findings) {
      if (rows == 8) break;
      std::vector<at::Tensor> row;
      for (const auto& e : f["examples"]) {
        if (e.contains("image")) row.push_back(read_image(staging + "/" + e["image"].get<std::string>(), channels, size, size));
      }
      if (row.empty()) continue;
      while (static_cast<int64_t>(row.size()) < examples) row.push_back(torch::full({channels, size, size}, 0.5));
      for (auto& t : row) cells.push_back(t);
      ++rows;
    }
    if (!cells.empty()) write_grid(staging + "/examples/top.png", torch::stack(cells), examples);
  }
  nlohmann::json j = run_header("blind-spots", runtime, started);
  j["detector"] = model_file_json(detector_path, spec);
  j["threshold"] = report.threshold;
  j["sources"] = sources;
  j["config"] = {{"n", n_fakes},
                 {"limit", limit},
                 {"jpeg", o.jpeg_qualities},
                 {"blur", o.blur_sigmas},
                 {"resize", o.resize_scales},
                 {"noise", o.noise_sigmas},
                 {"crop", o.crop_fractions},
                 {"eps_linf", o.evasion_eps_linf},
                 {"eps_l2", o.evasion_eps_l2},
                 {"evasion_samples", evasion_samples},
                 {"pgd_steps", pgd_steps},
                 {"square_queries", square_queries},
                 {"minimal_norm", !no_minimal},
                 {"latent_search", search_n},
                 {"search_steps", search_steps},
                 {"search_lr", search_lr},
                 {"lambda_z", lambda_z},
                 {"gradient_free", gradient_free},
                 {"clusters", clusters},
                 {"min_slice", min_slice}};
  j["overall"] = {{"fakes_called_real", rate_json(report.misses, report.n_fakes)},
                  {"reals_called_fake", rate_json(report.false_alarms, report.n_reals)}};
  j["findings"] = findings;
  j["finished"] = utc_now();
  write_text_atomic(staging + "/findings.json", j.dump(2) + "\n");
  folder.commit();

  char line[256];
  std::snprintf(line, sizeof(line), "fakes called real: %lld/%lld; reals called fake: %lld/%lld; %zu findings -> %s/findings.json",
                static_cast<long long>(report.misses), static_cast<long long>(report.n_fakes),
                static_cast<long long>(report.false_alarms), static_cast<long long>(report.n_reals), report.findings.size(),
                out.c_str());
  log_info(line);
  for (size_t i = 0; i < report.findings.size() && i < 5; ++i) {
    const auto& f = report.findings[i];
    std::snprintf(line, sizeof(line), "  #%zu %s %s %s: %lld/%lld %s (%.1f%%, 95%% CI %.1f-%.1f%%)", i + 1, f.search.c_str(),
                  f.slice.c_str(), f.parameters.dump().c_str(), static_cast<long long>(f.failures), static_cast<long long>(f.n),
                  f.population == "fakes" ? "called real" : "called fake", 100 * f.rate, 100 * f.ci_low, 100 * f.ci_high);
    log_info(line);
  }
  return kExitOk;
}

}  // namespace mirage::cli
