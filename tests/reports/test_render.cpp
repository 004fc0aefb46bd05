// The renderers on reports of real (tiny) audits: Markdown shows one gates row per gate with its
// verdict and one curve column per eps; JUnit parses as XML with the gates' counts, even with
// ids full of markup; the HTML page is self-contained (images inlined, charts as inline SVG, no
// URL) and escapes the report's strings; and the detector report's ROC curve runs from (0,0) to
// (1,1), monotone, with the area of the AUC.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "lib/dataset.h"
#include "lib/error.h"
#include "lib/hash.h"
#include "lib/metrics.h"
#include "lib/model.h"
#include "reports/audit_config.h"
#include "reports/detector_audit.h"
#include "reports/escape.h"
#include "reports/gates.h"
#include "reports/render.h"
#include "reports/report_json.h"
#include "reports/report_view.h"
#include "reports/robustness_audit.h"
#include "reports/schema.h"
#include "reports/svg.h"
#include "tests/reports/toy_audit.h"
#include "tests/reports/toy_detector.h"
#include "tests/test_util.h"

using mirage::test::TempDir;
using nlohmann::json;

namespace {

// An attack id with every character XML and HTML must escape, and one XML 1.0 forbids.
const std::string kNastyId = std::string("pgd<b>&\"'") + '\x01';
const std::string kNastyIdClean = "pgd<b>&\"'";  // what a parser reads back: the control dropped

// Two attacks whose eps differ (3 distinct eps in all); one gate fails, two pass.
json robustness_config() {
  json c = json::parse(R"({
    "attacks": [{"name": "pgd", "norm": "linf", "eps": ["2/255", "8/255"], "params": {"steps": 10, "alpha": 0.01}},
                {"name": "fgsm", "eps": ["4/255", "8/255"]}],
    "limit": 32, "batch_size": 16, "worst_k": 2,
    "gates": [{"metric": "robust_accuracy", "eps": "8/255", "min": 0.9},
              {"metric": "clean_accuracy", "min": 0.5},
              {"metric": "success_rate", "attack": "fgsm", "eps": "4/255", "max": 1.0}]
  })");
  c["attacks"][0]["id"] = kNastyId;
  c["gates"][0]["attack"] = kNastyId;
  return c;
}

// A robustness report of a real audit; with `images_dir` (relative to `root`) its worst examples
// are written as PNGs and named in the report relative to `root`.
json robustness_report(const std::string& root = "", const std::string& images_dir = "") {
  auto config = mirage::parse_audit_config(robustness_config());
  auto data = mirage::test::toy_data({"dark", "light<"});  // a class name to escape
  auto model = mirage::test::toy_model();
  auto audit = mirage::run_robustness_audit(model, *data, config, 3);
  mirage::ReportMetadata meta;
  meta.command = {"mirage", "audit", "robustness", "--model", "toy.pt"};
  meta.model_path = "toy.pt";
  meta.model_sha256 = mirage::sha256_hex(std::string("toy"));
  meta.data_name = "toy";
  meta.seed = 3;
  if (!images_dir.empty()) {
    mirage::write_worst_images(audit, root + "/" + images_dir);
    meta.images_dir = images_dir;
  }
  return mirage::robustness_report_json(audit, config, mirage::evaluate_gates(config, audit), meta);
}

json detector_config() {
  json c = json::parse(R"({
    "n": 200, "limit": 200,
    "post_processing": {"jpeg": [], "blur": [1], "resize": [], "noise": [], "crop": []},
    "evasion": {"eps_linf": [], "eps_l2": [], "minimal_norm": false, "square_queries": 0},
    "latent_search": 0, "clusters": 0, "examples": 2, "min_slice": 20,
    "gates": [{"metric": "auc", "min": 0.8},
              {"metric": "max_slice_failure_rate", "max": 0.5},
              {"metric": "slice_failure_rate", "search": "class", "slice": "class", "max": 0.5}]
  })");
  c["gates"][2]["parameters"] = {{"class", kNastyId}};
  return c;
}

