#include "reports/render.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "lib/error.h"

namespace mirage {

namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Reading the report tolerantly: a missing key, a null or a value of another type reads as
// absent, so an older or merged report renders what it has.

const json& null_json() {
  static const json n;
  return n;
}

const json& get(const json& j, const char* key) {
  if (!j.is_object()) return null_json();
  auto it = j.find(key);
  return it == j.end() ? null_json() : *it;
}

const json& items(const json& j) {
  static const json empty = json::array();
  return j.is_array() ? j : empty;
}

std::optional<double> number_of(const json& v) {
  if (v.is_number()) return v.get<double>();
  return std::nullopt;
}

// %.6g: thresholds, eps and parameters as a person wrote them ("0.4", "0.0313725").
std::string general(double v) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.6g", v);
  return text;
}

std::string fixed(double v, int precision) {
  char text[48];
  std::snprintf(text, sizeof(text), "%.*f", precision, v);
  return text;
}

const char* kNone = "—";

std::string fixed_or_none(const json& v, int precision) {
  auto d = number_of(v);
  return d ? fixed(*d, precision) : kNone;
}

std::string text_of(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  if (v.is_number_float()) return general(v.get<double>());
  return v.dump();
}

// Radii as the audit configs write them: k/255 when that is what they are.
std::string eps_label(double eps) {
  const double k = eps * 255.0;
  if (k >= 0.5 && std::fabs(k - std::round(k)) < 1e-6) return std::to_string(static_cast<long long>(std::round(k))) + "/255";
  return general(eps);
}

std::string short_sha(const json& sha) {
  const std::string s = text_of(sha);
  return s.size() > 12 ? s.substr(0, 12) : s;
}

// "0.812 [0.701, 0.889]" from a rate's value (or rate) and ci95.
std::string rate_with_ci(const json& value, const json& ci95) {
  std::string s = fixed_or_none(value, 3);
  const json& ci = items(ci95);
  if (ci.size() == 2 && ci[0].is_number() && ci[1].is_number()) {
    s += " [" + fixed(ci[0].get<double>(), 3) + ", " + fixed(ci[1].get<double>(), 3) + "]";
  }
  return s;
}

// {"value", "count", "of", "ci95"} (robustness) or {"failures", "n", "rate", "ci95"} (detector).
std::string rate_text(const json& rate) {
  if (!rate.is_object()) return kNone;
  const bool detector = rate.contains("rate");
  std::string s = rate_with_ci(get(rate, detector ? "rate" : "value"), get(rate, "ci95"));
  const json& k = get(rate, detector ? "failures" : "count");
  const json& n = get(rate, detector ? "n" : "of");
  if (k.is_number() && n.is_number()) s += " (" + k.dump() + "/" + n.dump() + ")";
  return s;
}

std::string parameters_text(const json& parameters) {
  if (!parameters.is_object()) return "";
  std::string s;
  for (auto it = parameters.begin(); it != parameters.end(); ++it) {
    s += (s.empty() ? "" : ", ") + it.key() + "=" + text_of(it.value());
  }
  return s;
}

// A shell line from argv, quoting what the shell would split or expand.
std::string command_line(const json& command) {
  std::string line;
  for (const auto& a : items(command)) {
    std::string arg = text_of(a);
    const bool plain = !arg.empty() && arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                              "0123456789-_./=:,+@%") == std::string::npos;
    if (!plain) {
      std::string q = "'";
      for (char c : arg) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
      arg = q + "'";
    }
    line += (line.empty() ? "" : " ") + arg;
  }
  return line;
}

// ---------------------------------------------------------------------------------------------
// Escaping.

// Drops bytes that are not UTF-8 and code points XML 1.0 forbids (controls other than tab,
// newline and carriage return, surrogates, U+FFFE/U+FFFF): both break XML parsers, and the
// HTML page shares the rule.
std::string sanitize(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) {
      ++i;
      continue;
    }
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    bool ok = true;
    for (size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b >> 6) != 0x2) ok = false;
      cp = (cp << 6) | (b & 0x3F);
    }
    const uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    ok = ok && cp >= min_for_len[len] && cp <= 0x10FFFF;
    ok = ok && (cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0xFFFD) ||
                cp >= 0x10000);
    if (!ok) {
      ++i;
      continue;
    }
    out.append(s, i, len);
    i += len;
  }
  return out;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : sanitize(s)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

// As XML, and "://" written as a character reference: the page then holds no URL at all, not
// even one a report's command or path happens to contain.
std::string html_escape(const std::string& s) {
  std::string e = xml_escape(s);
  std::string out;
  for (size_t i = 0; i < e.size(); ++i) {
    if (e.compare(i, 3, "://") == 0) {
      out += ":&#47;&#47;";
      i += 2;
    } else {
      out += e[i];
    }
  }
  return out;
}

// Markdown text in a table cell or line: one line, '|' escaped for tables, HTML and emphasis
// characters neutralised so an id cannot open a tag or a link.
std::string md_text(const std::string& s) {
  std::string out;
  for (char c : sanitize(s)) {
    switch (c) {
      case '\n': case '\r': case '\t': out += ' '; break;
      case '|': out += "\\|"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '\\': case '`': case '*': case '_': case '[': case ']': out += '\\'; out += c; break;
      default: out += c;
    }
  }
  return out;
}

// A code span: no backticks inside, and '|' still escaped (GFM splits cells before spans).
std::string md_code(const std::string& s) {
  std::string out = "`";
  for (char c : sanitize(s)) {
    if (c == '`') out += '\'';
    else if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r' || c == '\t') out += ' ';
    else out += c;
  }
  return out + "`";
}

// A fenced block longer than any backtick run inside it.
std::string md_fence(const std::string& body, const std::string& info) {
  size_t run = 0, longest = 0;
  for (char c : body) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  const std::string fence(std::max<size_t>(3, longest + 1), '`');
  return fence + info + "\n" + sanitize(body) + "\n" + fence + "\n";
}

