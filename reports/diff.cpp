#include "reports/diff.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

#include "lib/error.h"
#include "reports/escape.h"
#include "reports/report_view.h"
#include "reports/schema.h"

namespace mirage {

namespace {

using nlohmann::json;
// Eps labels, numbers and hashes read as the rendered reports show them.
using view::eps_label;
using view::eps_text_of;
using view::general;
using view::short_sha;

// Values are stored doubles: without a little slack a drop of exactly max_drop (0.5 -> 0.48 is
// 0.020000000000000018 in binary) would count as larger than it.
constexpr double kTolerance = 1e-12;

// One metric of one report.
struct Metric {
  std::string key, metric;
  bool higher_is_better = true;
  bool gated = true;
  double value = 0;
};

// One gate bound of one report: `id` matches it across reports, `threshold` is shown.
struct Gate {
  std::string id;
  double threshold = 0;
  bool passed = false;
};

double value_of(const json& v) { return view::number_of(v).value_or(std::numeric_limits<double>::quiet_NaN()); }

// A key seen twice in one report (two identical findings, a gate written twice) gets " #2", ...,
// so the k-th occurrence in one report meets the k-th in the other.
template <typename T>
void number_duplicates(std::vector<T>& items, std::string T::*key) {
  std::map<std::string, int> seen;
  for (auto& item : items) {
    const int n = ++seen[item.*key];
    if (n > 1) item.*key += " #" + std::to_string(n);
  }
}

std::vector<Metric> robustness_metrics(const json& r) {
  std::vector<Metric> out;
  out.push_back({"clean_accuracy", "clean_accuracy", true, true, value_of(r["clean_accuracy"]["value"])});
  if (r["headline"].is_object()) {
    const auto& h = r["headline"];
    out.push_back({"autoattack_accuracy " + h["attack"].get<std::string>() + " eps=" + eps_text_of(h),
                   "autoattack_accuracy", true, true, value_of(h["robust_accuracy"]["value"])});
  }
  for (const auto& e : r["results"]) {
    const std::string at = " " + e["attack"].get<std::string>() + " eps=" + eps_text_of(e);
    out.push_back({"robust_accuracy" + at, "robust_accuracy", true, true, value_of(e["robust_accuracy"]["value"])});
    out.push_back({"success_rate" + at, "success_rate", false, true, value_of(e["success_rate"]["value"])});
    // How far the attack had to go says something, but a smaller median can mean a weaker
    // model or a stronger attack: reported, never gated.
    out.push_back({"median_linf" + at, "median_linf", true, false, value_of(e["perturbation"]["linf"]["median"])});
  }
  number_duplicates(out, &Metric::key);
  return out;
}

std::string finding_key(const json& f) {
  return "finding " + f["search"].get<std::string>() + " " + f["slice"].get<std::string>() + " " +
         f["parameters"].dump() + " " + f["population"].get<std::string>();
}

std::vector<Metric> detector_metrics(const json& r) {
  static const std::vector<std::pair<const char*, bool>> overall = {
      {"auc", true}, {"average_precision", true}, {"tpr_at_1pct_fpr", true}, {"accuracy", true},
      {"tpr", true}, {"eer", false},              {"ece", false},            {"fpr", false}};
  std::vector<Metric> out;
  for (const auto& [name, higher] : overall) out.push_back({name, name, higher, true, value_of(r["overall"][name])});
  for (const auto& f : r["findings"]) out.push_back({finding_key(f), "slice_failure_rate", false, true, value_of(f["rate"])});
  number_duplicates(out, &Metric::key);
  return out;
}

// The eps text of the result a robustness gate points at (gates store only the number).
std::string gate_eps_label(const json& report, const json& g) {
  const double eps = g["eps"].get<double>();
  const std::string attack = g["attack"].is_string() ? g["attack"].get<std::string>() : "";
  if (report["headline"].is_object() && g["metric"] == "autoattack_accuracy" && report["headline"]["eps"] == eps) {
    return eps_text_of(report["headline"]);
  }
  for (const auto& e : report["results"]) {
    if (e["attack"] == attack && e["eps"].get<double>() == eps) return eps_text_of(e);
  }
  return eps_label(eps);
}

std::vector<Gate> gates_of(const json& report, const std::string& kind) {
  std::vector<Gate> out;
  for (const auto& g : report["gates"]) {
    std::string id = g["metric"].get<std::string>();
    if (kind == "robustness") {
      if (g["attack"].is_string()) id += " " + g["attack"].get<std::string>();
      if (g["eps"].is_number()) id += " eps=" + gate_eps_label(report, g);
    } else {
      if (g.contains("search")) id += " " + g["search"].get<std::string>();
      if (g.contains("slice")) id += " " + g["slice"].get<std::string>();
      if (g.contains("parameters")) id += " " + g["parameters"].dump();
      if (g.contains("population")) id += " " + g["population"].get<std::string>();
      if (g.contains("min_n")) id += " min_n=" + std::to_string(g["min_n"].get<int64_t>());
    }
    id += " " + g["op"].get<std::string>();
    out.push_back({id, g["threshold"].get<double>(), g["passed"].get<bool>()});
  }
  number_duplicates(out, &Gate::id);
  return out;
}

bool same_value(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

DiffRow row_of(const Metric& m) {
  DiffRow r;
  r.key = m.key;
  r.metric = m.metric;
  r.higher_is_better = m.higher_is_better;
  r.gated = m.gated;
  return r;
}

std::vector<DiffRow> merge_rows(const std::vector<Metric>& old_rows, const std::vector<Metric>& new_rows, double max_drop) {
  std::map<std::string, const Metric*> old_by_key;
  for (const auto& m : old_rows) old_by_key[m.key] = &m;
  std::map<std::string, bool> in_new;
  std::vector<DiffRow> rows;
  for (const auto& m : new_rows) {
    in_new[m.key] = true;
    DiffRow r = row_of(m);
    r.new_value = m.value;
    auto it = old_by_key.find(m.key);
    if (it == old_by_key.end()) {
      r.in_old = false;
    } else {
      r.old_value = it->second->value;
      r.change = r.new_value - r.old_value;
      const double worse = r.higher_is_better ? r.old_value - r.new_value : r.new_value - r.old_value;
      r.regression = r.gated && max_drop >= 0 && worse > max_drop + kTolerance;
    }
    rows.push_back(r);
  }
  // A removed row goes right after the row that preceded it in the old report, so a removed
  // attack's rows stay together where a reader expects them.
  for (size_t i = 0; i < old_rows.size(); ++i) {
    if (in_new.count(old_rows[i].key)) continue;
    DiffRow r = row_of(old_rows[i]);
    r.in_new = false;
    r.old_value = old_rows[i].value;
    size_t at = 0;
    if (i > 0) {
      auto prev = std::find_if(rows.begin(), rows.end(), [&](const DiffRow& x) { return x.key == old_rows[i - 1].key; });
      at = prev == rows.end() ? rows.size() : static_cast<size_t>(prev - rows.begin()) + 1;
    }
    rows.insert(rows.begin() + static_cast<std::ptrdiff_t>(at), r);
  }
  return rows;
}

std::vector<GateChange> gate_changes(const std::vector<Gate>& old_gates, const std::vector<Gate>& new_gates,
                                     std::vector<std::string>& notes) {
  std::vector<GateChange> out;
  std::map<std::string, const Gate*> old_by_id;
  for (const auto& g : old_gates) old_by_id[g.id] = &g;
  std::map<std::string, bool> in_new;
  for (const auto& g : new_gates) {
    in_new[g.id] = true;
    auto it = old_by_id.find(g.id);
    const std::string name = g.id + " " + general(g.threshold);
    if (it == old_by_id.end()) {
      out.push_back({name, false, g.passed, false, true});
      continue;
    }
    if (it->second->threshold != g.threshold) {
      notes.push_back("gate " + g.id + ": the threshold changed (" + general(it->second->threshold) + " vs " +
                      general(g.threshold) + ")");
    }
    if (it->second->passed != g.passed) out.push_back({name, it->second->passed, g.passed, true, true});
  }
  for (const auto& g : old_gates) {
    if (!in_new.count(g.id)) out.push_back({g.id + " " + general(g.threshold), g.passed, false, true, false});
  }
  return out;
}

const json* find_path(const json& j, std::initializer_list<const char*> path) {
  const json* at = &j;
  for (const char* p : path) {
    if (!at->is_object() || !at->contains(p)) return nullptr;
    at = &(*at)[p];
  }
  return at;
}

// Notes on what makes the two runs' numbers not directly comparable.
std::vector<std::string> notes_on(const json& a, const json& b, const std::string& kind) {
  std::vector<std::string> notes;
  auto differs = [&](std::initializer_list<const char*> path, const json** x, const json** y) {
    *x = find_path(a, path);
    *y = find_path(b, path);
    return *x && *y && **x != **y;
  };
  const json *x = nullptr, *y = nullptr;
  if (differs({"data", "sha256"}, &x, &y)) {
    notes.push_back("the audits used different data (sha256 " + short_sha(*x) + " vs " + short_sha(*y) + ")");
  }
  const char* subject = kind == "detector" ? "detector" : "model";
  if (differs({subject, "sha256"}, &x, &y)) {
    notes.push_back(std::string("the ") + subject + " changed (sha256 " + short_sha(*x) + " vs " + short_sha(*y) + ")");
  }
  if (differs({"config"}, &x, &y)) {
    std::vector<std::string> fields;
    for (const auto& [k, v] : x->items()) {
      if (!y->contains(k) || (*y)[k] != v) fields.push_back(k);
    }
    for (const auto& [k, v] : y->items()) {
      if (!x->contains(k)) fields.push_back(k);
    }
    std::string list;
    for (const auto& f : fields) list += (list.empty() ? "" : ", ") + f;
    notes.push_back("the audits used different configs (" + list + " differ)");
  }
  if (differs({"reproducibility", "seed"}, &x, &y)) {
    notes.push_back("different seeds (" + x->dump() + " vs " + y->dump() + ")");
  }
  if (differs({"reproducibility", "versions", "git"}, &x, &y)) {
    notes.push_back("different mirage builds (git " + short_sha(*x) + " vs " + short_sha(*y) + ")");
  }
  if (kind == "detector" && differs({"overall", "threshold"}, &x, &y)) {
    notes.push_back("the detector's threshold changed (" + x->dump() + " vs " + y->dump() + "): tpr, fpr and accuracy "
                    "are measured at it");
  }
  return notes;
}

// Fixed to 6 decimals without trailing zeros; "-" for a value the report has as null.
std::string number_text(double v, bool sign = false) {
  if (std::isnan(v)) return "-";
  char text[40];
  if (v != 0 && std::abs(v) < 5e-7) {
    std::snprintf(text, sizeof(text), sign ? "%+.1e" : "%.1e", v);
    return text;
  }
  std::snprintf(text, sizeof(text), sign ? "%+.6f" : "%.6f", v);
  std::string s = text;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s == "+0" || s == "-0" ? "0" : s;
}

bool changed(const DiffRow& r) { return !r.in_old || !r.in_new || !same_value(r.old_value, r.new_value); }

std::string marker(const DiffRow& r) {
  if (!r.in_old) return "added";
  if (!r.in_new) return "removed";
  if (r.regression) return "REGRESSION";
  if (!r.gated) return "info";
  return "";
}

// The table cells of a row: key, old, new, change, marker.
std::vector<std::string> cells(const DiffRow& r) {
  return {r.key, r.in_old ? number_text(r.old_value) : "", r.in_new ? number_text(r.new_value) : "",
          r.in_old && r.in_new ? number_text(r.change, true) : "", marker(r)};
}

std::string verdict(const ReportDiff& d) {
  if (d.max_drop < 0) return "report only (no max drop given): not gated";
  size_t rows = 0, gates = 0;
  for (const auto& r : d.rows) rows += r.regression;
  for (const auto& g : d.gate_changes) gates += g.in_old && g.in_new && g.old_passed && !g.new_passed;
  if (rows == 0 && gates == 0) return "no regression (max drop " + general(d.max_drop) + ")";
  std::string s = "REGRESSED:";
  if (rows) s += " " + std::to_string(rows) + " metric" + (rows == 1 ? "" : "s") + " worse by more than " + general(d.max_drop);
  if (rows && gates) s += ",";
  if (gates) s += " " + std::to_string(gates) + " gate" + (gates == 1 ? "" : "s") + " went from passed to failed";
  return s;
}

std::string gate_text(const GateChange& g) {
  auto verdict_of = [](bool passed) { return std::string(passed ? "passed" : "FAILED"); };
  if (!g.in_old) return g.gate + ": added (" + verdict_of(g.new_passed) + ")";
  if (!g.in_new) return g.gate + ": removed (was " + verdict_of(g.old_passed) + ")";
  return g.gate + ": " + verdict_of(g.old_passed) + " -> " + verdict_of(g.new_passed);
}

}  // namespace

bool ReportDiff::regressed() const {
  if (max_drop < 0) return false;
  for (const auto& r : rows) {
    if (r.regression) return true;
  }
  for (const auto& g : gate_changes) {
    if (g.in_old && g.in_new && g.old_passed && !g.new_passed) return true;
  }
  return false;
}

ReportDiff diff_reports(const nlohmann::json& old_report, const nlohmann::json& new_report, double max_drop,
                        const std::string& old_name, const std::string& new_name) {
  for (const auto& [report, name] : {std::make_pair(&old_report, &old_name), std::make_pair(&new_report, &new_name)}) {
    const auto errors = validate_report(*report);
    if (!errors.empty()) throw InputError(*name + ": not a valid report: " + errors.front());
  }
  const std::string kind = old_report["kind"].get<std::string>();
  const std::string new_kind = new_report["kind"].get<std::string>();
  if (kind != new_kind) throw UsageError(new_name + " is a " + new_kind + " report, " + old_name + " a " + kind + " report");

  ReportDiff d;
  d.kind = kind;
  d.max_drop = max_drop;
  const bool robustness = kind == "robustness";
  d.rows = merge_rows(robustness ? robustness_metrics(old_report) : detector_metrics(old_report),
                      robustness ? robustness_metrics(new_report) : detector_metrics(new_report), max_drop);
  d.notes = notes_on(old_report, new_report, kind);
  d.gate_changes = gate_changes(gates_of(old_report, kind), gates_of(new_report, kind), d.notes);
  return d;
}

std::string diff_text(const ReportDiff& d) {
  std::vector<std::vector<std::string>> table = {{"key", "old", "new", "change", ""}};
  size_t unchanged = 0;
  for (const auto& r : d.rows) {
    if (changed(r)) table.push_back(cells(r));
    else ++unchanged;
  }
  std::vector<size_t> width(5, 0);
  for (const auto& row : table) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out = d.kind + " report diff\n";
  if (table.size() == 1) {
    out += "no metric changed\n";
  } else {
    for (const auto& row : table) {
      std::string line;
      for (size_t c = 0; c < row.size(); ++c) {
        // Numbers right-aligned so their decimal points meet; the key and marker left-aligned.
        const std::string pad(width[c] - row[c].size(), ' ');
        line += c == 0 ? row[c] + pad : c == 4 ? row[c] : pad + row[c];
        if (c < row.size() - 1) line += "  ";
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out += line + "\n";
    }
    if (unchanged) out += "(" + std::to_string(unchanged) + " unchanged rows not shown)\n";
  }
  if (!d.gate_changes.empty()) {
    out += "gates:\n";
    for (const auto& g : d.gate_changes) out += "  " + gate_text(g) + "\n";
  }
  if (!d.notes.empty()) {
    out += "notes:\n";
    for (const auto& n : d.notes) out += "  " + n + "\n";
  }
  return out + verdict(d) + "\n";
}

std::string diff_markdown(const ReportDiff& d) {
  std::string out = "### mirage report diff (" + d.kind + ")\n\n";
  size_t unchanged = 0;
  std::string table = "| key | old | new | change | |\n|---|---:|---:|---:|---|\n";
  bool any = false;
  for (const auto& r : d.rows) {
    if (!changed(r)) {
      ++unchanged;
      continue;
    }
    any = true;
    auto c = cells(r);
    if (r.regression) c[4] = "**REGRESSION**";
    table += "| " + markdown_code(c[0]) + " | " + c[1] + " | " + c[2] + " | " + c[3] + " | " + c[4] + " |\n";
  }
  if (any) {
    out += table;
    if (unchanged) out += "\n" + std::to_string(unchanged) + " unchanged rows not shown.\n";
  } else {
    out += "No metric changed.\n";
  }
  if (!d.gate_changes.empty()) {
    out += "\n**Gates**\n\n";
    for (const auto& g : d.gate_changes) out += "- " + markdown_text(gate_text(g)) + "\n";
  }
  if (!d.notes.empty()) {
    out += "\n**Notes**\n\n";
    for (const auto& n : d.notes) out += "- " + markdown_text(n) + "\n";
  }
  return out + "\n**" + verdict(d) + "**\n";
}

nlohmann::json diff_json(const ReportDiff& d) {
  auto number = [](bool present, double v) { return present && !std::isnan(v) ? json(v) : json(nullptr); };
  json rows = json::array();
  for (const auto& r : d.rows) {
    rows.push_back({{"key", r.key},
                    {"metric", r.metric},
                    {"higher_is_better", r.higher_is_better},
                    {"gated", r.gated},
                    {"status", !r.in_old ? "added" : !r.in_new ? "removed" : changed(r) ? "changed" : "unchanged"},
                    {"old", number(r.in_old, r.old_value)},
                    {"new", number(r.in_new, r.new_value)},
                    {"change", number(r.in_old && r.in_new, r.change)},
                    {"regression", r.regression}});
  }
  json gates = json::array();
  for (const auto& g : d.gate_changes) {
    gates.push_back({{"gate", g.gate},
                     {"old_passed", g.in_old ? json(g.old_passed) : json(nullptr)},
                     {"new_passed", g.in_new ? json(g.new_passed) : json(nullptr)}});
  }
  return {{"kind", d.kind},
          {"max_drop", d.max_drop < 0 ? json(nullptr) : json(d.max_drop)},
          {"regressed", d.regressed()},
          {"rows", rows},
          {"gate_changes", gates},
          {"notes", d.notes}};
}

}  // namespace mirage