// A detector report of a real audit; with `image_dir` its examples are written under `root` and
// named relative to it.
json detector_report(const std::string& root = "", const std::string& image_dir = "") {
  auto config = mirage::parse_detector_audit_config(detector_config());
  auto data = mirage::test::toy_detector_data();
  mirage::test::BrightnessDetector det;
  auto audit = mirage::run_detector_audit(det, data, config, {}, 3);
  auto meta = mirage::test::toy_detector_meta();
  if (!image_dir.empty()) {
    meta.image_dir = root + "/" + image_dir;
    meta.image_prefix = image_dir + "/";
  }
  return mirage::detector_report_json(audit, data, config, mirage::evaluate_detector_gates(config, audit), meta);
}

void require_valid(const json& report) {
  auto errors = mirage::validate_report(report);
  INFO((errors.empty() ? std::string() : errors.front()));
  REQUIRE(errors.empty());
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The table rows ("| ...") that follow the heading line starting with `heading`.
std::vector<std::string> table_after(const std::string& md, const std::string& heading) {
  std::vector<std::string> rows;
  bool in_section = false;
  for (const auto& line : lines_of(md)) {
    if (line.rfind("#", 0) == 0) {
      if (in_section) break;
      in_section = line.rfind(heading, 0) == 0;
      continue;
    }
    if (in_section && line.rfind("|", 0) == 0) rows.push_back(line);
  }
  return rows;
}

// Cells of a Markdown table row, '\|' not splitting.
size_t cell_count(const std::string& row) {
  size_t bars = 0;
  for (size_t i = 0; i < row.size(); ++i) bars += row[i] == '|' && (i == 0 || row[i - 1] != '\\');
  return bars - 1;
}

// The JUnit XML as Python's ElementTree reads it: counts, and each test case's name and failure.
json parse_junit(const std::string& xml) {
  TempDir dir;
  const std::string path = dir.file("junit.xml");
  std::ofstream(path) << xml;
  const std::string script =
      "import sys, json, xml.etree.ElementTree as E\n"
      "r = E.parse(sys.argv[1]).getroot()\n"
      "s = r.find(\"testsuite\")\n"
      "cases = []\n"
      "for c in s.findall(\"testcase\"):\n"
      "    f = c.find(\"failure\")\n"
      "    cases.append({\"name\": c.get(\"name\"), \"classname\": c.get(\"classname\"),\n"
      "                  \"failure\": None if f is None else f.get(\"message\"),\n"
      "                  \"type\": None if f is None else f.get(\"type\"), \"text\": None if f is None else f.text})\n"
      "print(json.dumps({\"root\": r.tag, \"name\": r.get(\"name\"), \"tests\": r.get(\"tests\"),\n"
      "                  \"failures\": r.get(\"failures\"), \"suite\": s.get(\"name\"), \"suite_tests\": s.get(\"tests\"),\n"
      "                  \"suite_failures\": s.get(\"failures\"), \"time\": s.get(\"time\"), \"cases\": cases}))\n";
  const std::string script_path = dir.file("read_junit.py");
  std::ofstream(script_path) << script;
  auto r = mirage::test::run_command(std::string(MIRAGE_PYTHON) + " " + script_path + " " + path);
  INFO(r.out);
  INFO(xml);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}

// Every src= of the page is an inline data URI, and nothing names a URL.
void check_self_contained(const std::string& html) {
  CHECK_FALSE(has(html, "http://"));
  CHECK_FALSE(has(html, "https://"));
  CHECK_FALSE(has(html, " src=\"file"));
  for (size_t at = html.find("src="); at != std::string::npos; at = html.find("src=", at + 1)) {
    CHECK(html.compare(at, 10, "src=\"data:") == 0);
  }
  CHECK_FALSE(has(html, "<link"));
  CHECK_FALSE(has(html, "<script"));
}

size_t count_of(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("markdown: one gates row per gate with its verdict, one curve column per eps", "[reports][render]") {
  json report = robustness_report();
  require_valid(report);
  report["shard"] = {{"index", 2}, {"count", 4}};
  const std::string md = mirage::render_markdown(report);
  INFO(md);
  REQUIRE(report["gates"].size() == 3);
  REQUIRE(report["gates"][0]["passed"] == false);  // robust accuracy 0.9 at 8/255 is out of reach
  CHECK(has(md, "❌ mirage robustness audit FAILED"));
  CHECK(has(md, "shard 2/4"));
  CHECK(has(md, "seed 3"));
  CHECK(has(md, "toy.pt"));
  CHECK(has(md, report["model"]["sha256"].get<std::string>().substr(0, 12)));

  auto gates = table_after(md, "### Gates");
  REQUIRE(gates.size() == 2 + report["gates"].size());  // header, alignment, one row per gate
  for (size_t i = 0; i < report["gates"].size(); ++i) {
    const auto& row = gates[2 + i];
    INFO(row);
    CHECK(has(row, report["gates"][i]["metric"].get<std::string>()));
    CHECK(has(row, report["gates"][i]["passed"] == true ? "✅ pass" : "❌ FAILED"));
    CHECK(cell_count(row) == 6);
  }
  // The id's markup is neutralised and its '|'-free cells stay six.
  CHECK(has(gates[2], "pgd&lt;b&gt;&amp;\"'"));
  CHECK_FALSE(has(md, "<b>"));

  auto curve = table_after(md, "### Robust accuracy against eps");
  REQUIRE(curve.size() == 2 + report["curves"].size());
  CHECK(cell_count(curve[0]) == 1 + 3);  // attack, then 2/255, 4/255, 8/255
  CHECK(has(curve[0], "| 2/255 | 4/255 | 8/255 |"));
  // fgsm did not run at 2/255: its cell says so rather than shifting the row.
  CHECK(cell_count(curve[3]) == 4);
  CHECK(has(curve[3], "| —"));

  auto results = table_after(md, "### Results");
  CHECK(results.size() == 2 + report["results"].size());
  CHECK(has(md, "clean accuracy: 1.000"));

  SECTION("a '|' in an id does not split a cell") {
    report["results"][0]["attack"] = "a|b";
    auto rows = table_after(mirage::render_markdown(report), "### Results");
    CHECK(cell_count(rows[2]) == 7);
    CHECK(has(rows[2], "a\\|b"));
  }
}

TEST_CASE("markdown of a detector report: overall metrics, top findings and their commands", "[reports][render]") {
  json report = detector_report();
  require_valid(report);
  const std::string md = mirage::render_markdown(report);
  INFO(md);
  CHECK(has(md, "mirage detector audit FAILED"));
  CHECK(has(md, "200 fakes + 200 reals"));
  auto gates = table_after(md, "### Gates");
  REQUIRE(gates.size() == 2 + report["gates"].size());
  CHECK(has(gates[2], "✅ pass"));
  CHECK(has(gates[4], "not found"));
  CHECK(has(gates[4], "❌ FAILED"));
  auto overall = table_after(md, "### Overall");
  REQUIRE(overall.size() == 3);
  CHECK(has(overall[0], "| AUC | AP |"));
  auto findings = table_after(md, "### Worst slices");
  const size_t shown = std::min<size_t>(10, report["findings"].size());
  REQUIRE(findings.size() == 2 + shown);
  CHECK(has(findings[2], "| 1 | class | class | class=3, name=d | fakes | 50/50 |"));
  CHECK(count_of(md, "<details>") == shown);
  CHECK(has(md, report["findings"][0]["reproduce"].get<std::string>()));
}

TEST_CASE("junit: well-formed XML with the gates' counts, escaping every id", "[reports][render]") {
  SECTION("robustness") {
    json report = robustness_report();
    report["timing"]["seconds"] = 12.5;
    auto x = parse_junit(mirage::render_junit(report));
    CHECK(x["root"] == "testsuites");
    CHECK(x["name"] == "mirage audit");
    CHECK(x["suite"] == "mirage audit robustness");
    CHECK(x["tests"] == "3");
    CHECK(x["failures"] == "1");
    CHECK(x["suite_tests"] == "3");
    CHECK(x["suite_failures"] == "1");
    CHECK(x["time"] == "12.500");
    REQUIRE(x["cases"].size() == 3);
    // The id reads back exactly, the character XML forbids dropped.
    CHECK(x["cases"][0]["name"] == "robust_accuracy " + kNastyIdClean + " eps=8/255 >= 0.9");
    CHECK(x["cases"][0]["classname"] == "mirage.audit.robustness");
    CHECK(x["cases"][0]["type"] == "gate");
    CHECK(has(x["cases"][0]["failure"], "< min 0.9"));
    CHECK(has(x["cases"][0]["text"], kNastyIdClean));
    CHECK(x["cases"][1]["name"] == "clean_accuracy >= 0.5");
    CHECK(x["cases"][1]["failure"].is_null());
    CHECK(x["cases"][2]["name"] == "success_rate fgsm eps=4/255 <= 1");
    CHECK(x["cases"][2]["failure"].is_null());
  }
  SECTION("detector: a slice not found fails and says so") {
    json report = detector_report();
    auto x = parse_junit(mirage::render_junit(report));
    CHECK(x["suite"] == "mirage audit detector");
    REQUIRE(x["cases"].size() == report["gates"].size());
    int64_t failed = 0;
    for (const auto& g : report["gates"]) failed += g["passed"] == false;
    CHECK(x["failures"] == std::to_string(failed));
    CHECK(x["cases"][0]["failure"].is_null());
    const auto& missing = x["cases"][2];
    CHECK(has(missing["name"], "class=" + kNastyIdClean));
    CHECK(has(missing["failure"], "no finding matched"));
    // The max-slice gate fails on the class-3 slice; its details carry that slice's command.
    CHECK(has(x["cases"][1]["failure"], "value 1.000 > max 0.5"));
    CHECK(has(x["cases"][1]["text"], "mirage blind-spots"));
  }
  SECTION("no gates: one passing test case") {
    json report = robustness_report();
    report["gates"] = json::array();
    report["passed"] = true;
    auto x = parse_junit(mirage::render_junit(report));
    CHECK(x["tests"] == "1");
    CHECK(x["failures"] == "0");
    REQUIRE(x["cases"].size() == 1);
    CHECK(x["cases"][0]["name"] == "audit completed");
  }
}

TEST_CASE("html: one self-contained page, images inlined, curves as SVG, strings escaped", "[reports][render]") {
  TempDir dir;
  SECTION("robustness, images relative to base_dir") {
    json report = robustness_report(dir.path().string(), "worst");
    require_valid(report);
    const auto& first = report["results"][1]["worst"];
    REQUIRE_FALSE(first.empty());
    CHECK(first[0]["images"]["clean"].get<std::string>().rfind("worst/", 0) == 0);
    const std::string html = mirage::render_html(report, dir.path().string());
    check_self_contained(html);
    CHECK(has(html, "data:image/png;base64,iVBORw0KGgo"));  // the PNG signature, base64
    size_t images = 0;
    for (const auto& r : report["results"]) images += 2 * r["worst"].size();
    CHECK(count_of(html, "<img ") == images);
    std::set<std::string> norms;  // one chart per norm
    for (const auto& c : report["curves"]) norms.insert(c["norm"].get<std::string>());
    CHECK(count_of(html, "<svg") == norms.size());
    CHECK(count_of(html, "<polyline") == report["curves"].size());
    CHECK(has(html, "robust accuracy"));
    CHECK(has(html, "pgd&lt;b&gt;&amp;&quot;&apos;"));
    CHECK_FALSE(has(html, "<b>&"));
    CHECK_FALSE(has(html, "\x01"));
    CHECK(has(html, "light&lt;"));  // class names come from the report too
    CHECK(has(html, "FAILED"));
    CHECK(has(html, report["model"]["sha256"].get<std::string>()));

    // Without base_dir the relative paths miss: each image becomes a note, not an error.
    const std::string elsewhere = mirage::render_html(report, (dir.path() / "nowhere").string());
    CHECK_FALSE(has(elsewhere, "data:image/png"));
    CHECK(count_of(elsewhere, "image not readable: worst/") == images);
  }
  SECTION("detector: ROC and examples") {
    json report = detector_report(dir.path().string(), "examples");
    require_valid(report);
    const auto& example = report["findings"][0]["examples"][0];
    REQUIRE(example.contains("image"));
    const std::string html = mirage::render_html(report, dir.path().string());
    check_self_contained(html);
    CHECK(has(html, "data:image/png;base64,iVBORw0KGgo"));
    CHECK(has(html, "<svg"));
    CHECK(has(html, "class=\"roc\""));
    CHECK(has(html, "class=3"));
    CHECK(has(html, "&lt;b&gt;&amp;&quot;&apos;"));
    CHECK(has(html, "mirage blind-spots --detector toy.pt"));
    CHECK(has(html, "mirage generate --gan runs/gan"));
  }
  SECTION("a URL in the report's strings is not left as one") {
    json report = robustness_report();
    report["reproducibility"]["command"] = {"mirage", "--model", "https://example.com/m.pt"};
    check_self_contained(mirage::render_html(report));
  }
}

TEST_CASE("renderers read old and merged reports: optional keys absent, samples never shown", "[reports][render]") {
  json robustness = robustness_report();
  json detector = detector_report();
  // What an older or merged report may lack, and the per-sample arrays a shard carries.
  for (auto& r : robustness["results"]) r.erase("eps_text");
  for (auto& c : robustness["curves"]) {
    for (auto& p : c["points"]) p.erase("eps_text");
  }
  robustness["headline"] = nullptr;
  robustness["samples"] = json::array({{{"id", "SAMPLE-MARKER"}, {"clean_correct", true}}});
  detector["overall"].erase("roc");
  detector["data"].erase("class_names");
  for (auto& f : detector["findings"]) f["examples"] = json::array();
  for (const json* report : {&robustness, &detector}) {
    const std::string md = mirage::render_markdown(*report);
    const std::string xml = mirage::render_junit(*report);
    const std::string html = mirage::render_html(*report);
    CHECK_FALSE(has(md + xml + html, "SAMPLE-MARKER"));
    CHECK(has(md, "### Gates"));
  }
  // Radii without their text come back as the k/255 they are.
  CHECK(has(mirage::render_markdown(robustness), "| 2/255 | 4/255 | 8/255 |"));
  CHECK(has(mirage::render_html(detector), "No ROC curve"));
}

TEST_CASE("a report of another kind is a usage error", "[reports][render]") {
  json report = {{"kind", "benchmark"}, {"passed", true}};
  auto message = mirage::test::message_of<mirage::UsageError>([&] { mirage::render_markdown(report); });
  CHECK(has(message, "benchmark"));
  CHECK_THROWS_AS(mirage::render_junit(report), mirage::UsageError);
  CHECK_THROWS_AS(mirage::render_html(json::array()), mirage::UsageError);
}

TEST_CASE("the detector report's ROC runs (0,0) to (1,1), monotone, with the AUC's area", "[reports][render][detector-audit]") {
  json report = detector_report();
  require_valid(report);
  const auto& roc = report["overall"]["roc"];
  REQUIRE(roc.size() >= 2);
  CHECK(roc.size() <= 200);
  CHECK(roc.front()["fpr"] == 0.0);
  CHECK(roc.front()["tpr"] == 0.0);
  CHECK(roc.back()["fpr"] == 1.0);
  CHECK(roc.back()["tpr"] == 1.0);
  double area = 0;
  for (size_t i = 1; i < roc.size(); ++i) {
    const double f0 = roc[i - 1]["fpr"], f1 = roc[i]["fpr"], t0 = roc[i - 1]["tpr"], t1 = roc[i]["tpr"];
    CHECK(f1 >= f0);
    CHECK(t1 >= t0);
    area += (f1 - f0) * (t0 + t1) / 2;
  }
  CHECK(area == Approx(report["overall"]["auc"].get<double>()).margin(0.01));
  // 400 distinct scores make a 401-vertex curve: the report's is the thinned one.
  CHECK(roc.size() < 401);

  SECTION("a schema rejects a rate out of [0, 1]") {
    report["overall"]["roc"][1]["tpr"] = 1.5;
    CHECK_FALSE(mirage::validate_report(report).empty());
  }
}

TEST_CASE("roc_curve: exact with ties, thinned within its bounds, both classes needed", "[reports][render][detector-audit]") {
  auto area = [](const std::vector<mirage::RocPoint>& c) {
    double a = 0;
    for (size_t i = 1; i < c.size(); ++i) a += (c[i].fpr - c[i - 1].fpr) * (c[i].tpr + c[i - 1].tpr) / 2;
    return a;
  };
  // Ties: one diagonal step per tied group, so the area is the Mann-Whitney AUC exactly.
  std::vector<double> s = {0.9, 0.9, 0.5, 0.5, 0.5, 0.1};
  std::vector<int> y = {1, 0, 1, 0, 0, 1};
  auto small = mirage::roc_curve(s, y);
  REQUIRE(small.size() == 4);  // (0,0) and one vertex per distinct score
  CHECK(small[1].fpr == Approx(1.0 / 3));
  CHECK(small[1].tpr == Approx(1.0 / 3));
  CHECK(area(small) == Approx(mirage::roc_auc(s, y)));

  // Many distinct scores: at most max_points, ends kept, area close to the AUC.
  const size_t max_points = GENERATE(200, 50, 10);
  std::mt19937 rng(11);
  std::normal_distribution<double> noise;
  std::vector<double> scores;
  std::vector<int> labels;
  for (int i = 0; i < 5000; ++i) {
    labels.push_back(i % 3 == 0);
    scores.push_back(noise(rng) + (labels.back() ? 1.0 : 0.0));
  }
  auto c = mirage::roc_curve(scores, labels, max_points);
  INFO(max_points);
  CHECK(c.size() <= max_points);
  CHECK(c.size() >= max_points / 4);
  CHECK(c.front().fpr == 0.0);
  CHECK(c.back().tpr == 1.0);
  for (size_t i = 1; i < c.size(); ++i) {
    CHECK(c[i].fpr >= c[i - 1].fpr);
    CHECK(c[i].tpr >= c[i - 1].tpr);
  }
  const double auc = mirage::roc_auc(scores, labels);
  CHECK(area(c) == Approx(auc).margin(max_points >= 200 ? 0.002 : max_points >= 50 ? 0.01 : 0.05));

  CHECK_THROWS_AS(mirage::roc_curve({0.1, 0.2}, {1, 1}), mirage::InputError);
}

// --- The pieces the renderers share (reports/escape.h, reports/report_view.h, reports/svg.h).

TEST_CASE("xml_safe keeps valid UTF-8 and drops what XML 1.0 forbids", "[reports][render][escape]") {
  CHECK(mirage::xml_safe("tab\tnew\nline\r") == "tab\tnew\nline\r");
  CHECK(mirage::xml_safe("\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") == "\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");  // é € 😀
  CHECK(mirage::xml_safe(std::string("a\x01" "b\x1F") + '\0' + "c") == "abc");  // controls
  CHECK(mirage::xml_safe("a\xC0\xBC" "b") == "ab");       // an overlong '<' is no '<' in disguise
  CHECK(mirage::xml_safe("a\xED\xA0\x80" "b") == "ab");  // a surrogate
  CHECK(mirage::xml_safe("a\xEF\xBF\xBE" "b") == "ab");  // U+FFFE
  CHECK(mirage::xml_safe("a\xFF" "b\xC3") == "ab");       // not UTF-8, and a truncated sequence
}

TEST_CASE("xml and html escaping leave no markup, entity or URL of the input's own", "[reports][render][escape]") {
  const std::string nasty = "<a href=\"x\">&amp;'</a>";
  const std::string xml = mirage::xml_escape(nasty);
  CHECK(xml == "&lt;a href=&quot;x&quot;&gt;&amp;amp;&apos;&lt;/a&gt;");
  const std::string html = mirage::html_escape(nasty + " https://example.com/m.pt ftp://h");
  for (char c : std::string("<>\"'")) CHECK(html.find(c) == std::string::npos);
  CHECK(html.find("://") == std::string::npos);
  CHECK(has(html, "https:&#47;&#47;example.com/m.pt"));
  CHECK(mirage::html_escape("a\x01" "b") == "ab");
}

TEST_CASE("markdown escaping keeps a report string inside its cell and out of markup", "[reports][render][escape]") {
  // Every character that could end a cell, open a tag, a link, emphasis or code is neutralised.
  CHECK(mirage::markdown_text("a|b") == "a\\|b");
  CHECK(mirage::markdown_text("<b>&") == "&lt;b&gt;&amp;");
  CHECK(mirage::markdown_text("*x* _y_ [l](u) `c` \\") == "\\*x\\* \\_y\\_ \\[l\\](u) \\`c\\` \\\\");
  CHECK(mirage::markdown_text("one\ntwo\tthree\r") == "one two three ");
  // A code span: its backticks are its own, and '|' still cannot split the cell.
  CHECK(mirage::markdown_code("a`b|c\nd") == "`a'b\\|c d`");
  CHECK(mirage::markdown_code("robust_accuracy pgd eps=8/255") == "`robust_accuracy pgd eps=8/255`");
  // A fence outruns the longest backtick run inside it.
  CHECK(mirage::markdown_fence("echo hi", "sh") == "```sh\necho hi\n```\n");
  CHECK(mirage::markdown_fence("a ```` b", "") == "`````\na ```` b\n`````\n");
}

TEST_CASE("base64 matches the RFC 4648 test vectors", "[reports][render][escape]") {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [in, out] : vectors) CHECK(mirage::base64(in) == out);
  CHECK(mirage::base64("\xFF\xFE\xFD") == "//79");  // high bytes, and the last two letters
  CHECK(mirage::base64("\x89PNG\r\n\x1a\n").rfind("iVBORw0KGgo", 0) == 0);
}

TEST_CASE("eps labels read as the configs write them", "[reports][render]") {
  using mirage::view::eps_label;
  CHECK(eps_label(8.0 / 255) == "8/255");
  CHECK(eps_label(1.0 / 255) == "1/255");
  CHECK(eps_label(0.5) == "0.5");              // 127.5/255: not a whole k
  CHECK(eps_label(0.0313725) == "0.0313725");  // close to 8/255 but not it
  CHECK(eps_label(0.001) == "0.001");          // below 1/255
  // An entry's own text wins; without it the number is labelled.
  CHECK(mirage::view::eps_text_of(json{{"eps", 8.0 / 255}, {"eps_text", "0.0314"}}) == "0.0314");
  CHECK(mirage::view::eps_text_of(json{{"eps", 8.0 / 255}}) == "8/255");
  CHECK(mirage::view::short_sha(json(std::string(64, 'a'))) == std::string(12, 'a'));
  CHECK(mirage::view::short_sha(json("abc")) == "abc");
}

TEST_CASE("nice_ticks are round, evenly spaced and inside the range", "[reports][render]") {
  const auto [lo, hi] = GENERATE(std::make_pair(0.0, 1.0), std::make_pair(0.0, 8.0 / 255), std::make_pair(0.0, 3.7),
                                 std::make_pair(-2.0, 13.0), std::make_pair(0.001, 0.0042));
  const int count = GENERATE(3, 5, 8);
  INFO(lo << " " << hi << " " << count);
  const auto ticks = mirage::view::nice_ticks(lo, hi, count);
  REQUIRE(ticks.size() >= 2);
  CHECK(ticks.size() <= static_cast<size_t>(count) + 1);
  const double step = ticks[1] - ticks[0];
  const double mantissa = step / std::pow(10.0, std::floor(std::log10(step)));
  CHECK((mantissa == Approx(1) || mantissa == Approx(2) || mantissa == Approx(5) || mantissa == Approx(10)));
  for (size_t i = 0; i < ticks.size(); ++i) {
    CHECK(ticks[i] >= lo - 1e-9 * step);
    CHECK(ticks[i] <= hi + 1e-9 * step);
    if (i > 0) CHECK(ticks[i] - ticks[i - 1] == Approx(step));
    CHECK(std::fabs(ticks[i] / step - std::round(ticks[i] / step)) < 1e-6);  // multiples of the step
  }
  CHECK(ticks.front() - lo < step + 1e-12);  // the range is covered, not just a part of it
  CHECK(hi - ticks.back() < step + 1e-12);
  CHECK(mirage::view::nice_ticks(2, 2, 5) == std::vector<double>{2});
}