// ---------------------------------------------------------------------------------------------
// What every renderer shows, read once from the report.

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
  std::string kind;
  bool passed = false;
  std::string subject;  // "model" or "detector"
  std::string path, sha256;
  std::string n;        // "64" or "200 fakes + 200 reals"
  std::string seed;
  std::string shard;    // "shard 1/4" or empty
  std::vector<GateRow> gates;
};

// A gate's value with just enough decimals that it reads on the same side of the threshold.
std::string value_text(double v, double threshold) {
  for (int p = 3; p <= 12; ++p) {
    const std::string s = fixed(v, p);
    const double r = std::strtod(s.c_str(), nullptr);
    if ((r >= threshold) == (v >= threshold) && (r <= threshold) == (v <= threshold)) return s;
  }
  return fixed(v, 12);
}

std::string result_eps_text(const json& report, const std::string& attack, double eps) {
  for (const auto& r : items(get(report, "results"))) {
    auto e = number_of(get(r, "eps"));
    if (text_of(get(r, "attack")) == attack && e && std::fabs(*e - eps) <= 1e-12 * std::max(1.0, eps)) {
      if (get(r, "eps_text").is_string()) return get(r, "eps_text").get<std::string>();
    }
  }
  return eps_label(eps);
}

std::string slice_what(const json& g) {
  std::string what;
  if (get(g, "search").is_string()) what += get(g, "search").get<std::string>();
  if (get(g, "slice").is_string()) what += (what.empty() ? "" : "/") + get(g, "slice").get<std::string>();
  const std::string params = parameters_text(get(g, "parameters"));
  if (!params.empty()) what += (what.empty() ? "" : " ") + params;
  if (get(g, "population").is_string()) what += (what.empty() ? "" : " ") + std::string("(") + get(g, "population").get<std::string>() + ")";
  return what;
}

const json& finding_with_rank(const json& report, const json& rank) {
  if (!rank.is_number_integer()) return null_json();
  for (const auto& f : items(get(report, "findings"))) {
    if (get(f, "rank") == rank) return f;
  }
  return null_json();
}

GateRow gate_row(const json& report, const json& g, bool detector) {
  GateRow row;
  row.metric = text_of(get(g, "metric"));
  row.op = text_of(get(g, "op"));
  row.threshold = number_of(get(g, "threshold")).value_or(0.0);
  row.value = number_of(get(g, "value"));
  row.passed = get(g, "passed") == true;
  if (!detector) {
    if (row.metric == "autoattack_accuracy") {
      const json& h = get(report, "headline");
      row.what = "autoattack";
      if (get(h, "eps_text").is_string()) row.what += " eps=" + get(h, "eps_text").get<std::string>();
      else if (auto e = number_of(get(h, "eps"))) row.what += " eps=" + eps_label(*e);
    } else if (get(g, "attack").is_string()) {
      row.what = get(g, "attack").get<std::string>();
      if (auto e = number_of(get(g, "eps"))) row.what += " eps=" + result_eps_text(report, row.what, *e);
    }
  } else if (row.metric == "max_slice_failure_rate") {
    row.what = slice_what(g);
    if (row.what.empty()) row.what = "any slice";
    if (get(g, "min_n").is_number()) row.what += (row.what.empty() ? "" : " ") + std::string("n>=") + get(g, "min_n").dump();
  } else if (row.metric == "slice_failure_rate") {
    row.what = slice_what(g);
  }
  const bool min_bound = row.op != "<=";
  if (!row.value) {
    row.message = "no finding matched " + (row.what.empty() ? row.metric : row.what) +
                  ": the slice was not swept or has fewer than min_slice images, so the gate cannot pass";
  } else {
    row.message = "value " + value_text(*row.value, row.threshold) + (min_bound ? " < min " : " > max ") + general(row.threshold);
  }
  std::ostringstream d;
  d << "metric: " << row.metric << "\n";
  if (!row.what.empty()) d << "of: " << row.what << "\n";
  d << "value: " << (row.value ? value_text(*row.value, row.threshold) : std::string("null (not found)")) << "\n";
  d << "required: " << (min_bound ? ">= " : "<= ") << general(row.threshold) << "\n";
  const json& f = finding_with_rank(report, get(g, "finding_rank"));
  if (!f.is_null()) {
    d << "finding: #" << get(f, "rank").dump() << " " << slice_what(f) << ", " << rate_text(f) << "\n";
    if (get(f, "reproduce").is_string()) d << "reproduce: " << get(f, "reproduce").get<std::string>() << "\n";
  }
  row.details = d.str();
  return row;
}

Summary summarize(const json& report) {
  if (!report.is_object()) throw UsageError("report: not a JSON object");
  Summary s;
  s.kind = text_of(get(report, "kind"));
  if (s.kind != "robustness" && s.kind != "detector") {
    throw UsageError("report.kind: '" + s.kind + "' is not a report kind mirage renders (robustness, detector)");
  }
  const bool detector = s.kind == "detector";
  s.passed = get(report, "passed") == true;
  s.subject = detector ? "detector" : "model";
  const json& who = get(report, s.subject.c_str());
  s.path = text_of(get(who, "path"));
  s.sha256 = text_of(get(who, "sha256"));
  if (detector) {
    const json& o = get(report, "overall");
    const json& d = get(report, "data");
    const json& fakes = get(o, "n_fake").is_number() ? get(o, "n_fake") : get(d, "n_fake");
    const json& reals = get(o, "n_real").is_number() ? get(o, "n_real") : get(d, "n_real");
    s.n = (fakes.is_number() ? fakes.dump() : "?") + " fakes + " + (reals.is_number() ? reals.dump() : "?") + " reals";
  } else {
    s.n = get(get(report, "data"), "n").is_number() ? get(get(report, "data"), "n").dump() : "?";
  }
  const json& seed = get(get(report, "reproducibility"), "seed");
  s.seed = seed.is_number() ? seed.dump() : "?";
  const json& shard = get(report, "shard");
  if (shard.is_object()) {
    // Written by a sharded run; the keys are read loosely so a merged or future shape still shows.
    const json& i = get(shard, "index");
    const json& n = get(shard, "count").is_null() ? get(shard, "of") : get(shard, "count");
    s.shard = "shard " + (i.is_null() ? std::string("?") : text_of(i)) + "/" + (n.is_null() ? std::string("?") : text_of(n));
  }
  for (const auto& g : items(get(report, "gates"))) s.gates.push_back(gate_row(report, g, detector));
  return s;
}

