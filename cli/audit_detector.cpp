// mirage audit detector — searches a detector's blind spots (the blind-spots command's search,
// configured by a checked-in file) and gates its AUC, TPR at 1% FPR and slice failures
// (reports/detector_audit.h).
#include <torch/torch.h>

#include <memory>

#include "cli/common.h"
#include "cli/render_flags.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/hash.h"
#include "lib/image/open_data.h"
#include "lib/log.h"
#include "detectors/detector.h"
#include "lib/image/transforms.h"
#include "reports/audit_config.h"
#include "reports/detector_audit.h"
#include "reports/detector_inputs.h"
#include "reports/schema.h"

namespace mirage::cli {

int audit_detector_main(const std::vector<std::string>& args) {
  CommonFlags common;
  RenderFlags render;
  std::string detector_path, real, config_path, out, images_dir;
  std::vector<std::string> fakes;
  po::options_description options("options");
  options.add_options()
    ("detector,d", po::value(&detector_path), "detector file (.pt from 'mirage train-detector')")
    ("fake", po::value(&fakes)->composing(), "[name=]fakes: a GAN checkpoint folder or generator .pt (sampled from --seed), or image data; repeatable")
    ("real", po::value(&real)->default_value("fashion-mnist:test"), "real images (data spec)")
    ("config,c", po::value(&config_path), "detector audit config JSON: sweeps, budgets, gates (docs/reports.md)")
    ("out,o", po::value(&out), "report JSON file (written atomically), or - for stdout")
    ("images", po::value(&images_dir), "also write the top findings' examples as PNGs here");
  add_render_options(options, render);
  add_common_options(options, common);
  po::positional_options_description positional;
  positional.add("detector", 1);
  po::variables_map vm;
  if (!parse_command("audit detector", "--detector DETECTOR.pt --fake SOURCE... --config AUDIT.json --out REPORT.json [options]",
                     "Audits a fake-image detector as a CI job: scores the fakes of every --fake source and the\n"
                     "--real images, and writes one JSON report (schema_version 1.0,\n"
                     "reports/schemas/detector.schema.json): AUC, average precision, accuracy, TPR/FPR at the\n"
                     "stored threshold, TPR at 1% FPR, EER and ECE, then the blind-spot search of\n"
                     "'mirage blind-spots' (source, class, post-processing, evasion, latent clusters and latent\n"
                     "search, as the config sets them) with findings ranked by the 95% Wilson lower bound, each\n"
                     "with examples and a command that reruns it, and the gates. The report is checked against\n"
                     "its schema before it is written. Exit 0 when every gate passes, 1 when one fails (the\n"
                     "report is still written), 2 for a bad flag, config field or input file.",
                     "  mirage audit detector --detector det.pt --fake runs/gan --config audit.json --out report.json\n"
                     "  mirage audit detector det.pt --fake runs/gan --real fashion-mnist:test --config audit.json --out r.json --images ex/\n"
                     "  mirage audit detector det.pt --fake runs/gan --config audit.json --out r.json --html r.html --markdown -\n"
                     "  mirage report validate report.json\n",
                     args, options, positional, vm, describe_data_specs())) {
    return kExitOk;
  }
  if (detector_path.empty()) throw UsageError("--detector is required");
  if (fakes.empty()) throw UsageError("--fake is required (a GAN checkpoint or image data)");
  if (config_path.empty()) throw UsageError("--config is required (docs/reports.md describes the format)");
  if (out.empty()) throw UsageError("--out is required (a report file, or - for stdout)");
  if (real == "none") throw UsageError("--real: the detector audit needs real images (AUC compares reals with fakes)");
  DetectorAuditConfig config = read_detector_audit_config(config_path);
  if (out != "-") check_output_path(out);
  check_render_outputs(render);
  Runtime runtime = start_runtime(common);

  auto detector = load_detector(detector_path, runtime.device);
  const ModelSpec& spec = detector->spec();
  BlindSpotInputs inputs = load_blind_spot_inputs(fakes, real, config.n, config.limit, runtime.seed, spec.channels,
                                                  spec.height, detector->info().input_policy, runtime.device);
  const ImageCodec codec = opencv_codec();
  DetectorAudit audit = run_detector_audit(*detector, inputs.data, config, codec, runtime.seed,
                                           [](const std::string& stage) { log_info("audit detector: " + stage); });
  auto gates = evaluate_detector_gates(config, audit);

  DetectorReportMetadata meta;
  meta.command = {"mirage", "audit", "detector"};
  meta.command.insert(meta.command.end(), args.begin(), args.end());
  meta.device = runtime.device.str();
  meta.threads = runtime.threads;
  meta.seed = runtime.seed;
  meta.detector_path = detector_path;
  meta.detector_sha256 = sha256_file(detector_path);
  meta.detector_spec = spec.to_json();
  meta.sources = inputs.sources;
  meta.image_dir = images_dir;
  meta.image_prefix = images_dir.empty() ? "" : images_dir + "/";
  nlohmann::json report = detector_report_json(audit, inputs.data, config, gates, meta);
  auto errors = validate_report(report);
  if (!errors.empty()) throw InternalError("the report does not match its own schema: " + errors.front());
  write_json(out, report);
  write_renderings(report, render);

  for (const auto& l : detector_audit_lines(audit, gates)) (l.warn ? log_warn : log_info)(l.text);
  const bool passed = all_passed(gates);
  log_info(std::string(passed ? "all gates passed" : "a gate failed") + "; wrote " + out);
  return passed ? kExitOk : kExitGateFailed;
}

}  // namespace mirage::cli
