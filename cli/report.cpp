// mirage report — work with written reports: `validate` checks one against the JSON Schema of
// its kind (compiled into mirage), `render` turns one into Markdown/JUnit/HTML, `diff` shows
// what changed between two audits and gates on regressions, `merge` joins the reports of a
// sharded audit into the report one unsharded run gives.
#include <fstream>
#include <iostream>

#include "cli/common.h"
#include "cli/render_flags.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/json_io.h"
#include "reports/diff.h"
#include "reports/merge.h"
#include "reports/render.h"
#include "reports/schema.h"

namespace mirage::cli {

void add_render_options(po::options_description& options, RenderFlags& flags) {
  options.add_options()
    ("markdown", po::value(&flags.markdown), "also write a Markdown summary (for a CI job summary), or - for stdout")
    ("junit", po::value(&flags.junit), "also write JUnit XML, one test case per gate")
    ("html", po::value(&flags.html), "also write a self-contained HTML page (curves, ROC, example images)")
    ("images-base", po::value(&flags.images_base), "folder the report's relative image paths are read from for --html (default: current folder)");
}

void check_render_outputs(const RenderFlags& flags) {
  for (const auto* path : {&flags.markdown, &flags.junit, &flags.html}) {
    if (!path->empty() && *path != "-") check_output_path(*path);
  }
}

void write_renderings(const nlohmann::json& report, const RenderFlags& flags) {
  auto put = [](const std::string& path, const std::string& text, const char* what) {
    if (path.empty()) return;
    if (path == "-") {
      std::cout << text << std::flush;
      return;
    }
    write_text_atomic(path, text);
    log_info(std::string("wrote ") + what + " " + path);
  };
  put(flags.markdown, render_markdown(report), "Markdown summary");
  put(flags.junit, render_junit(report), "JUnit XML");
  if (!flags.html.empty()) put(flags.html, render_html(report, flags.images_base), "HTML page");
}

namespace {

void print_report_help() {
  std::cout << "usage: mirage report <subcommand> [options]\n\n"
               "Works with the JSON reports that 'mirage audit' writes (docs/reports.md).\n\n"
               "subcommands:\n"
               "  validate FILE            check a report against the JSON Schema of its kind\n"
               "  render FILE              write a report as Markdown, JUnit XML or a self-contained HTML page\n"
               "  diff OLD NEW             what changed between two audits; --max-drop gates on regressions\n"
               "  merge SHARD... --out F   join the reports of 'audit robustness --shard I/N' into one\n\n"
               "Exit codes: 0 valid / no regression / merged gates passed, 1 a regression beyond --max-drop or\n"
               "a merged gate failed, 2 invalid or unreadable input (one line says which and where).\n";
}

// How many schema errors are listed; the rest are counted.
constexpr size_t kShownErrors = 20;

// A report that must be valid before anything is made of it.
nlohmann::json read_valid_report(const std::string& file) {
  nlohmann::json report = read_json_file(file);
  auto errors = validate_report(report);
  if (!errors.empty()) {
    throw InputError(file + ": not a valid report (" + std::to_string(errors.size()) + " schema error" +
                     (errors.size() == 1 ? "" : "s") + "; first: " + errors.front() + ")");
  }
  return report;
}

int report_validate(const std::vector<std::string>& args) {
  CommonFlags common;
  std::string file;
  po::options_description options("options");
  options.add_options()("file", po::value(&file), "the report JSON");
  add_common_options(options, common);
  po::positional_options_description positional;
  positional.add("file", 1);
  po::variables_map vm;
  if (!parse_command("report validate", "FILE",
                     "Checks a report against the JSON Schema of its \"kind\" (robustness or detector;\n"
                     "reports/schemas/, built into mirage). Prints one line: valid, or invalid with the error\n"
                     "count, then the first errors one a line as $.path: what is wrong. Exit 0 valid, 2 invalid or unreadable.",
                     "  mirage report validate report.json\n", args, options, positional, vm)) {
    return kExitOk;
  }
  if (file.empty()) throw UsageError("a report FILE is required (see 'mirage report validate --help')");
  nlohmann::json report = read_json_file(file);
  auto errors = validate_report(report);
  const std::string kind = report.is_object() && report.contains("kind") && report["kind"].is_string()
                               ? report["kind"].get<std::string>()
                               : "unknown";
  if (errors.empty()) {
    const std::string version = report.value("schema_version", std::string("?"));
    std::cout << file << ": valid " << kind << " report (schema " << version << ")" << std::endl;
    return kExitOk;
  }
  std::cout << file << ": invalid " << kind << " report (" << errors.size() << " error"
            << (errors.size() == 1 ? "" : "s") << ")\n";
  for (size_t i = 0; i < errors.size() && i < kShownErrors; ++i) std::cout << "  " << errors[i] << "\n";
  if (errors.size() > kShownErrors) std::cout << "  ... and " << errors.size() - kShownErrors << " more\n";
  std::cout.flush();
  return kExitUsage;
}

int report_render(const std::vector<std::string>& args) {
  CommonFlags common;
  RenderFlags render;
  std::string file;
  po::options_description options("options");
  options.add_options()("file", po::value(&file), "the report JSON");
  add_render_options(options, render);
  add_common_options(options, common);
  po::positional_options_description positional;
  positional.add("file", 1);
  po::variables_map vm;
  if (!parse_command("report render", "FILE [--markdown F] [--junit F] [--html F]",
                     "Renders a report (either kind, merged ones too): a Markdown summary for a CI job summary\n"
                     "(headline, gates, results or worst slices, the robustness curve as a table), JUnit XML with\n"
                     "one test case per gate, or one self-contained HTML page (robustness curves, ROC curve and\n"
                     "example images inlined; viewable offline). The report is validated first. Exit 0, or 2\n"
                     "for an invalid or unreadable report.",
                     "  mirage report render report.json --markdown summary.md --junit gates.xml\n"
                     "  mirage report render report.json --markdown - >> \"$GITHUB_STEP_SUMMARY\"\n"
                     "  mirage report render report.json --html report.html --images-base audit-dir/\n",
                     args, options, positional, vm)) {
    return kExitOk;
  }
  if (file.empty()) throw UsageError("a report FILE is required (see 'mirage report render --help')");
  if (!render.any()) throw UsageError("nothing to write: give --markdown, --junit and/or --html");
  check_render_outputs(render);
  start_runtime(common);
  write_renderings(read_valid_report(file), render);
  return kExitOk;
}

int report_diff(const std::vector<std::string>& args) {
  CommonFlags common;
  std::string old_file, new_file, markdown, json_out;
  double max_drop = -1;
  po::options_description options("options");
  options.add_options()
    ("old", po::value(&old_file), "the earlier report")
    ("new", po::value(&new_file), "the later report")
    ("max-drop", po::value(&max_drop), "exit 1 when a metric got worse by more than this (absolute, e.g. 0.02), or a gate went from passed to failed; without it the diff only reports")
    ("markdown", po::value(&markdown), "also write the diff as Markdown (for a CI job summary), or - for stdout")
    ("json", po::value(&json_out), "also write the diff as JSON, or - for stdout");
  add_common_options(options, common);
  po::positional_options_description positional;
  positional.add("old", 1).add("new", 1);
  po::variables_map vm;
  if (!parse_command("report diff", "OLD NEW [--max-drop D]",
                     "Shows what changed between two reports of one kind: for robustness reports clean accuracy,\n"
                     "the AutoAttack headline and each attack x eps (robust accuracy, success rate, median Linf);\n"
                     "for detector reports AUC, AP, TPR at 1% FPR, EER, ECE and each blind-spot slice's failure\n"
                     "rate; and every gate whose verdict changed. Higher-is-better metrics regress when they drop,\n"
                     "failure and success rates when they rise. Both reports are validated first.\n"
                     "Exit 0 no regression (or no --max-drop), 1 a regression beyond --max-drop, 2 bad input.",
                     "  mirage report diff main.json branch.json\n"
                     "  mirage report diff main.json branch.json --max-drop 0.02 --markdown - >> \"$GITHUB_STEP_SUMMARY\"\n",
                     args, options, positional, vm)) {
    return kExitOk;
  }
  if (old_file.empty() || new_file.empty()) throw UsageError("two reports are needed: mirage report diff OLD NEW");
  if (vm.count("max-drop") && !(max_drop >= 0 && max_drop <= 1)) {
    throw UsageError("--max-drop: must be in [0, 1], got " + std::to_string(max_drop));
  }
  for (const auto* path : {&markdown, &json_out}) {
    if (!path->empty() && *path != "-") check_output_path(*path);
  }
  start_runtime(common);
  // diff_reports validates both against their schemas, naming the file.
  ReportDiff diff = diff_reports(read_json_file(old_file), read_json_file(new_file), max_drop, old_file, new_file);
  std::cout << diff_text(diff) << std::flush;
  if (!markdown.empty()) {
    if (markdown == "-") std::cout << diff_markdown(diff) << std::flush;
    else write_text_atomic(markdown, diff_markdown(diff));
  }
  if (!json_out.empty()) write_json(json_out, diff_json(diff));
  return max_drop >= 0 && diff.regressed() ? kExitGateFailed : kExitOk;
}

int report_merge(const std::vector<std::string>& args) {
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

}  // namespace

int report_main(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_report_help();
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "validate") return report_validate(rest);
  if (args[0] == "render") return report_render(rest);
  if (args[0] == "diff") return report_diff(rest);
  if (args[0] == "merge") return report_merge(rest);
  throw UsageError("unknown report subcommand '" + args[0] + "' (validate, render, diff, merge; see 'mirage report --help')");
}

}  // namespace mirage::cli
