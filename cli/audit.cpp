// mirage audit — audits for CI: `audit robustness` (cli/audit_robustness.cpp) and `audit detector`
// (cli/audit_detector.cpp) each write a versioned JSON report and exit 1 when a gate fails.
#include <iostream>

#include "cli/common.h"
#include "lib/error.h"

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

}  // namespace

int audit_main(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_audit_help();
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "robustness") return audit_robustness_main(rest);
  if (args[0] == "detector") return audit_detector_main(rest);
  throw UsageError("unknown audit '" + args[0] + "' (robustness, detector; see 'mirage audit --help')");
}

}  // namespace mirage::cli
