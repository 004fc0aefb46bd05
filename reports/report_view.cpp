#include "reports/report_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "lib/error.h"

namespace mirage::view {

using nlohmann::json;

namespace {

const json& null_json() {
  static const json n;
  return n;
}

}  // namespace

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

std::string text_of(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  if (v.is_number_float()) return general(v.get<double>());
  return v.dump();
}

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

std::string fixed_or_none(const json& v, int precision) {
  auto d = number_of(v);
  return d ? fixed(*d, precision) : kNone;
}

std::string signed_fixed_or_none(const json& v, int precision) {
  auto d = number_of(v);
  return d ? (*d >= 0 ? "+" : "") + fixed(*d, precision) : kNone;
}

std::string eps_label(double eps) {
  const double k = eps * 255.0;
  if (k >= 0.5 && std::fabs(k - std::round(k)) < 1e-6) return std::to_string(static_cast<long long>(std::round(k))) + "/255";
  return general(eps);
}

std::string eps_text_of(const json& entry) {
  const json& text = get(entry, "eps_text");
  return text.is_string() ? text.get<std::string>() : eps_label(number_of(get(entry, "eps")).value_or(0));
}

std::string short_sha(const json& sha) {
  const std::string s = text_of(sha);
  return s.size() > 12 ? s.substr(0, 12) : s;
}

std::string rate_with_ci(const json& value, const json& ci95) {
  std::string s = fixed_or_none(value, 3);
  const json& ci = items(ci95);
  if (ci.size() == 2 && ci[0].is_number() && ci[1].is_number()) {
    s += " [" + fixed(ci[0].get<double>(), 3) + ", " + fixed(ci[1].get<double>(), 3) + "]";
  }
  return s;
}

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

std::string value_text(double v, double threshold) {
  for (int p = 3; p <= 12; ++p) {
    const std::string s = fixed(v, p);
    const double r = std::strtod(s.c_str(), nullptr);
    if ((r >= threshold) == (v >= threshold) && (r <= threshold) == (v <= threshold)) return s;
  }
  return fixed(v, 12);
}

std::string op_symbol(const std::string& op) { return op == "<=" ? "≤" : op == ">=" ? "≥" : op; }

std::string attack_name(const json& entry) {
  const std::string norm = text_of(get(entry, "norm"));
  return text_of(get(entry, "attack")) + (norm.empty() ? "" : " (" + norm + ")");
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

std::vector<std::string> curve_norms(const json& curves) {
  std::vector<std::string> norms;
  for (const auto& c : items(curves)) {
    const std::string norm = text_of(get(c, "norm"));
    if (std::find(norms.begin(), norms.end(), norm) == norms.end()) norms.push_back(norm);
  }
  return norms;
}

namespace {

// A robustness gate stores only the number; the result it points at has the eps as written.
std::string result_eps_text(const json& report, const std::string& attack, double eps) {
  for (const auto& r : items(get(report, "results"))) {
    auto e = number_of(get(r, "eps"));
    if (text_of(get(r, "attack")) == attack && e && std::fabs(*e - eps) <= 1e-12 * std::max(1.0, eps)) {
      if (get(r, "eps_text").is_string()) return get(r, "eps_text").get<std::string>();
    }
  }
  return eps_label(eps);
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
      if (get(h, "eps_text").is_string() || number_of(get(h, "eps"))) row.what += " eps=" + eps_text_of(h);
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

}  // namespace

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

}  // namespace mirage::view
