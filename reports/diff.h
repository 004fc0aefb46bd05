// reports/diff.h — what changed between two audit reports of the same kind (`mirage report diff
// OLD NEW --max-drop D`), and whether the new one regressed: a gated metric worse by more than
// `max_drop`, or a gate that passed before and fails now. Plain structs out; diff_text,
// diff_markdown and diff_json render them for a terminal, a CI summary and scripts.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace mirage {

// One metric of both reports, matched by `key`.
struct DiffRow {
  // Stable identity across runs: "clean_accuracy", "robust_accuracy pgd eps=8/255",
  // "finding post-processing blur {\"sigma\":2} fakes".
  std::string key;
  std::string metric;  // "robust_accuracy", "auc", "slice_failure_rate", ...
  bool higher_is_better = true;
  bool gated = true;  // false: informational (the median Linf of successes), never a regression
  bool in_old = true, in_new = true;  // a row of one report only is added/removed, never a regression
  double old_value = 0, new_value = 0;  // as stored; NaN where the report has null (no successes)
  double change = 0;                    // new - old
  bool regression = false;  // worse by more than max_drop (lower-is-better: an increase)
};

// A gate (matched by metric, attack, eps and op; or metric, slice, population, min_n and op)
// whose verdict changed, or that one report has and the other does not.
struct GateChange {
  std::string gate;  // "robust_accuracy pgd eps=8/255 >= 0.5"
  bool old_passed = false, new_passed = false;
  bool in_old = true, in_new = true;
};

struct ReportDiff {
  std::string kind;
  double max_drop = 0;  // < 0: report only, nothing regresses
  std::vector<DiffRow> rows;  // the new report's order, removed rows after their old predecessor
  std::vector<GateChange> gate_changes;
  // Why numbers may not be comparable: different data, configs, model, seed, build, threshold.
  std::vector<std::string> notes;
  // Any row.regression, or any gate of both reports that went from passed to failed
  // (always false when max_drop < 0).
  bool regressed() const;
};

// Compares two reports of one kind. Values are compared exactly as stored; a change of exactly
// max_drop is not a regression (1e-12 tolerance). Throws InputError "<old_name>: not a valid
// report: <first schema error>" for a report that fails its schema (reports/schema.h), and
// UsageError "<new_name> is a detector report, <old_name> a robustness report" when the kinds differ.
ReportDiff diff_reports(const nlohmann::json& old_report, const nlohmann::json& new_report, double max_drop,
                        const std::string& old_name = "OLD", const std::string& new_name = "NEW");

// Aligned table of the rows that changed (key, old, new, change, REGRESSION/added/removed/info),
// then gate changes, notes and a verdict line.
std::string diff_text(const ReportDiff& d);
// The same as Markdown (a table and bullet lists), for a CI job summary.
std::string diff_markdown(const ReportDiff& d);
// Every row (changed or not), the gate changes, notes and "regressed"; null for absent values.
nlohmann::json diff_json(const ReportDiff& d);

}  // namespace mirage