std::string op_symbol(const std::string& op) { return op == "<=" ? "≤" : op == ">=" ? "≥" : op; }

// The union of every curve's eps, ascending, each with the text it was written as.
std::vector<std::pair<double, std::string>> curve_eps(const json& curves) {
  std::vector<std::pair<double, std::string>> out;
  for (const auto& c : items(curves)) {
    for (const auto& p : items(get(c, "points"))) {
      auto e = number_of(get(p, "eps"));
      if (!e) continue;
      bool seen = false;
      for (const auto& known : out) seen = seen || std::fabs(known.first - *e) <= 1e-12 * std::max(1.0, *e);
      if (!seen) out.push_back({*e, get(p, "eps_text").is_string() ? get(p, "eps_text").get<std::string>() : eps_label(*e)});
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<double> curve_value(const json& curve, double eps) {
  for (const auto& p : items(get(curve, "points"))) {
    auto e = number_of(get(p, "eps"));
    if (e && std::fabs(*e - eps) <= 1e-12 * std::max(1.0, eps)) return number_of(get(p, "robust_accuracy"));
  }
  return std::nullopt;
}

// "pgd (linf)": an attack id with its norm, when it has one.
std::string attack_name(const json& entry) {
  const std::string norm = text_of(get(entry, "norm"));
  return text_of(get(entry, "attack")) + (norm.empty() ? "" : " (" + norm + ")");
}

const char* kOverallMetrics[][2] = {{"auc", "AUC"},
                                    {"average_precision", "AP"},
                                    {"accuracy", "accuracy"},
                                    {"tpr", "TPR@threshold"},
                                    {"fpr", "FPR@threshold"},
                                    {"tpr_at_1pct_fpr", "TPR@1%FPR"},
                                    {"eer", "EER"},
                                    {"ece", "ECE"}};

// ---------------------------------------------------------------------------------------------
// Markdown.

void markdown_gates(std::ostringstream& md, const Summary& s) {
  md << "### Gates\n\n";
  if (s.gates.empty()) {
    md << "No gates configured.\n\n";
    return;
  }
  md << "| metric | what | op | threshold | value | verdict |\n|---|---|---|---:|---:|---|\n";
  for (const auto& g : s.gates) {
    md << "| " << md_code(g.metric) << " | " << md_text(g.what) << " | " << op_symbol(g.op) << " | "
       << general(g.threshold) << " | " << (g.value ? value_text(*g.value, g.threshold) : std::string("not found"))
       << " | " << (g.passed ? "✅ pass" : "❌ FAILED") << " |\n";
  }
  md << "\n";
}

void markdown_robustness(std::ostringstream& md, const json& report) {
  md << "### Results\n\n";
  md << "- clean accuracy: " << rate_text(get(report, "clean_accuracy")) << "\n";
  const json& h = get(report, "headline");
  if (h.is_object()) {
    const std::string eps = get(h, "eps_text").is_string() ? get(h, "eps_text").get<std::string>()
                                                           : eps_label(number_of(get(h, "eps")).value_or(0));
    md << "- AutoAttack robust accuracy at eps " << md_text(eps) << ": " << rate_text(get(h, "robust_accuracy")) << "\n";
  }
  md << "\n";
  const json& results = items(get(report, "results"));
  if (!results.empty()) {
    md << "| attack | eps | robust accuracy (95% CI) | success rate (95% CI) | median Linf | median L2 | queries/sample |\n"
          "|---|---|---:|---:|---:|---:|---:|\n";
    for (const auto& r : results) {
      const json& pert = get(r, "perturbation");
      const std::string eps = get(r, "eps_text").is_string() ? get(r, "eps_text").get<std::string>()
                                                             : eps_label(number_of(get(r, "eps")).value_or(0));
      md << "| " << md_text(attack_name(r)) << " | " << md_text(eps) << " | "
         << rate_with_ci(get(get(r, "robust_accuracy"), "value"), get(get(r, "robust_accuracy"), "ci95")) << " | "
         << rate_with_ci(get(get(r, "success_rate"), "value"), get(get(r, "success_rate"), "ci95")) << " | "
         << fixed_or_none(get(get(pert, "linf"), "median"), 4) << " | " << fixed_or_none(get(get(pert, "l2"), "median"), 4)
         << " | " << fixed_or_none(get(get(r, "queries"), "mean"), 1) << " |\n";
    }
    md << "\n";
  }
  // One table per norm: Linf and L2 radii are different scales, so they never share a column.
  std::vector<std::string> norms;
  for (const auto& c : items(get(report, "curves"))) {
    const std::string norm = text_of(get(c, "norm"));
    if (std::find(norms.begin(), norms.end(), norm) == norms.end()) norms.push_back(norm);
  }
  if (!norms.empty()) md << "### Robust accuracy against eps\n\n";
  for (const auto& norm : norms) {
    json curves = json::array();
    for (const auto& c : items(get(report, "curves"))) {
      if (text_of(get(c, "norm")) == norm) curves.push_back(c);
    }
    const auto eps = curve_eps(curves);
    if (eps.empty()) continue;
    md << "| attack (" << md_text(norm.empty() ? std::string("eps") : norm) << ") |";
    for (const auto& e : eps) md << " " << md_text(e.second) << " |";
    md << "\n|---|";
    for (size_t i = 0; i < eps.size(); ++i) md << "---:|";
    md << "\n";
    for (const auto& c : curves) {
      md << "| " << md_text(text_of(get(c, "attack"))) << " |";
      for (const auto& e : eps) {
        auto v = curve_value(c, e.first);
        md << " " << (v ? fixed(*v, 3) : std::string(kNone)) << " |";
      }
      md << "\n";
    }
    md << "\n";
  }
}

void markdown_detector(std::ostringstream& md, const json& report) {
  const json& o = get(report, "overall");
  md << "### Overall\n\n|";
  for (const auto& m : kOverallMetrics) md << " " << m[1] << " |";
  md << "\n|";
  for (size_t i = 0; i < std::size(kOverallMetrics); ++i) md << "---:|";
  md << "\n|";
  for (const auto& m : kOverallMetrics) md << " " << fixed_or_none(get(o, m[0]), 3) << " |";
  md << "\n\n";
  md << "- threshold: " << fixed_or_none(get(o, "threshold"), 3) << "\n";
  md << "- fakes called real: " << rate_text(get(o, "fakes_called_real")) << "\n";
  md << "- reals called fake: " << rate_text(get(o, "reals_called_fake")) << "\n\n";

  const json& findings = items(get(report, "findings"));
  const size_t shown = std::min<size_t>(10, findings.size());
  md << "### Worst slices (top " << shown << " of " << findings.size() << ")\n\n";
  if (findings.empty()) {
    md << "No blind spots found.\n\n";
    return;
  }
  md << "| rank | search | slice | parameters | population | failures/n | rate (95% CI) | gap |\n"
        "|---:|---|---|---|---|---:|---:|---:|\n";
  for (size_t i = 0; i < shown; ++i) {
    const json& f = findings[i];
    auto gap = number_of(get(f, "gap"));
    md << "| " << text_of(get(f, "rank")) << " | " << md_text(text_of(get(f, "search"))) << " | "
       << md_text(text_of(get(f, "slice"))) << " | " << md_text(parameters_text(get(f, "parameters"))) << " | "
       << md_text(text_of(get(f, "population"))) << " | " << text_of(get(f, "failures")) << "/" << text_of(get(f, "n"))
       << " | " << rate_with_ci(get(f, "rate"), get(f, "ci95")) << " | "
       << (gap ? (*gap >= 0 ? "+" : "") + fixed(*gap, 3) : std::string(kNone)) << " |\n";
  }
  md << "\n";
  for (size_t i = 0; i < shown; ++i) {
    const json& f = findings[i];
    if (!get(f, "reproduce").is_string()) continue;
    md << "<details><summary>Reproduce #" << html_escape(text_of(get(f, "rank"))) << ": "
       << html_escape(slice_what(f)) << "</summary>\n\n"
       << md_fence(get(f, "reproduce").get<std::string>(), "sh") << "\n</details>\n\n";
  }
}

// ---------------------------------------------------------------------------------------------
// HTML pieces: charts, images.

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

// About `count` round ticks (1, 2 or 5 times a power of ten) covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int count) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / count;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * power;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + 1e-9 * step; t += step) ticks.push_back(std::fabs(t) < 1e-12 ? 0 : t);
  return ticks;
}

struct Plot {
  double x0, x1, y0, y1;       // data ranges
  double width, height;        // whole svg
  double left = 56, right = 16, top = 16, bottom = 44;
  double px(double x) const { return left + (x - x0) / (x1 - x0) * (width - left - right); }
  double py(double y) const { return height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom); }
};

std::string coord(double v) { return fixed(v, 1); }

// Frame, grid, ticks and axis titles.
std::string svg_axes(const Plot& p, const std::string& x_title, const std::string& y_title, const std::vector<double>& xt,
                     const std::vector<double>& yt, const std::function<std::string(double)>& x_label) {
  std::ostringstream s;
  s << "<rect x=\"" << coord(p.left) << "\" y=\"" << coord(p.top) << "\" width=\"" << coord(p.width - p.left - p.right)
    << "\" height=\"" << coord(p.height - p.top - p.bottom) << "\" fill=\"none\" stroke=\"#888\"/>\n";
  for (double t : xt) {
    s << "<line x1=\"" << coord(p.px(t)) << "\" y1=\"" << coord(p.top) << "\" x2=\"" << coord(p.px(t)) << "\" y2=\""
      << coord(p.height - p.bottom + 5) << "\" stroke=\"#ddd\"/>"
      << "<text x=\"" << coord(p.px(t)) << "\" y=\"" << coord(p.height - p.bottom + 18)
      << "\" text-anchor=\"middle\">" << html_escape(x_label(t)) << "</text>\n";
  }
  for (double t : yt) {
    s << "<line x1=\"" << coord(p.left - 5) << "\" y1=\"" << coord(p.py(t)) << "\" x2=\"" << coord(p.width - p.right)
      << "\" y2=\"" << coord(p.py(t)) << "\" stroke=\"#ddd\"/>"
      << "<text x=\"" << coord(p.left - 8) << "\" y=\"" << coord(p.py(t) + 4) << "\" text-anchor=\"end\">"
      << general(t) << "</text>\n";
  }
  s << "<text x=\"" << coord((p.left + p.width - p.right) / 2) << "\" y=\"" << coord(p.height - 6)
    << "\" text-anchor=\"middle\">" << html_escape(x_title) << "</text>\n"
    << "<text transform=\"translate(14," << coord((p.top + p.height - p.bottom) / 2)
    << ") rotate(-90)\" text-anchor=\"middle\">" << html_escape(y_title) << "</text>\n";
  return s.str();
}

// Robust accuracy against eps: one polyline per curve of `norm`, clean accuracy dashed.
std::string curve_svg(const json& curves, const std::string& norm, std::optional<double> clean) {
  double max_eps = 0;
  for (const auto& c : items(curves)) {
    if (text_of(get(c, "norm")) != norm) continue;
    for (const auto& pt : items(get(c, "points"))) max_eps = std::max(max_eps, number_of(get(pt, "eps")).value_or(0));
  }
  if (max_eps <= 0) return "";
  Plot p{0, max_eps * 1.05, 0, 1, 640, 340};
  p.right = 180;  // the legend
  std::ostringstream s;
  s << "<svg class=\"chart\" width=\"" << p.width << "\" height=\"" << p.height << "\" viewBox=\"0 0 " << p.width << " "
    << p.height << "\" role=\"img\" aria-label=\"robust accuracy against eps " << html_escape(norm) << "\">\n";
  s << svg_axes(p, norm.empty() ? "eps" : "eps (" + norm + ")", "robust accuracy", nice_ticks(0, max_eps, 5), nice_ticks(0, 1, 5),
                [](double t) { return general(t); });
  if (clean) {
    s << "<line x1=\"" << coord(p.px(0)) << "\" y1=\"" << coord(p.py(*clean)) << "\" x2=\"" << coord(p.px(p.x1))
      << "\" y2=\"" << coord(p.py(*clean)) << "\" stroke=\"#555\" stroke-dasharray=\"4 3\"><title>clean accuracy "
      << fixed(*clean, 3) << "</title></line>\n";
  }
  int k = 0;
  double legend_y = p.top + 8;
  for (const auto& c : items(curves)) {
    if (text_of(get(c, "norm")) != norm) continue;
    const char* color = kColors[k++ % std::size(kColors)];
    std::string points;
    std::ostringstream dots;
    for (const auto& pt : items(get(c, "points"))) {
      auto e = number_of(get(pt, "eps"));
      auto a = number_of(get(pt, "robust_accuracy"));
      if (!e || !a) continue;
      points += coord(p.px(*e)) + "," + coord(p.py(*a)) + " ";
      dots << "<circle cx=\"" << coord(p.px(*e)) << "\" cy=\"" << coord(p.py(*a)) << "\" r=\"3\" fill=\"" << color
           << "\"><title>" << html_escape(text_of(get(c, "attack"))) << " eps "
           << html_escape(get(pt, "eps_text").is_string() ? get(pt, "eps_text").get<std::string>() : eps_label(*e)) << ": "
           << fixed(*a, 3) << "</title></circle>";
    }
    s << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\" points=\"" << points << "\"/>" << dots.str()
      << "\n";
    const double lx = p.width - p.right + 12;
    s << "<line x1=\"" << coord(lx) << "\" y1=\"" << coord(legend_y) << "\" x2=\"" << coord(lx + 18) << "\" y2=\""
      << coord(legend_y) << "\" stroke=\"" << color << "\" stroke-width=\"2\"/><text x=\"" << coord(lx + 24)
      << "\" y=\"" << coord(legend_y + 4) << "\">" << html_escape(text_of(get(c, "attack"))) << "</text>\n";
    legend_y += 18;
  }
  if (clean) {
    const double lx = p.width - p.right + 12;
    s << "<line x1=\"" << coord(lx) << "\" y1=\"" << coord(legend_y) << "\" x2=\"" << coord(lx + 18) << "\" y2=\""
      << coord(legend_y) << "\" stroke=\"#555\" stroke-dasharray=\"4 3\"/><text x=\"" << coord(lx + 24) << "\" y=\""
      << coord(legend_y + 4) << "\">clean</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

// The ROC curve, the chance diagonal and the operating point at the stored threshold.
std::string roc_svg(const json& roc, const json& overall) {
  Plot p{0, 1, 0, 1, 400, 380};
  std::ostringstream s;
  s << "<svg class=\"chart\" width=\"" << p.width << "\" height=\"" << p.height << "\" viewBox=\"0 0 " << p.width << " "
    << p.height << "\" role=\"img\" aria-label=\"ROC curve\">\n";
  s << svg_axes(p, "false positive rate (reals called fake)", "true positive rate", nice_ticks(0, 1, 5),
                nice_ticks(0, 1, 5), [](double t) { return general(t); });
  s << "<line x1=\"" << coord(p.px(0)) << "\" y1=\"" << coord(p.py(0)) << "\" x2=\"" << coord(p.px(1)) << "\" y2=\""
    << coord(p.py(1)) << "\" stroke=\"#aaa\" stroke-dasharray=\"4 3\"/>\n";
  std::string points;
  for (const auto& pt : items(roc)) {
    auto f = number_of(get(pt, "fpr"));
    auto t = number_of(get(pt, "tpr"));
    if (f && t) points += coord(p.px(*f)) + "," + coord(p.py(*t)) + " ";
  }
  s << "<polyline class=\"roc\" fill=\"none\" stroke=\"" << kColors[0] << "\" stroke-width=\"2\" points=\"" << points
    << "\"/>\n";
  auto fpr = number_of(get(overall, "fpr"));
  auto tpr = number_of(get(overall, "tpr"));
  if (fpr && tpr) {
    s << "<circle cx=\"" << coord(p.px(*fpr)) << "\" cy=\"" << coord(p.py(*tpr)) << "\" r=\"4\" fill=\"" << kColors[1]
      << "\"><title>threshold " << fixed_or_none(get(overall, "threshold"), 3) << ": TPR " << fixed(*tpr, 3) << ", FPR "
      << fixed(*fpr, 3) << "</title></circle>\n";
  }
  if (auto auc = number_of(get(overall, "auc"))) {
    s << "<text x=\"" << coord(p.px(0.55)) << "\" y=\"" << coord(p.py(0.08)) << "\">AUC " << fixed(*auc, 3) << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

std::string base64(const std::string& bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

// An <img> with the file inlined, or a note saying why not: a missing image must not cost the
// rest of the page.
std::string image_html(const std::string& path, const std::string& base_dir, const std::string& alt) {
  namespace fs = std::filesystem;
  fs::path file(path);
  if (file.is_relative() && !base_dir.empty()) file = fs::path(base_dir) / file;
  std::ifstream in(file, std::ios::binary);
  std::string bytes;
  if (in) bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  const char* mime = nullptr;
  if (bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0) mime = "image/png";
  else if (bytes.compare(0, 3, "\xFF\xD8\xFF") == 0) mime = "image/jpeg";
  if (!in || bytes.empty()) return "<span class=\"note\">image not readable: " + html_escape(path) + "</span>";
  if (!mime) return "<span class=\"note\">not a PNG or JPEG: " + html_escape(path) + "</span>";
  return "<img src=\"data:" + std::string(mime) + ";base64," + base64(bytes) + "\" alt=\"" + html_escape(alt) +
         "\" title=\"" + html_escape(path) + "\">";
}

const char* kStyle = R"(body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;padding:0 16px 48px;color:#222}
h1{font-size:1.5em;margin:0}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:4px}
.banner{padding:14px 18px;margin:16px 0;border-radius:6px;color:#fff}.banner p{margin:6px 0 0}
.pass{background:#1a7f37}.fail{background:#cf222e}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.failed td{background:#ffebe9}code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
pre{background:#f6f8fa;padding:8px;white-space:pre-wrap;word-break:break-all}
img{width:84px;height:84px;image-rendering:pixelated;border:1px solid #ccc;margin-right:4px}
.note{color:#888;font-style:italic}svg.chart{font-size:11px;margin:8px 0}svg.chart text{fill:#333})";

std::string td(const std::string& escaped, bool number = false) {
  return std::string(number ? "<td class=\"num\">" : "<td>") + escaped + "</td>";
}

void html_gates(std::ostringstream& h, const Summary& s) {
  h << "<h2>Gates</h2>\n";
  if (s.gates.empty()) {
    h << "<p class=\"note\">No gates configured.</p>\n";
    return;
  }
  h << "<table><tr><th>metric</th><th>what</th><th>op</th><th>threshold</th><th>value</th><th>verdict</th></tr>\n";
  for (const auto& g : s.gates) {
    h << "<tr" << (g.passed ? "" : " class=\"failed\"") << ">" << td("<code>" + html_escape(g.metric) + "</code>")
      << td(html_escape(g.what)) << td(html_escape(op_symbol(g.op))) << td(general(g.threshold), true)
      << td(g.value ? value_text(*g.value, g.threshold) : "not found", true)
      << td(g.passed ? "✅ pass" : "❌ FAILED: " + html_escape(g.message)) << "</tr>\n";
  }
  h << "</table>\n";
}

void html_reproducibility(std::ostringstream& h, const json& report, const Summary& s) {
  const json& r = get(report, "reproducibility");
  const json& v = get(r, "versions");
  const json& t = get(report, "timing");
  h << "<h2>Reproducibility</h2>\n<table>\n";
  auto row = [&](const std::string& key, const std::string& escaped) {
    h << "<tr><th>" << key << "</th>" << td(escaped) << "</tr>\n";
  };
  std::string versions;
  for (const char* k : {"mirage", "git", "libtorch", "opencv", "cuda"}) {
    if (!get(v, k).is_null()) versions += (versions.empty() ? "" : ", ") + std::string(k) + " " + text_of(get(v, k));
  }
  row("versions", html_escape(versions));
  row("command", "<code>" + html_escape(command_line(get(r, "command"))) + "</code>");
  row("seed", html_escape(s.seed));
  row("device", html_escape(text_of(get(r, "device")) + ", " + text_of(get(r, "threads")) + " threads"));
  row(s.subject, "<code>" + html_escape(s.path) + "</code>");
  row(s.subject + " sha256", "<code>" + html_escape(s.sha256) + "</code>");
  const json& d = get(report, "data");
  if (get(d, "name").is_string()) row("data", html_escape(get(d, "name").get<std::string>()));
  for (const auto& src : items(get(d, "sources"))) {
    row("source " + html_escape(text_of(get(src, "name"))),
        html_escape(text_of(get(src, "spec")) + " (" + text_of(get(src, "kind")) + ", n " + text_of(get(src, "n")) + ")"));
  }
  row("data sha256", "<code>" + html_escape(text_of(get(d, "sha256"))) + "</code>");
  if (!s.shard.empty()) row("shard", html_escape(s.shard));
  row("time", html_escape(text_of(get(t, "started")) + " to " + text_of(get(t, "finished")) + " (" +
                          fixed_or_none(get(t, "seconds"), 1) + " s)"));
  h << "</table>\n";
}

std::string class_text(const json& report, const json& cls) {
  std::string s = text_of(cls);
  for (const auto& c : items(get(report, "clean_per_class"))) {
    if (get(c, "class") == cls && get(c, "name").is_string()) return s + " (" + get(c, "name").get<std::string>() + ")";
  }
  return s;
}

void html_robustness(std::ostringstream& h, const json& report, const std::string& base_dir) {
  h << "<h2>Results</h2>\n<p>Clean accuracy: <b>" << html_escape(rate_text(get(report, "clean_accuracy"))) << "</b>";
  const json& hl = get(report, "headline");
  if (hl.is_object()) {
    const std::string eps = get(hl, "eps_text").is_string() ? get(hl, "eps_text").get<std::string>()
                                                            : eps_label(number_of(get(hl, "eps")).value_or(0));
    h << "<br>AutoAttack robust accuracy at eps " << html_escape(eps) << ": <b>"
      << html_escape(rate_text(get(hl, "robust_accuracy"))) << "</b>";
  }
  h << "</p>\n";
  const json& results = items(get(report, "results"));
  h << "<table><tr><th>attack</th><th>norm</th><th>eps</th><th>robust accuracy (95% CI)</th>"
       "<th>success rate (95% CI)</th><th>median Linf</th><th>median L2</th><th>queries/sample</th>"
       "<th>gradient calls</th><th>seconds</th></tr>\n";
  for (const auto& r : results) {
    const json& pert = get(r, "perturbation");
    const std::string eps = get(r, "eps_text").is_string() ? get(r, "eps_text").get<std::string>()
                                                           : eps_label(number_of(get(r, "eps")).value_or(0));
    h << "<tr>" << td(html_escape(text_of(get(r, "attack")))) << td(html_escape(text_of(get(r, "norm"))))
      << td(html_escape(eps)) << td(html_escape(rate_text(get(r, "robust_accuracy"))), true)
      << td(html_escape(rate_text(get(r, "success_rate"))), true)
      << td(fixed_or_none(get(get(pert, "linf"), "median"), 4), true)
      << td(fixed_or_none(get(get(pert, "l2"), "median"), 4), true)
      << td(fixed_or_none(get(get(r, "queries"), "mean"), 1), true)
      << td(html_escape(text_of(get(r, "gradient_calls"))), true) << td(fixed_or_none(get(r, "seconds"), 2), true)
      << "</tr>\n";
  }
  h << "</table>\n";

  const json& curves = items(get(report, "curves"));
  std::vector<std::string> norms;
  for (const auto& c : curves) {
    const std::string n = text_of(get(c, "norm"));
    if (std::find(norms.begin(), norms.end(), n) == norms.end()) norms.push_back(n);
  }
  if (!norms.empty()) h << "<h2>Robust accuracy against eps</h2>\n";
  for (const auto& n : norms) {
    h << curve_svg(curves, n, number_of(get(get(report, "clean_accuracy"), "value")));
  }

  bool any_worst = false;
  for (const auto& r : results) any_worst = any_worst || !items(get(r, "worst")).empty();
  if (!any_worst) return;
  h << "<h2>Worst examples</h2>\n<p>The most confident misclassifications of each attack and eps, by the margin of "
       "the adversarial logits.</p>\n";
  for (const auto& r : results) {
    const json& worst = items(get(r, "worst"));
    if (worst.empty()) continue;
    const std::string eps = get(r, "eps_text").is_string() ? get(r, "eps_text").get<std::string>()
                                                           : eps_label(number_of(get(r, "eps")).value_or(0));
    h << "<h3>" << html_escape(attack_name(r)) << " eps "
      << html_escape(eps) << "</h3>\n<table><tr><th>clean / adversarial</th><th>id</th><th>label</th>"
      << "<th>adversarial prediction</th><th>margin</th><th>Linf</th><th>L2</th></tr>\n";
    for (const auto& w : worst) {
      const json& images = get(w, "images");
      std::string pair = "<span class=\"note\">no images (audit with --images DIR)</span>";
      if (get(images, "clean").is_string() && get(images, "adversarial").is_string()) {
        pair = image_html(get(images, "clean").get<std::string>(), base_dir, "clean") +
               image_html(get(images, "adversarial").get<std::string>(), base_dir, "adversarial");
      }
      h << "<tr>" << td(pair) << td(html_escape(text_of(get(w, "id")))) << td(html_escape(class_text(report, get(w, "label"))))
        << td(html_escape(class_text(report, get(w, "adv_pred")))) << td(fixed_or_none(get(w, "margin"), 3), true)
        << td(fixed_or_none(get(w, "linf"), 4), true) << td(fixed_or_none(get(w, "l2"), 4), true) << "</tr>\n";
    }
    h << "</table>\n";
  }
}

void html_detector(std::ostringstream& h, const json& report, const std::string& base_dir) {
  const json& o = get(report, "overall");
  h << "<h2>Overall</h2>\n<table><tr>";
  for (const auto& m : kOverallMetrics) h << "<th>" << m[1] << "</th>";
  h << "</tr>\n<tr>";
  for (const auto& m : kOverallMetrics) h << td(fixed_or_none(get(o, m[0]), 3), true);
  h << "</tr></table>\n<p>Threshold " << fixed_or_none(get(o, "threshold"), 3) << "; fakes called real "
    << html_escape(rate_text(get(o, "fakes_called_real"))) << "; reals called fake "
    << html_escape(rate_text(get(o, "reals_called_fake"))) << ".</p>\n";
  if (items(get(o, "roc")).size() >= 2) {
    h << roc_svg(get(o, "roc"), o);
  } else {
    h << "<p class=\"note\">No ROC curve in this report (written before reports carried one).</p>\n";
  }

  const json& findings = items(get(report, "findings"));
  h << "<h2>Blind spots</h2>\n";
  if (findings.empty()) {
    h << "<p class=\"note\">No findings.</p>\n";
    return;
  }
  h << "<p>Worst first, ranked by severity (the 95% Wilson lower bound of the failure rate).</p>\n"
       "<table><tr><th>rank</th><th>search</th><th>slice</th><th>parameters</th><th>population</th>"
       "<th>failures/n</th><th>rate (95% CI)</th><th>baseline</th><th>gap</th><th>mean p(fake)</th></tr>\n";
  for (const auto& f : findings) {
    const std::string rank = text_of(get(f, "rank"));
    auto gap = number_of(get(f, "gap"));
    h << "<tr>" << td("<a href=\"#finding-" + html_escape(rank) + "\">" + html_escape(rank) + "</a>", true)
      << td(html_escape(text_of(get(f, "search")))) << td(html_escape(text_of(get(f, "slice"))))
      << td(html_escape(parameters_text(get(f, "parameters")))) << td(html_escape(text_of(get(f, "population"))))
      << td(html_escape(text_of(get(f, "failures")) + "/" + text_of(get(f, "n"))), true)
      << td(html_escape(rate_with_ci(get(f, "rate"), get(f, "ci95"))), true)
      << td(fixed_or_none(get(f, "baseline_rate"), 3), true)
      << td(gap ? (*gap >= 0 ? "+" : "") + fixed(*gap, 3) : kNone, true) << td(fixed_or_none(get(f, "mean_p_fake"), 3), true)
      << "</tr>\n";
  }
  h << "</table>\n";
  // The examples of the worst 20: those are the findings whose images an audit writes.
  const size_t shown = std::min<size_t>(20, findings.size());
  for (size_t i = 0; i < shown; ++i) {
    const json& f = findings[i];
    const std::string rank = text_of(get(f, "rank"));
    h << "<h3 id=\"finding-" << html_escape(rank) << "\">#" << html_escape(rank) << " " << html_escape(slice_what(f))
      << ": " << html_escape(rate_text(f)) << "</h3>\n";
    if (get(f, "reproduce").is_string()) {
      h << "<pre>" << html_escape(get(f, "reproduce").get<std::string>()) << "</pre>\n";
    }
    const json& examples = items(get(f, "examples"));
    if (examples.empty()) continue;
    h << "<table><tr><th>image</th><th>id</th><th>class</th><th>p(fake)</th><th>clean p(fake)</th>"
         "<th>regenerate</th></tr>\n";
    for (const auto& e : examples) {
      std::string cls = text_of(get(e, "class"));
      if (get(e, "class_name").is_string()) cls += " (" + get(e, "class_name").get<std::string>() + ")";
      h << "<tr>"
        << td(get(e, "image").is_string() ? image_html(get(e, "image").get<std::string>(), base_dir, text_of(get(e, "id")))
                                          : "<span class=\"note\">no image</span>")
        << td(html_escape(text_of(get(e, "id")))) << td(html_escape(cls)) << td(fixed_or_none(get(e, "score"), 3), true)
        << td(fixed_or_none(get(e, "clean_score"), 3), true)
        << td(get(e, "reproduce").is_string() ? "<code>" + html_escape(get(e, "reproduce").get<std::string>()) + "</code>"
                                              : "")
        << "</tr>\n";
    }
    h << "</table>\n";
  }
}

}  // namespace

std::string render_markdown(const nlohmann::json& report) {
  const Summary s = summarize(report);
  std::ostringstream md;
  md << "## " << (s.passed ? "✅" : "❌") << " mirage " << s.kind << " audit " << (s.passed ? "PASSED" : "FAILED")
     << "\n\n"
     << s.subject << " " << md_text(s.path) << " (sha256 " << md_code(short_sha(s.sha256)) << ") · n " << md_text(s.n)
     << " · seed " << md_text(s.seed);
  if (!s.shard.empty()) md << " · " << md_text(s.shard);
  md << "\n\n";
  markdown_gates(md, s);
  if (s.kind == "robustness") markdown_robustness(md, report);
  else markdown_detector(md, report);
  return md.str();
}

std::string render_junit(const nlohmann::json& report) {
  const Summary s = summarize(report);
  const json& timing = get(report, "timing");
  const std::string seconds = fixed(number_of(get(timing, "seconds")).value_or(0.0), 3);
  size_t failures = 0;
  for (const auto& g : s.gates) failures += g.passed ? 0 : 1;
  const size_t tests = s.gates.empty() ? 1 : s.gates.size();
  const std::string classname = "mirage.audit." + s.kind;
  std::ostringstream x;
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<testsuites name=\"mirage audit\" tests=\"" << tests << "\" failures=\"" << failures << "\" errors=\"0\" time=\""
    << seconds << "\">\n"
    << "  <testsuite name=\"mirage audit " << s.kind << "\" tests=\"" << tests << "\" failures=\"" << failures
    << "\" errors=\"0\" skipped=\"0\" time=\"" << seconds << "\"";
  if (get(timing, "started").is_string()) x << " timestamp=\"" << xml_escape(get(timing, "started").get<std::string>()) << "\"";
  x << ">\n    <properties>\n";
  auto property = [&](const std::string& name, const std::string& value) {
    x << "      <property name=\"" << xml_escape(name) << "\" value=\"" << xml_escape(value) << "\"/>\n";
  };
  property(s.subject, s.path);
  property(s.subject + ".sha256", s.sha256);
  property("seed", s.seed);
  property("n", s.n);
  if (!s.shard.empty()) property("shard", s.shard);
  x << "    </properties>\n";
  for (const auto& g : s.gates) {
    std::string name = g.metric;
    if (!g.what.empty()) name += " " + g.what;
    name += " " + g.op + " " + general(g.threshold);
    x << "    <testcase classname=\"" << classname << "\" name=\"" << xml_escape(name) << "\" time=\"0\"";
    if (g.passed) {
      x << "/>\n";
      continue;
    }
    x << ">\n      <failure message=\"" << xml_escape(g.message) << "\" type=\"gate\">" << xml_escape(g.details)
      << "</failure>\n    </testcase>\n";
  }
  if (s.gates.empty()) x << "    <testcase classname=\"" << classname << "\" name=\"audit completed\" time=\"0\"/>\n";
  x << "  </testsuite>\n</testsuites>\n";
  return x.str();
}

std::string render_html(const nlohmann::json& report, const std::string& base_dir) {
  const Summary s = summarize(report);
  const std::string verdict = s.passed ? "PASSED" : "FAILED";
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    << "<title>mirage " << s.kind << " audit: " << verdict << "</title>\n<style>\n" << kStyle << "\n</style>\n</head>\n<body>\n"
    << "<div class=\"banner " << (s.passed ? "pass" : "fail") << "\"><h1>" << (s.passed ? "✅" : "❌") << " mirage "
    << s.kind << " audit " << verdict << "</h1>\n<p>" << s.subject << " <code>" << html_escape(s.path)
    << "</code> (sha256 <code>" << html_escape(short_sha(s.sha256)) << "</code>) · n " << html_escape(s.n) << " · seed "
    << html_escape(s.seed);
  if (!s.shard.empty()) h << " · " << html_escape(s.shard);
  size_t failed = 0;
  for (const auto& g : s.gates) failed += g.passed ? 0 : 1;
  h << " · " << (s.gates.size() - failed) << " of " << s.gates.size() << " gates passed</p></div>\n";
  html_gates(h, s);
  if (s.kind == "robustness") html_robustness(h, report, base_dir);
  else html_detector(h, report, base_dir);
  html_reproducibility(h, report, s);
  h << "</body>\n</html>\n";
  return h.str();
}

}  // namespace mirage
