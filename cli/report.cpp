// mirage report — work with written reports: `report validate FILE` checks one against the
// JSON Schema of its kind (compiled into mirage), for CI steps that consume reports.
#include <fstream>
#include <iostream>

#include "cli/common.h"
#include "lib/error.h"
#include "reports/schema.h"

namespace mirage::cli {

namespace {

void print_report_help() {
  std::cout << "usage: mirage report <subcommand> [options]\n\n"
               "Works with the JSON reports that 'mirage audit' writes (docs/reports.md).\n\n"
               "subcommands:\n"
               "  validate FILE       check a report against the JSON Schema of its kind\n\n"
               "Exit codes: 0 valid, 2 invalid or unreadable (the first line says which, then one error a line).\n";
}

// How many schema errors are listed; the rest are counted.
constexpr size_t kShownErrors = 20;

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
  std::ifstream in(file);
  if (!in) throw InputError(file + ": cannot read");
  nlohmann::json report;
  try {
    report = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(file + ": not valid JSON (" + std::string(e.what()) + ")");
  }
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

}  // namespace

int report_main(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_report_help();
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] == "validate") return report_validate(std::vector<std::string>(args.begin() + 1, args.end()));
  throw UsageError("unknown report subcommand '" + args[0] + "' (validate; see 'mirage report --help')");
}

}  // namespace mirage::cli
