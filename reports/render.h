// reports/render.h — a written audit report (kind "robustness" or "detector") rendered for
// people and CI: Markdown for a job summary, JUnit XML (one test case per gate) for test
// dashboards, and one self-contained HTML page. Each works from the report JSON alone, so it
// renders merged reports and reports of older runs too; keys the schema makes optional may be
// absent or null, and per-sample arrays ("samples") are never shown. A report of any other kind
// is a UsageError. Every string from the report is escaped for its target (ids may hold '<').
// One file each (reports/markdown.cpp, junit.cpp, html.cpp); what they share is in
// reports/report_view.h (reading, formats, the gate summary), escape.h and svg.h.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

namespace mirage {

// GitHub-flavoured Markdown for $GITHUB_STEP_SUMMARY: verdict line, gates table, the main numbers
// (robustness: results and the curve as a table; detector: overall metrics and the top 10
// findings, each with its reproduce command in a collapsed <details>).
std::string render_markdown(const nlohmann::json& report);

// JUnit XML: <testsuites name="mirage audit"> holding one <testsuite>, one <testcase> per gate
// (a failed gate carries <failure type="gate">); with no gates, one passing "audit completed".
// Characters XML 1.0 forbids are dropped.
std::string render_junit(const nlohmann::json& report);

// One HTML page that fetches nothing: inline CSS, inline SVG charts (robust accuracy against eps,
// or the detector's ROC curve), images as data:image/png;base64 URIs. Relative image paths in the
// report are read relative to `base_dir` (empty = the current folder); an image that cannot be
// read is shown as a short note.
std::string render_html(const nlohmann::json& report, const std::string& base_dir = "");

}  // namespace mirage
