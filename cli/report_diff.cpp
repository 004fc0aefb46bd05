// mirage report diff — what changed between two audits (reports/diff.h), gated on regressions.
#include <iostream>

#include "cli/common.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/json_io.h"
#include "reports/diff.h"

namespace mirage::cli {

int report_diff_main(const std::vector<std::string>& args) {
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

}  // namespace mirage::cli
