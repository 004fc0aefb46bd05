// mirage audit — audits for CI: `audit robustness` runs the attacks of a config against a
// classifier, writes a versioned JSON report (validated against its schema) and exits 1 when a
// gate fails. `audit detector` searches a detector's blind spots (the blind-spots command's
// search, configured by a checked-in file) and gates its AUC, TPR at 1% FPR and slice failures.
#include <torch/torch.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/common.h"
#include "cli/render_flags.h"
#include "detectors/blind_spots.h"
#include "detectors/detector.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/hash.h"
#include "lib/image/open_data.h"
#include "lib/image/transforms.h"
#include "lib/log.h"
#include "reports/audit_config.h"
#include "reports/detector_audit.h"
#include "reports/detector_inputs.h"
#include "reports/gates.h"
#include "reports/report_json.h"
#include "reports/robustness_audit.h"
#include "reports/schema.h"

namespace mirage::cli {

namespace {

void print_audit_help() {
  std::cout << "usage: mirage audit <subcommand> [options]\n\n"
               "Audits for CI: a versioned JSON report, exit 1 when a quality gate fails.\n\n"
               "subcommands:\n"
               "  robustness          attacks from a config against a classifier: robust accuracy, curves, gates\n"
               "  detector            a detector's metrics and blind spots from a config: findings, gates\n\n"
               "Run 'mirage audit <subcommand> --help' for its options; the config and report formats are in\n"
               "docs/reports.md. Exit codes: 0 every gate passed, 1 a gate failed, 2 bad usage, config or\n"
               "input, 3 internal error.\n";
}

int audit_robustness(const std::vector<std::string>& args) {
  CommonFlags common;
  SpecFlags spec_flags;
  RenderFlags render;
  std::string model_path, data, labels_path, config_path, out, images_dir, resize, shard_text;
  po::options_description options("options");
  options.add_options()
    ("model,m", po::value(&model_path), "TorchScript classifier (.pt) taking [0,1] images")
    ("data", po::value(&data)->default_value("fashion-mnist:test"), "labelled data (fashion-mnist[:train|test], image folder, IDX file, or file list)")
    ("labels", po::value(&labels_path), "IDX label file for IDX --data (default: found beside it)")
    ("config,c", po::value(&config_path), "audit config JSON: attacks, eps, limit, gates (docs/reports.md)")
    ("out,o", po::value(&out), "report JSON file (written atomically), or - for stdout")
    ("images", po::value(&images_dir), "also write each worst example's clean/adversarial pair as PNGs here")
    ("resize", po::value(&resize)->default_value("crop"), "how image files are fitted to the model: crop or stretch")
    ("shard", po::value(&shard_text), "I/N: audit only the I-th of N contiguous runs of batches; 'mirage report merge' joins the N reports");
  add_render_options(options, render);
  add_spec_options(options, spec_flags);
  add_common_options(options, common);
  po::positional_options_description positional;
  positional.add("model", 1);
  po::variables_map vm;
  if (!parse_command("audit robustness", "--model MODEL.pt --config AUDIT.json --out REPORT.json [options]",
                     "Audits a classifier's adversarial robustness as a CI job: runs every attack x eps of the\n"
                     "config on the first `limit` samples, and writes one JSON report (schema_version 1.0,\n"
                     "reports/schemas/robustness.schema.json): clean and robust accuracy with 95% Wilson\n"
                     "intervals, success rates, perturbation norms, queries, per-class robustness, confusion\n"
                     "shift, the worst examples, robustness curves, the AutoAttack headline, and the gates.\n"
                     "The report is checked against its schema before it is written. Exit 0 when every gate\n"
                     "passes, 1 when one fails (the report is still written), 2 for a bad flag, config field\n"
                     "or input file (the message names it; an existing report is left as it was).",
                     "  mirage audit robustness --model fmnist.pt --config audit.json --out report.json\n"
                     "  mirage audit robustness --model fmnist.pt --config audit.json --out report.json --images worst/\n"
                     "  mirage audit robustness --model fmnist.pt --config audit.json --out r.json --markdown - --junit gates.xml --html r.html\n"
                     "  mirage audit robustness --model fmnist.pt --config audit.json --shard 2/4 --out shard-2.json\n"
                     "  mirage report validate report.json\n",
                     args, options, positional, vm, describe_data_specs())) {
    return kExitOk;
  }
  if (model_path.empty()) throw UsageError("--model is required");
  if (config_path.empty()) throw UsageError("--config is required (docs/reports.md describes the format)");
  if (out.empty()) throw UsageError("--out is required (a report file, or - for stdout)");
  AuditConfig config = read_audit_config(config_path);
  const Shard shard = shard_text.empty() ? Shard{} : parse_shard(shard_text);
  if (out != "-") check_output_path(out);
  check_render_outputs(render);
  Runtime runtime = start_runtime(common);

  auto model = open_model(model_path, spec_flags, runtime.device);
  auto dataset = open_data(data, labels_path, resize, model->spec().channels, model->spec().height, model->spec().width);
  model->complete_spec(dataset->info());
  const ModelSpec& spec = model->spec();
  if (dataset->info().num_classes > spec.num_classes) {
    throw UsageError("--data " + dataset->info().name + " has " + std::to_string(dataset->info().num_classes) +
                     " classes but the model outputs " + std::to_string(spec.num_classes));
  }

  std::unique_ptr<Progress> bar;
  std::string bar_stage;
  RobustnessAudit audit = run_robustness_audit(
      *model, *dataset, config, runtime.seed, [&](const std::string& stage, int64_t done, int64_t total) {
        if (stage != bar_stage) {
          if (bar) bar->finish();
          bar = std::make_unique<Progress>(stage, total);
          bar_stage = stage;
        }
        bar->advance(done - bar->done());
      },
      shard);
  if (bar) bar->finish();
  auto gates = evaluate_gates(config, audit);

  ReportMetadata meta;
  meta.command = {"mirage", "audit", "robustness"};
  meta.command.insert(meta.command.end(), args.begin(), args.end());
  meta.device = runtime.device.str();
  meta.threads = runtime.threads;
  meta.seed = runtime.seed;
  meta.model_path = model_path;
  meta.model_sha256 = sha256_file(model_path);
  meta.model_spec = spec.to_json();
  meta.data_name = dataset->info().name;
  meta.images_dir = images_dir;
  nlohmann::json report = robustness_report_json(audit, config, gates, meta);
  auto errors = validate_report(report);
  if (!errors.empty()) throw InternalError("the report does not match its own schema: " + errors.front());
  if (!images_dir.empty()) write_worst_images(audit, images_dir);
  write_json(out, report);
  write_renderings(report, render);

  char line[200];
  std::snprintf(line, sizeof(line), "clean accuracy %.4f on %lld images", audit.clean_accuracy.value,
                static_cast<long long>(audit.n));
  log_info(line);
  for (const auto& r : audit.results) {
    std::snprintf(line, sizeof(line), "  %-12s eps %-8s robust accuracy %.4f [%.4f, %.4f]  (%.1f s)", r.attack.c_str(),
                  r.eps_text.c_str(), r.robust_accuracy.value, r.robust_accuracy.lo, r.robust_accuracy.hi, r.time.seconds);
    log_info(line);
  }
  for (const auto& g : gates) {
    if (shard.sharded()) break;  // a shard's own numbers decide nothing: its gates are not logged
    std::string what = g.metric + (g.attack.empty() ? "" : " " + g.attack) + (g.has_eps ? " eps " + g.eps_text : "");
    std::snprintf(line, sizeof(line), "gate %s: %.4f %s %.4f %s", what.c_str(), g.value, g.op.c_str(), g.threshold,
                  g.passed ? "passed" : "FAILED");
    (g.passed ? log_info : log_warn)(line);
  }
  if (shard.sharded()) {
    // A shard's gates are over its own samples: the verdict is the merged report's.
    log_info("shard " + std::to_string(shard.index) + "/" + std::to_string(shard.count) + " (samples " +
             std::to_string(audit.first) + "-" + std::to_string(audit.end - 1) + " of " + std::to_string(audit.total_n) +
             "); wrote " + out + "; 'mirage report merge' joins the shards and decides the gates");
    return kExitOk;
  }
  const bool passed = all_passed(gates);
  log_info(std::string(passed ? "all gates passed" : "a gate failed") + "; wrote " + out);
  return passed ? kExitOk : kExitGateFailed;
}

int audit_detector(const std::vector<std::string>& args) {
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

  const auto& m = audit.overall;
  char line[256];
  std::snprintf(line, sizeof(line), "AUC %.4f, TPR@1%%FPR %.4f, accuracy %.4f at threshold %.4f on %lld reals, %lld fakes",
                m.auc, m.tpr_at_1pct_fpr, m.accuracy, audit.threshold, static_cast<long long>(m.n_real),
                static_cast<long long>(m.n_fake));
  log_info(line);
  const auto& findings = audit.blind_spots.findings;
  for (size_t i = 0; i < findings.size() && i < 5; ++i) {
    const auto& f = findings[i];
    std::snprintf(line, sizeof(line), "  #%zu %s %s %s: %lld/%lld %s (%.1f%%, 95%% CI %.1f-%.1f%%)", i + 1,
                  f.search.c_str(), f.slice.c_str(), f.parameters.dump().c_str(), static_cast<long long>(f.failures),
                  static_cast<long long>(f.n), f.population == "fakes" ? "called real" : "called fake", 100 * f.rate,
                  100 * f.ci_low, 100 * f.ci_high);
    log_info(line);
  }
  for (const auto& g : gates) {
    std::string what = g.gate.metric + (g.gate.slice.empty() ? "" : " " + g.gate.slice + " " + g.gate.parameters.dump());
    if (g.found) {
      std::snprintf(line, sizeof(line), "gate %s: %.4f %s %.4f %s", what.c_str(), g.value, g.op.c_str(), g.threshold,
                    g.passed ? "passed" : "FAILED");
    } else {
      std::snprintf(line, sizeof(line), "gate %s: no such finding FAILED", what.c_str());
    }
    (g.passed ? log_info : log_warn)(line);
  }
  const bool passed = all_passed(gates);
  log_info(std::string(passed ? "all gates passed" : "a gate failed") + "; wrote " + out);
  return passed ? kExitOk : kExitGateFailed;
}

}  // namespace

int audit_main(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_audit_help();
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "robustness") return audit_robustness(rest);
  if (args[0] == "detector") return audit_detector(rest);
  throw UsageError("unknown audit '" + args[0] + "' (robustness, detector; see 'mirage audit --help')");
}

}  // namespace mirage::cli
