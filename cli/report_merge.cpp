// mirage report merge — joins the reports of a sharded audit into the report one unsharded run
// gives (reports/merge.h).
#include "cli/common.h"
#include "cli/render_flags.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/json_io.h"
#include "lib/log.h"
#include "reports/merge.h"
#include "reports/schema.h"

namespace mirage::cli {

int report_merge_main(const std::vector<std::string>& args) {
  CommonFlags common;
  RenderFlags render;
  std::vector<std::string> files;
  std::string out;
  po::options_description options("options");
  options.add_options()
    ("shards", po::value(&files)->composing(), "the shard reports (any order)")
    ("out,o", po::value(&out), "the merged report JSON (written atomically), or - for stdout");
  add_render_options(options, render);
  add_common_options(options, common);
  po::positional_options_description positional;
  positional.add("shards", -1);
  po::variables_map vm;
  if (!parse_command("report merge", "SHARD.json... --out REPORT.json",
                     "Joins the reports of 'mirage audit robustness --shard I/N' (I = 1..N, same model, data,\n"
                     "config and seed) into the report one unsharded run gives: counts add, and intervals,\n"
                     "percentiles, curves, the worst examples and the gates are recomputed from the merged\n"
                     "per-sample records. Only reproducibility and timing differ (the merged report lists its\n"
                     "shards under merged_from; times add up). Exit 0 every merged gate passed, 1 one failed,\n"
                     "2 when a shard is invalid, missing, repeated, or does not belong with the others.",
                     "  mirage report merge shard-*.json --out report.json --markdown summary.md\n",
                     args, options, positional, vm)) {
    return kExitOk;
  }
  if (files.empty()) throw UsageError("give the shard reports: mirage report merge SHARD.json... --out REPORT.json");
  if (out.empty()) throw UsageError("--out is required (the merged report, or - for stdout)");
  if (out != "-") check_output_path(out);
  check_render_outputs(render);
  start_runtime(common);
  std::vector<nlohmann::json> shards;
  for (const auto& f : files) shards.push_back(read_json_file(f));
  nlohmann::json merged = merge_robustness_reports(shards, files);
  auto errors = validate_report(merged);
  if (!errors.empty()) throw InternalError("the merged report does not match its schema: " + errors.front());
  write_json(out, merged);
  write_renderings(merged, render);
  const bool passed = merged.value("passed", false);
  log_info("merged " + std::to_string(files.size()) + " shards of " + std::to_string(merged["data"]["n"].get<int64_t>()) +
           " samples; " + (passed ? "all gates passed" : "a gate failed") + "; wrote " + out);
  return passed ? kExitOk : kExitGateFailed;
}

}  // namespace mirage::cli
