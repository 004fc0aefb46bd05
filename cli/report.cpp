// mirage report — work with written reports: `validate` checks one against the JSON Schema of
// its kind (compiled into mirage), `render` turns one into Markdown/JUnit/HTML, `diff` shows
// what changed between two audits and gates on regressions, `merge` joins the reports of a
// sharded audit into the report one unsharded run gives.
#include <iostream>

#include "cli/common.h"
#include "cli/render_flags.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/json_io.h"
#include "reports/schema.h"

namespace mirage::cli {

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

}  // namespace

int report_main(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_report_help();
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "validate") return report_validate(rest);
  if (args[0] == "render") return report_render(rest);
  if (args[0] == "diff") return report_diff_main(rest);
  if (args[0] == "merge") return report_merge_main(rest);
  throw UsageError("unknown report subcommand '" + args[0] + "' (validate, render, diff, merge; see 'mirage report --help')");
}

}  // namespace mirage::cli
