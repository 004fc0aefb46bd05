// reports/report_view.h — a written report as its renderings read it (Markdown, JUnit, HTML in
// reports/render.h; the diff in reports/diff.h): tolerant accessors, the number and label formats
// they share, and the summary (verdict, subject, gates) every rendering shows first. Works from
// the JSON alone: a missing key, a null or a value of another type reads as absent, so older and
// merged reports render what they have. Strings come back unescaped (see reports/escape.h).
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace mirage::view {

// --- Reading.
// j[key], or null when j is not an object or has no such key.
const nlohmann::json& get(const nlohmann::json& j, const char* key);
// j when it is an array, else an empty one.
const nlohmann::json& items(const nlohmann::json& j);
std::optional<double> number_of(const nlohmann::json& v);
// A string as it is, null as "", a float as general(), anything else as its JSON.
std::string text_of(const nlohmann::json& v);

// --- Numbers and labels.
inline constexpr const char* kNone = "—";  // a number the report does not have
// %.6g: thresholds, eps and parameters as a person wrote them ("0.4", "0.0313725").
std::string general(double v);
std::string fixed(double v, int precision);
std::string fixed_or_none(const nlohmann::json& v, int precision);
// "+0.125" / "-0.125" (a finding's gap to its baseline), or kNone.
std::string signed_fixed_or_none(const nlohmann::json& v, int precision);
// A radius as the audit configs write it: "8/255" when it is k/255, else general().
std::string eps_label(double eps);
// An entry's (result, headline, curve point) "eps_text", else eps_label of its "eps" (0 if none).
std::string eps_text_of(const nlohmann::json& entry);
// The first 12 characters of a hash.
std::string short_sha(const nlohmann::json& sha);
// "0.812 [0.701, 0.889]" from a rate's value and its ci95.
std::string rate_with_ci(const nlohmann::json& value, const nlohmann::json& ci95);
// A rate {"value","count","of","ci95"} (robustness) or {"failures","n","rate","ci95"} (detector)
// as "0.812 [0.701, 0.889] (52/64)".
std::string rate_text(const nlohmann::json& rate);
// {"sigma": 2, "name": "d"} as "sigma=2, name=d".
std::string parameters_text(const nlohmann::json& parameters);
// A shell line from argv, quoting what the shell would split or expand.
std::string command_line(const nlohmann::json& command);
// A gate's value with just enough decimals (3 or more) that it reads on the same side of the
// threshold as it is.
std::string value_text(double value, double threshold);
// "≥" / "≤" for ">=" / "<=".
std::string op_symbol(const std::string& op);
// "pgd (linf)": an attack id with its norm, when it has one.
std::string attack_name(const nlohmann::json& entry);
// A detector slice (gate or finding) as "search/slice parameters (population)".
std::string slice_what(const nlohmann::json& slice);
// The norms of `curves` in their first-seen order (Linf and L2 radii never share an axis).
std::vector<std::string> curve_norms(const nlohmann::json& curves);

// The detector's overall metrics as the renderings show them: report key, column title.
struct OverallMetric {
  const char* key;
  const char* title;
};
inline constexpr OverallMetric kOverallMetrics[] = {{"auc", "AUC"},
                                                    {"average_precision", "AP"},
                                                    {"accuracy", "accuracy"},
                                                    {"tpr", "TPR@threshold"},
                                                    {"fpr", "FPR@threshold"},
                                                    {"tpr_at_1pct_fpr", "TPR@1%FPR"},
                                                    {"eer", "EER"},
                                                    {"ece", "ECE"}};

// --- What every rendering shows first.
struct GateRow {
  std::string metric;
  std::string what;   // attack and eps, or the slice; empty for whole-model metrics
  std::string op;     // ">=" or "<="
  double threshold = 0;
  std::optional<double> value;  // absent: the detector slice was not found
  bool passed = false;
  std::string message;  // why it failed
  std::string details;  // several lines, for JUnit and HTML
};

struct Summary {
  std::string kind;     // "robustness" or "detector"
  bool passed = false;
  std::string subject;  // "model" or "detector"
  std::string path, sha256;
  std::string n;        // "64" or "200 fakes + 200 reals"
  std::string seed;
  std::string shard;    // "shard 1/4" or empty
  std::vector<GateRow> gates;
};

// Throws UsageError for a report that is not an object or of a kind mirage does not render.
Summary summarize(const nlohmann::json& report);

}  // namespace mirage::view
