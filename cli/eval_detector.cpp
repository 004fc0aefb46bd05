// mirage eval-detector — how well a detector separates real from fake images: AUC, AP, accuracy
// and TPR at its threshold, TPR at 1% FPR, EER, ECE, per fake source and per class; optionally
// under JPEG, blur and white-box PGD on the detector.
#include <torch/torch.h>

#include "cli/common.h"
#include "detectors/detector.h"
#include "detectors/evaluate.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/image/open_data.h"
#include "lib/image/transforms.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "reports/detector_inputs.h"

namespace mirage::cli {
int eval_detector_main(const std::vector<std::string>& args) {
  CommonFlags common;
  std::string detector_path, real, out, jpeg, blur, pgd;
  std::vector<std::string> fakes;
  int64_t limit = 0, fake_count = 1000, batch_size = 256, pgd_steps = 10;
  po::options_description options("options");
  options.add_options()
    ("detector,d", po::value(&detector_path), "detector file (.pt from 'mirage train-detector')")
    ("real", po::value(&real)->default_value("fashion-mnist:test"), "real images (data spec)")
    ("fake", po::value(&fakes)->composing(), "[name=]fake images: a data spec, a GAN checkpoint folder or generator .pt; repeatable")
    ("out,o", po::value(&out)->default_value("-"), "report JSON ('-' = stdout)")
    ("limit", po::value(&limit)->default_value(0), "use N real images and N per image source (a seeded sample; 0 = all)")
    ("fake-count", po::value(&fake_count)->default_value(1000), "fakes sampled per GAN source")
    ("batch-size", po::value(&batch_size)->default_value(256), "images per forward pass")
    ("jpeg", po::value(&jpeg), "also measure AUC after JPEG re-compression at these qualities (e.g. 90,75,50)")
    ("blur", po::value(&blur), "also measure AUC after Gaussian blur of these sigmas in pixels (e.g. 0.5,1,2)")
    ("pgd", po::value(&pgd), "also measure AUC under white-box PGD-Linf on the detector at these eps (e.g. 1/255,2/255,4/255,8/255)")
    ("pgd-steps", po::value(&pgd_steps)->default_value(10), "PGD steps (step size 2.5 eps / steps)");
  add_common_options(options, common);
  po::positional_options_description positional;
  positional.add("detector", 1);
  po::variables_map vm;
  if (!parse_command("eval-detector", "--detector DETECTOR.pt --real DATA --fake SOURCE... [options]",
                     "Scores real and fake images with a detector and reports ROC AUC, average precision,\n"
                     "accuracy, TPR and FPR at the detector's stored threshold, TPR at 1% FPR, the equal error\n"
                     "rate and the expected calibration error: overall, per fake source (reals vs that source's\n"
                     "fakes) and per class (when labels exist). --jpeg/--blur re-measure after post-processing\n"
                     "of every image; --pgd after a white-box attack on the detector that pushes each image\n"
                     "toward the other class (fakes toward 'real': evasion).",
                     "  mirage eval-detector det.pt --fake runs/gan --out eval.json\n"
                     "  mirage eval-detector det.pt --fake dcgan=runs/dcgan --fake wgan=runs/wgan --jpeg 90,75,50 --blur 0.5,1,2\n"
                     "  mirage eval-detector det.pt --fake fakes/ --pgd 1/255,2/255,4/255,8/255 --limit 1000\n",
                     args, options, positional, vm, describe_data_specs())) {
    return kExitOk;
  }
  if (detector_path.empty()) throw UsageError("--detector is required");
  if (fakes.empty()) throw UsageError("--fake is required (image data or a GAN checkpoint)");
  if (limit < 0 || fake_count < 1 || batch_size < 1 || pgd_steps < 1) throw UsageError("--limit >= 0, --fake-count, --batch-size and --pgd-steps >= 1");
  RobustnessSweeps sweeps;
  for (double q : parse_number_list(jpeg, "--jpeg")) {
    if (q < 1 || q > 100 || q != std::floor(q)) throw UsageError("--jpeg: qualities are integers in [1, 100]");
    sweeps.jpeg_qualities.push_back(static_cast<int>(q));
  }
  sweeps.blur_sigmas = parse_number_list(blur, "--blur");
  sweeps.pgd_eps = parse_number_list(pgd, "--pgd");
  sweeps.pgd_steps = pgd_steps;
  for (double s : sweeps.blur_sigmas) {
    if (!(s > 0)) throw UsageError("--blur: sigmas must be > 0");
  }
  for (double e : sweeps.pgd_eps) {
    if (!(e > 0 && e < 1)) throw UsageError("--pgd: eps must be in (0, 1)");
  }
  if (out != "-") check_output_path(out);
  Runtime runtime = start_runtime(common);
  const std::string started = utc_now();
  auto detector = load_detector(detector_path, runtime.device);
  const ModelSpec& spec = detector->spec();
  const int64_t channels = spec.channels, size = spec.height;
  const std::string policy = detector->info().input_policy;

  LabelledSets sets;
  ImageSource real_source = open_image_source(real, channels, size, policy, runtime.device);
  if (real_source.is_gan()) throw UsageError("--real must be image data, not a GAN");
  std::vector<std::string> class_names = real_source.data->info().class_names;
  SourceImages reals = load_source(real_source, limit, derive_seed(runtime.seed, "real-sample"), channels, size);
  sets.add(reals.images, reals.labels, 0, "real");
  nlohmann::json sources = nlohmann::json::array();
  sources.push_back({{"name", "real"}, {"spec", real}, {"n", reals.images.size(0)}});
  for (size_t k = 0; k < fakes.size(); ++k) {
    ImageSource s = open_image_source(fakes[k], channels, size, policy, runtime.device);
    SourceImages f = s.is_gan() ? sample_source(s, fake_count, derive_seed(runtime.seed, "eval-fakes-" + std::to_string(k)), channels, size)
                                : load_source(s, limit, derive_seed(runtime.seed, "fake-sample-" + std::to_string(k)), channels, size);
    // A folder's labels are classes of the real data only when its class folders are the same.
    const bool same_classes = s.is_gan() || s.data->info().class_names == class_names;
    sets.add(f.images, same_classes ? f.labels : torch::full_like(f.labels, -1), 1, s.name);
    sources.push_back({{"name", s.name}, {"spec", s.spec}, {"kind", s.is_gan() ? "gan" : "images"}, {"n", f.images.size(0)}});
  }

  const double threshold = detector->threshold();
  const DetectorScores clean = score_sets(*detector, sets, batch_size);
  nlohmann::json report = run_header("eval-detector", runtime, started);
  report["detector"] = model_file_json(detector_path, spec);
  report["threshold"] = threshold;
  report["sources"] = sources;
  report["config"] = {{"limit", limit}, {"fake_count", fake_count}, {"jpeg", sweeps.jpeg_qualities}, {"blur", sweeps.blur_sigmas}, {"pgd", sweeps.pgd_eps},
                      {"pgd_steps", pgd_steps}};
  report["metrics"] = detection_report(clean, threshold, class_names);

  if (!sweeps.empty()) report["robustness"] = robustness_sweeps(*detector, sets, sweeps, opencv_codec(), runtime.seed, batch_size);
  report["finished"] = utc_now();
  write_json(out, report);
  const auto& o = report["metrics"]["overall"];
  char line[220];
  std::snprintf(line, sizeof(line), "AUC %.4f, AP %.4f, at threshold %.4f: TPR %.4f FPR %.4f; TPR at 1%% FPR %.4f; EER %.4f",
                o["auc"].get<double>(), o["average_precision"].get<double>(), threshold, o["tpr"].get<double>(),
                o["fpr"].get<double>(), o["tpr_at_1pct_fpr"].get<double>(), o["eer"].get<double>());
  log_info(line);
  return kExitOk;
}

}  // namespace mirage::cli
