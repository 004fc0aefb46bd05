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
#include "reports/blind_spot_json.h"
#include "reports/detector_inputs.h"

namespace mirage::cli {
namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw UsageError(message);
}

// The search's options, through BlindSpotOptions::fields() (its bounds; lists as "a,b,c", 'none' = skip).
FieldFlags search_flags() {
  return FieldFlags({
      {"jpeg", "post_processing.jpeg", "JPEG qualities to sweep ('none' to skip; default 90,75,50,30)"},
      {"blur", "post_processing.blur", "Gaussian blur sigmas in pixels (default 0.5,1,2)"},
      {"resize", "post_processing.resize", "down/up-scaling factors, scaled and back (default 0.5,0.75,1.5)"},
      {"noise", "post_processing.noise", "Gaussian noise sigmas in [0,1] units (default 0.01,0.03,0.1)"},
      {"crop", "post_processing.crop", "center-crop fractions, scaled back to the input size (default 0.9,0.75)"},
      {"eps-linf", "evasion.eps_linf", "evasion budgets for PGD and Square, Linf (default 1/255,2/255,4/255,8/255)"},
      {"eps-l2", "evasion.eps_l2", "evasion budgets for PGD, L2 (default 0.1,0.25,0.5,1)"},
      {"evasion-samples", "evasion.samples", "fakes attacked per budget (default 200)"},
      {"pgd-steps", "evasion.pgd_steps", "PGD steps per budget, step size eps/4 (default 20)"},
      {"square-queries", "evasion.square_queries", "black-box Square queries per fake, 0 skips it (default 500)"},
      {"latent-search", "latent_search", "GAN latent codes searched for fakes called real, 0 = off (default 64)"},
      {"search-steps", "search_steps", "steps of the latent search (default 50)"},
      {"search-lr", "search_lr", "Adam step on the latent codes (default 0.05)"},
      {"lambda-z", "lambda_z", "weight of the latent search's distance term beyond 0.1 per coordinate (default 1)"},
      {"clusters", "clusters", "k of the k-means on the evading fakes' latent codes, 0 = off (default 4)"},
      {"examples", "examples", "examples kept per finding (default 5)"},
      {"min-slice", "min_slice", "drop slices with fewer images (default 20)"},
      {"batch-size", "batch_size", "images per forward pass (default 256)"},
  });
}

}  // namespace

int blind_spots_main(const std::vector<std::string>& args) {
  CommonFlags common;
  std::string detector_path, real, out;
  std::vector<std::string> fakes;
  int64_t n_fakes = 1000, limit = 1000;
  bool gradient_free = false, no_minimal = false, overwrite = false;
  FieldFlags field_flags = search_flags();
  po::options_description options("options");
  options.add_options()
    ("detector,d", po::value(&detector_path), "detector file (.pt from 'mirage train-detector')")
    ("fake", po::value(&fakes)->composing(), "[name=]fakes: a GAN checkpoint folder or generator .pt (sampled from --seed), or image data; repeatable")
    ("real", po::value(&real)->default_value("fashion-mnist:test"), "real images for the false-alarm slices (data spec; 'none' to skip)")
    ("out,o", po::value(&out), "output folder: findings.json and examples/")
    ("overwrite", po::bool_switch(&overwrite), "replace --out if it exists")
    ("n", po::value(&n_fakes)->default_value(1000), "fakes sampled per GAN source")
    ("limit", po::value(&limit)->default_value(1000), "images used per image-data source and of --real (a seeded sample; 0 = all)")
    ("no-minimal", po::bool_switch(&no_minimal), "skip the minimal-perturbation (FAB) search")
    ("gradient-free", po::bool_switch(&gradient_free), "latent search from scores only (NES), as against a black-box detector");
  field_flags.add_to(options);
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
  require(n_fakes >= 1 && limit >= 0, "--n must be >= 1 and --limit >= 0");
  BlindSpotOptions o;
  o.min_slice = 20;  // as the detector audit's
  field_flags.apply(o, BlindSpotOptions::fields(), vm);
  o.minimal_norm = !no_minimal;
  o.latent_search.gradient_free = gradient_free;
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
  write_findings_contact_sheet(findings, staging, o.examples, channels, size, staging + "/examples/top.png");
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
                 {"evasion_samples", o.evasion_samples},
                 {"pgd_steps", o.pgd_steps},
                 {"square_queries", o.square_queries},
                 {"minimal_norm", o.minimal_norm},
                 {"latent_search", o.latent_search.n},
                 {"search_steps", o.latent_search.steps},
                 {"search_lr", o.latent_search.lr},
                 {"lambda_z", o.latent_search.lambda_z},
                 {"gradient_free", o.latent_search.gradient_free},
                 {"clusters", o.clusters},
                 {"min_slice", o.min_slice}};
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
  for (size_t i = 0; i < report.findings.size() && i < 5; ++i) log_info(finding_line(i + 1, report.findings[i]));
  return kExitOk;
}

}  // namespace mirage::cli
