// mirage audit robustness — runs the attacks of a config against a classifier, writes a versioned
// JSON report (validated against its schema) and exits 1 when a gate fails (reports/robustness_audit.h).
#include <torch/torch.h>

#include <memory>

#include "cli/common.h"
#include "cli/render_flags.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/hash.h"
#include "lib/image/open_data.h"
#include "lib/log.h"
#include "reports/audit_config.h"
#include "reports/gates.h"
#include "reports/report_json.h"
#include "reports/robustness_audit.h"
#include "reports/schema.h"

namespace mirage::cli {

int audit_robustness_main(const std::vector<std::string>& args) {
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
    ("resize", po::value(&resize)->default_value("crop"), "how image files are fitted to the model: crop, stretch or imagenet (shorter side to 256/224 of the input, then the centre)")
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

  for (const auto& l : robustness_audit_lines(audit, gates, shard.sharded())) (l.warn ? log_warn : log_info)(l.text);
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

}  // namespace mirage::cli
