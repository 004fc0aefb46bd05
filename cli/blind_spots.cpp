// mirage blind-spots — where a detector fails: fakes it calls real (and reals it calls fake) by
// source, class, post-processing, evasion budget, latent cluster and latent search, ranked worst
// first, with example images and the seeds that regenerate them. Writes one output folder
// (findings.json, examples/) that appears only when the run completes.
#include <torch/torch.h>

#include <cstdio>

#include "cli/common.h"
#include "detectors/blind_spots.h"
#include "detectors/detector.h"
#include "detectors/evaluate.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/image/io.h"
#include "lib/image/open_data.h"
#include "lib/image/transforms.h"
#include "lib/image_tensor.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/parse.h"
#include "reports/blind_spot_json.h"
#include "reports/detector_inputs.h"

namespace mirage::cli {
namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw UsageError(message);
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
  o.latent_search = {search_n, search_steps, search_lr, lambda_z, gradient_free};
  AtomicDirectory folder(out, overwrite);  // refuses an existing --out before any work

  Runtime runtime = start_runtime(common);
  o.seed = derive_seed(runtime.seed, "blind-spots");
  const std::string started = utc_now();
  auto detector = load_detector(detector_path, runtime.device);
  const ModelSpec& spec = detector->spec();
  const int64_t channels = spec.channels, size = spec.height;
  const std::string policy = detector->info().input_policy;

  BlindSpotInputs inputs = load_blind_spot_inputs(fakes, real, n_fakes, limit, runtime.seed, channels, size, policy, runtime.device);
  const BlindSpotData& data = inputs.data;
  const nlohmann::json& sources = inputs.sources;

  const ImageCodec codec = opencv_codec();
  BlindSpotReport report = search_blind_spots(*detector, data, o, codec, [](const std::string& stage) { log_info("blind-spots: " + stage); });

  const at::Tensor& found_images = report.found_images;

  // Output: findings.json, and the examples' images (fakes as sampled or read; latent-search
  // finds as found) under examples/.
  const std::string staging = folder.staging();
  ensure_directory(staging + "/examples");
  const nlohmann::json findings = findings_json(report, data, found_images, sources, staging + "/examples", "examples/");
  // One contact sheet of the top findings: a row each, their examples left to right.
  write_findings_contact_sheet(findings, staging, examples, channels, size, staging + "/examples/top.png");
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
  j["overall"] = {{"fakes_called_real", failure_rate_json(report.misses, report.n_fakes)},
                  {"reals_called_fake", failure_rate_json(report.false_alarms, report.n_reals)}};
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
