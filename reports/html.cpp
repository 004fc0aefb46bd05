// render_html (reports/render.h): one self-contained HTML page of an audit report.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>

#include "reports/escape.h"
#include "reports/render.h"
#include "reports/report_view.h"
#include "reports/svg.h"

namespace mirage {

namespace {

using nlohmann::json;
using namespace view;

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
    h << "<br>AutoAttack robust accuracy at eps " << html_escape(eps_text_of(hl)) << ": <b>"
      << html_escape(rate_text(get(hl, "robust_accuracy"))) << "</b>";
  }
  h << "</p>\n";
  const json& results = items(get(report, "results"));
  h << "<table><tr><th>attack</th><th>norm</th><th>eps</th><th>robust accuracy (95% CI)</th>"
       "<th>success rate (95% CI)</th><th>median Linf</th><th>median L2</th><th>queries/sample</th>"
       "<th>gradient calls</th><th>seconds</th></tr>\n";
  for (const auto& r : results) {
    const json& pert = get(r, "perturbation");
    h << "<tr>" << td(html_escape(text_of(get(r, "attack")))) << td(html_escape(text_of(get(r, "norm"))))
      << td(html_escape(eps_text_of(r))) << td(html_escape(rate_text(get(r, "robust_accuracy"))), true)
      << td(html_escape(rate_text(get(r, "success_rate"))), true)
      << td(fixed_or_none(get(get(pert, "linf"), "median"), 4), true)
      << td(fixed_or_none(get(get(pert, "l2"), "median"), 4), true)
      << td(fixed_or_none(get(get(r, "queries"), "mean"), 1), true)
      << td(html_escape(text_of(get(r, "gradient_calls"))), true) << td(fixed_or_none(get(r, "seconds"), 2), true)
      << "</tr>\n";
  }
  h << "</table>\n";

  const json& curves = items(get(report, "curves"));
  const std::vector<std::string> norms = curve_norms(curves);
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
    h << "<h3>" << html_escape(attack_name(r)) << " eps "
      << html_escape(eps_text_of(r)) << "</h3>\n<table><tr><th>clean / adversarial</th><th>id</th><th>label</th>"
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
  for (const auto& m : kOverallMetrics) h << "<th>" << m.title << "</th>";
  h << "</tr>\n<tr>";
  for (const auto& m : kOverallMetrics) h << td(fixed_or_none(get(o, m.key), 3), true);
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
    h << "<tr>" << td("<a href=\"#finding-" + html_escape(rank) + "\">" + html_escape(rank) + "</a>", true)
      << td(html_escape(text_of(get(f, "search")))) << td(html_escape(text_of(get(f, "slice"))))
      << td(html_escape(parameters_text(get(f, "parameters")))) << td(html_escape(text_of(get(f, "population"))))
      << td(html_escape(text_of(get(f, "failures")) + "/" + text_of(get(f, "n"))), true)
      << td(html_escape(rate_with_ci(get(f, "rate"), get(f, "ci95"))), true)
      << td(fixed_or_none(get(f, "baseline_rate"), 3), true)
      << td(signed_fixed_or_none(get(f, "gap"), 3), true) << td(fixed_or_none(get(f, "mean_p_fake"), 3), true)
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
