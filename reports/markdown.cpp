// render_markdown (reports/render.h): the GitHub job summary of an audit report.
#include <algorithm>
#include <cmath>
#include <iterator>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "reports/escape.h"
#include "reports/render.h"
#include "reports/report_view.h"

namespace mirage {

namespace {

using nlohmann::json;
using namespace view;

// The union of every curve's eps, ascending, each with the text it was written as.
std::vector<std::pair<double, std::string>> curve_eps(const json& curves) {
  std::vector<std::pair<double, std::string>> out;
  for (const auto& c : items(curves)) {
    for (const auto& p : items(get(c, "points"))) {
      auto e = number_of(get(p, "eps"));
      if (!e) continue;
      bool seen = false;
      for (const auto& known : out) seen = seen || std::fabs(known.first - *e) <= 1e-12 * std::max(1.0, *e);
      if (!seen) out.push_back({*e, eps_text_of(p)});
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

void markdown_gates(std::ostringstream& md, const Summary& s) {
  md << "### Gates\n\n";
  if (s.gates.empty()) {
    md << "No gates configured.\n\n";
    return;
  }
  md << "| metric | what | op | threshold | value | verdict |\n|---|---|---|---:|---:|---|\n";
  for (const auto& g : s.gates) {
    md << "| " << markdown_code(g.metric) << " | " << markdown_text(g.what) << " | " << op_symbol(g.op) << " | "
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
    md << "- AutoAttack robust accuracy at eps " << markdown_text(eps_text_of(h)) << ": "
       << rate_text(get(h, "robust_accuracy")) << "\n";
  }
  md << "\n";
  const json& results = items(get(report, "results"));
  if (!results.empty()) {
    md << "| attack | eps | robust accuracy (95% CI) | success rate (95% CI) | median Linf | median L2 | queries/sample |\n"
          "|---|---|---:|---:|---:|---:|---:|\n";
    for (const auto& r : results) {
      const json& pert = get(r, "perturbation");
      md << "| " << markdown_text(attack_name(r)) << " | " << markdown_text(eps_text_of(r)) << " | "
         << rate_with_ci(get(get(r, "robust_accuracy"), "value"), get(get(r, "robust_accuracy"), "ci95")) << " | "
         << rate_with_ci(get(get(r, "success_rate"), "value"), get(get(r, "success_rate"), "ci95")) << " | "
         << fixed_or_none(get(get(pert, "linf"), "median"), 4) << " | " << fixed_or_none(get(get(pert, "l2"), "median"), 4)
         << " | " << fixed_or_none(get(get(r, "queries"), "mean"), 1) << " |\n";
    }
    md << "\n";
  }
  // One table per norm: Linf and L2 radii are different scales, so they never share a column.
  const std::vector<std::string> norms = curve_norms(get(report, "curves"));
  if (!norms.empty()) md << "### Robust accuracy against eps\n\n";
  for (const auto& norm : norms) {
    json curves = json::array();
    for (const auto& c : items(get(report, "curves"))) {
      if (text_of(get(c, "norm")) == norm) curves.push_back(c);
    }
    const auto eps = curve_eps(curves);
    if (eps.empty()) continue;
    md << "| attack (" << markdown_text(norm.empty() ? std::string("eps") : norm) << ") |";
    for (const auto& e : eps) md << " " << markdown_text(e.second) << " |";
    md << "\n|---|";
    for (size_t i = 0; i < eps.size(); ++i) md << "---:|";
    md << "\n";
    for (const auto& c : curves) {
      md << "| " << markdown_text(text_of(get(c, "attack"))) << " |";
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
  for (const auto& m : kOverallMetrics) md << " " << m.title << " |";
  md << "\n|";
  for (size_t i = 0; i < std::size(kOverallMetrics); ++i) md << "---:|";
  md << "\n|";
  for (const auto& m : kOverallMetrics) md << " " << fixed_or_none(get(o, m.key), 3) << " |";
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
    md << "| " << text_of(get(f, "rank")) << " | " << markdown_text(text_of(get(f, "search"))) << " | "
       << markdown_text(text_of(get(f, "slice"))) << " | " << markdown_text(parameters_text(get(f, "parameters"))) << " | "
       << markdown_text(text_of(get(f, "population"))) << " | " << text_of(get(f, "failures")) << "/"
       << text_of(get(f, "n")) << " | " << rate_with_ci(get(f, "rate"), get(f, "ci95")) << " | "
       << signed_fixed_or_none(get(f, "gap"), 3) << " |\n";
  }
  md << "\n";
  // The summary line of a <details> is HTML, not Markdown.
  for (size_t i = 0; i < shown; ++i) {
    const json& f = findings[i];
    if (!get(f, "reproduce").is_string()) continue;
    md << "<details><summary>Reproduce #" << html_escape(text_of(get(f, "rank"))) << ": "
       << html_escape(slice_what(f)) << "</summary>\n\n"
       << markdown_fence(get(f, "reproduce").get<std::string>(), "sh") << "\n</details>\n\n";
  }
}

}  // namespace

std::string render_markdown(const nlohmann::json& report) {
  const Summary s = summarize(report);
  std::ostringstream md;
  md << "## " << (s.passed ? "✅" : "❌") << " mirage " << s.kind << " audit " << (s.passed ? "PASSED" : "FAILED")
     << "\n\n"
     << s.subject << " " << markdown_text(s.path) << " (sha256 " << markdown_code(short_sha(s.sha256)) << ") · n "
     << markdown_text(s.n) << " · seed " << markdown_text(s.seed);
  if (!s.shard.empty()) md << " · " << markdown_text(s.shard);
  md << "\n\n";
  markdown_gates(md, s);
  if (s.kind == "robustness") markdown_robustness(md, report);
  else markdown_detector(md, report);
  return md.str();
}

}  // namespace mirage
