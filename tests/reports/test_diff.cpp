// `mirage report diff`'s core: two reports of one kind, built by the real report code from audits
// whose numbers are set by hand, so every change is known. A drop beyond max_drop regresses (and
// one of exactly max_drop does not), lower-is-better metrics regress upward, a gate that flips to
// failed regresses whatever max_drop, rows of one report only are added/removed and never
// regress, and reports of another kind or off their schema are refused naming the file.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "lib/error.h"
#include "lib/hash.h"
#include "lib/metrics.h"
#include "reports/audit_config.h"
#include "reports/detector_audit.h"
#include "reports/diff.h"
#include "reports/gates.h"
#include "reports/report_json.h"
#include "reports/robustness_audit.h"
#include "reports/schema.h"
#include "tests/test_util.h"

using mirage::test::message_of;
using nlohmann::json;

namespace {

constexpr const char* kWhen = "2024-05-01T12:00:00Z";

mirage::StageTime stage(const std::string& name) { return {name, kWhen, kWhen, 0.5}; }

json robustness_config() {
  return json::parse(R"({
    "attacks": [{"name": "pgd", "norm": "linf", "eps": ["2/255", "8/255"], "params": {"steps": 5}},
                {"name": "fgsm", "eps": ["8/255"]}],
    "limit": 100,
    "gates": [{"metric": "robust_accuracy", "attack": "pgd", "eps": "8/255", "min": 0.5},
              {"metric": "clean_accuracy", "min": 0.85}]
  })");
}

// 100 samples, 90 correct; `robust` gives each attack x eps's robust count in config order.
mirage::RobustnessAudit robustness_audit(const mirage::AuditConfig& config, const std::vector<int64_t>& robust) {
  mirage::RobustnessAudit a;
  a.n = 100;
  a.num_classes = 2;
  a.class_names = {"dark", "light"};
  a.data_sha256 = mirage::sha256_hex(std::string("toy data"));
  a.clean_accuracy = mirage::make_rate(90, 100);
  a.clean_per_class = {mirage::make_rate(45, 50), mirage::make_rate(45, 50)};
  size_t k = 0;
  for (const auto& entry : config.attacks) {
    for (size_t e = 0; e < entry.eps.size(); ++e, ++k) {
      mirage::AttackEpsResult r;
      r.attack = entry.id;
      r.name = entry.name;
      r.norm = "linf";
      r.eps = entry.eps[e];
      r.eps_text = entry.eps_text[e];
      r.options = json::object();
      const int64_t broken = 90 - robust.at(k);
      r.robust_accuracy = mirage::make_rate(robust[k], 100);
      r.success_rate = mirage::make_rate(broken, 90);
      r.linf = mirage::value_stats(std::vector<double>(static_cast<size_t>(broken), r.eps));
      r.l2 = mirage::value_stats(std::vector<double>(static_cast<size_t>(broken), 4 * r.eps));
      r.per_class = {mirage::make_rate(robust[k] / 2, 50), mirage::make_rate(robust[k] - robust[k] / 2, 50)};
      r.confusion_shift = {{0, broken / 2}, {broken - broken / 2, 0}};
      r.time = stage(entry.id);
      a.results.push_back(r);
    }
  }
  a.stages = {stage("clean")};
  a.total = stage("total");
  return a;
}

json robustness_report(const json& config_json, const std::vector<int64_t>& robust, bool headline = false) {
  auto config = mirage::parse_audit_config(config_json);
  auto audit = robustness_audit(config, robust);
  if (headline) {
    audit.has_headline = true;
    audit.headline = mirage::make_rate(40, 100);
    audit.headline_eps = 8.0 / 255;
    audit.headline_eps_text = "8/255";
  }
  mirage::ReportMetadata meta;
  meta.command = {"test"};
  meta.model_path = "toy.pt";
  meta.model_sha256 = mirage::sha256_hex(std::string("toy model"));
  meta.data_name = "toy";
  return mirage::robustness_report_json(audit, config, mirage::evaluate_gates(config, audit), meta);
}

// The base report: pgd 2/255 robust 70, pgd 8/255 60, fgsm 8/255 65 of 100.
json base_report() { return robustness_report(robustness_config(), {70, 60, 65}); }

const mirage::DiffRow& row(const mirage::ReportDiff& d, const std::string& key) {
  auto it = std::find_if(d.rows.begin(), d.rows.end(), [&](const mirage::DiffRow& r) { return r.key == key; });
  if (it == d.rows.end()) FAIL("no row " + key);
  return *it;
}

size_t regressions(const mirage::ReportDiff& d) {
  return static_cast<size_t>(std::count_if(d.rows.begin(), d.rows.end(), [](const auto& r) { return r.regression; }));
}

bool mentions(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// --- detector reports

struct FindingSpec {
  std::string search, slice;
  json parameters;
  std::string population;
  int64_t n, failures;
};

json detector_report(const mirage::DetectionMetrics& overall, const std::vector<FindingSpec>& specs) {
  auto config = mirage::parse_detector_audit_config(json::parse(R"({
    "n": 200, "limit": 200,
    "post_processing": {"jpeg": [], "blur": [2], "resize": [], "noise": [0.1], "crop": []},
    "evasion": {"eps_linf": [], "eps_l2": [], "minimal_norm": false, "square_queries": 0},
    "latent_search": 0, "clusters": 0, "examples": 0, "min_slice": 20,
    "gates": [{"metric": "auc", "min": 0.8},
              {"metric": "slice_failure_rate", "search": "post-processing", "slice": "blur",
               "parameters": {"sigma": 2}, "max": 0.35}]
  })"));
  mirage::DetectorAudit a;
  a.overall = overall;
  a.blind_spots.n_fakes = overall.n_fake;
  a.blind_spots.n_reals = overall.n_real;
  a.blind_spots.misses = 30;
  a.blind_spots.false_alarms = 10;
  for (const auto& s : specs) {
    mirage::Finding f;
    f.search = s.search;
    f.slice = s.slice;
    f.parameters = s.parameters;
    f.population = s.population;
    f.n = s.n;
    f.failures = s.failures;
    f.rate = static_cast<double>(s.failures) / static_cast<double>(s.n);
    std::tie(f.ci_low, f.ci_high) = mirage::wilson_interval(s.failures, s.n);
    f.baseline_rate = 0.15;
    f.mean_score = 0.5;
    a.blind_spots.findings.push_back(f);
  }
  a.data_sha256 = mirage::sha256_hex(std::string("toy detector data"));
  a.stages = {stage("scoring"), stage("slices")};
  a.total = stage("total");
  mirage::BlindSpotData data;
  data.class_names = {"a", "b", "c", "d"};
  mirage::DetectorReportMetadata meta;
  meta.command = {"test"};
  meta.detector_path = "det.pt";
  meta.detector_sha256 = mirage::sha256_hex(std::string("toy detector"));
  meta.sources = json::parse(R"([{"name": "gan", "spec": "runs/gan", "kind": "gan", "n": 200},
                                 {"name": "real", "spec": "reals/", "kind": "images", "n": 200}])");
  return mirage::detector_report_json(a, data, config, mirage::evaluate_detector_gates(config, a), meta);
}

mirage::DetectionMetrics overall_metrics() {
  mirage::DetectionMetrics m;
  m.n_real = m.n_fake = 200;
  m.auc = 0.95;
  m.average_precision = 0.94;
  m.accuracy = 0.9;
  m.tpr = 0.85;
  m.fpr = 0.05;
  m.tpr_at_1pct_fpr = 0.6;
  m.eer = 0.08;
  m.ece = 0.03;
  return m;
}

std::vector<FindingSpec> base_findings() {
  return {{"class", "class", json{{"class", 3}}, "fakes", 50, 20},
          {"post-processing", "blur", json{{"sigma", 2}}, "fakes", 200, 60},
          {"post-processing", "noise", json{{"sigma", 0.1}}, "reals", 200, 10}};
}

}  // namespace

TEST_CASE("the hand-built reports match their schemas", "[diff]") {
  CHECK(mirage::validate_report(base_report()).empty());
  CHECK(mirage::validate_report(robustness_report(robustness_config(), {70, 60, 65}, true)).empty());
  auto det = detector_report(overall_metrics(), base_findings());
  auto errors = mirage::validate_report(det);
  INFO((errors.empty() ? std::string() : errors.front()));
  CHECK(errors.empty());
  CHECK(det["passed"] == true);
}

TEST_CASE("identical reports: nothing changed, nothing regressed", "[diff]") {
  const json r = base_report();
  auto d = mirage::diff_reports(r, r, 0.02);
  CHECK(d.kind == "robustness");
  // clean accuracy, then robust / success / median Linf per attack x eps, in report order.
  REQUIRE(d.rows.size() == 1 + 3 * 3);
  CHECK(d.rows[0].key == "clean_accuracy");
  CHECK(d.rows[1].key == "robust_accuracy pgd eps=2/255");
  CHECK(d.rows[2].key == "success_rate pgd eps=2/255");
  CHECK(d.rows[3].key == "median_linf pgd eps=2/255");
  CHECK(d.rows[9].key == "median_linf fgsm eps=8/255");
  for (const auto& r : d.rows) {
    INFO(r.key);
    CHECK(r.in_old);
    CHECK(r.in_new);
    CHECK(r.change == 0);
    CHECK_FALSE(r.regression);
  }
  CHECK(d.gate_changes.empty());
  CHECK(d.notes.empty());
  CHECK_FALSE(d.regressed());
  CHECK(mentions(mirage::diff_text(d), "no metric changed"));
  CHECK(mentions(mirage::diff_text(d), "no regression (max drop 0.02)"));
}

TEST_CASE("a robust accuracy drop beyond max_drop regresses, within it, it does not", "[diff]") {
  const json old_report = base_report();
  const json new_report = robustness_report(robustness_config(), {70, 55, 65});  // pgd 8/255: 0.60 -> 0.55
  const std::string key = "robust_accuracy pgd eps=8/255";

  auto d = mirage::diff_reports(old_report, new_report, 0.02);
  const auto& r = row(d, key);
  CHECK(r.metric == "robust_accuracy");
  CHECK(r.higher_is_better);
  CHECK(r.old_value == 0.6);
  CHECK(r.new_value == 0.55);
  CHECK(r.change == Approx(-0.05));
  CHECK(r.regression);
  CHECK(d.regressed());
  // The same samples broken count against the success rate too (lower is better: it rose).
  CHECK(row(d, "success_rate pgd eps=8/255").regression);
  CHECK_FALSE(row(d, "robust_accuracy pgd eps=2/255").regression);
  CHECK_FALSE(row(d, "clean_accuracy").regression);
  CHECK(regressions(d) == 2);
  CHECK(d.gate_changes.empty());  // 0.55 still clears the 0.5 gate

  auto text = mirage::diff_text(d);
  CHECK(mentions(text, key));
  CHECK(mentions(text, "REGRESSION"));
  CHECK(mentions(text, "-0.05"));
  CHECK(mentions(text, "REGRESSED: 2 metrics worse by more than 0.02"));
  CHECK_FALSE(mentions(text, "robust_accuracy pgd eps=2/255"));  // unchanged rows stay out of the table

  auto md = mirage::diff_markdown(d);
  CHECK(mentions(md, "| `" + key + "` | 0.6 | 0.55 | -0.05 | **REGRESSION** |"));
  auto j = mirage::diff_json(d);
  CHECK(j["regressed"] == true);
  CHECK(j["max_drop"] == 0.02);
  bool found = false;
  for (const auto& jr : j["rows"]) {
    if (jr["key"] != key) continue;
    found = true;
    CHECK(jr["regression"] == true);
    CHECK(jr["status"] == "changed");
    CHECK(jr["old"] == 0.6);
    CHECK(jr["new"] == 0.55);
  }
  CHECK(found);

  SECTION("a larger max_drop lets it pass") {
    auto loose = mirage::diff_reports(old_report, new_report, 0.1);
    CHECK_FALSE(row(loose, key).regression);
    CHECK(row(loose, key).change == Approx(-0.05));
    CHECK_FALSE(loose.regressed());
    CHECK(mentions(mirage::diff_text(loose), "no regression (max drop 0.1)"));
  }
  SECTION("a negative max_drop reports only") {
    auto only = mirage::diff_reports(old_report, new_report, -1);
    CHECK(regressions(only) == 0);
    CHECK_FALSE(only.regressed());
    CHECK(mirage::diff_json(only)["max_drop"].is_null());
  }
  SECTION("an improvement never regresses, however small max_drop") {
    auto back = mirage::diff_reports(new_report, old_report, 0);
    CHECK(row(back, key).change == Approx(0.05));
    CHECK_FALSE(back.regressed());
  }
}

TEST_CASE("a drop of exactly max_drop is not a regression", "[diff]") {
  // 0.60 -> 0.58: 0.020000000000000018 in doubles, still "exactly" 0.02.
  const json old_report = base_report();
  const json new_report = robustness_report(robustness_config(), {70, 58, 65});
  const std::string key = "robust_accuracy pgd eps=8/255";
  CHECK_FALSE(row(mirage::diff_reports(old_report, new_report, 0.02), key).regression);
  CHECK(row(mirage::diff_reports(old_report, new_report, 0.0199), key).regression);
}

TEST_CASE("a success rate that rises regresses, one that falls does not", "[diff]") {
  const json old_report = base_report();
  json new_report = old_report;
  const std::string key = "success_rate fgsm eps=8/255";
  new_report["results"][2]["success_rate"]["value"] = old_report["results"][2]["success_rate"]["value"].get<double>() + 0.05;
  auto d = mirage::diff_reports(old_report, new_report, 0.02);
  CHECK_FALSE(row(d, key).higher_is_better);
  CHECK(row(d, key).regression);
  CHECK(regressions(d) == 1);
  CHECK(d.regressed());

  new_report["results"][2]["success_rate"]["value"] = old_report["results"][2]["success_rate"]["value"].get<double>() - 0.05;
  auto better = mirage::diff_reports(old_report, new_report, 0.02);
  CHECK(row(better, key).change == Approx(-0.05));
  CHECK_FALSE(better.regressed());
}

TEST_CASE("the median Linf of successes is reported, never gated", "[diff]") {
  const json old_report = base_report();
  json new_report = old_report;
  new_report["results"][1]["perturbation"]["linf"]["median"] = 0.001;  // the attack needs far less now
  auto d = mirage::diff_reports(old_report, new_report, 0);
  const auto& r = row(d, "median_linf pgd eps=8/255");
  CHECK_FALSE(r.gated);
  CHECK(r.change < 0);
  CHECK_FALSE(r.regression);
  CHECK_FALSE(d.regressed());
  CHECK(mentions(mirage::diff_text(d), "info"));

  // No successes: the report has a null median, shown as "-" and null, never a number.
  json none = old_report;
  none["results"][1]["perturbation"]["linf"]["median"] = nullptr;
  auto n = mirage::diff_reports(none, old_report, 0);
  CHECK(std::isnan(row(n, "median_linf pgd eps=8/255").old_value));
  CHECK_FALSE(n.regressed());
  CHECK(mentions(mirage::diff_text(n), "median_linf pgd eps=8/255"));
  for (const auto& jr : mirage::diff_json(n)["rows"]) {
    if (jr["key"] == "median_linf pgd eps=8/255") {
      CHECK(jr["old"].is_null());
      CHECK(jr["change"].is_null());
      CHECK(jr["status"] == "changed");
    }
  }
  // Two nulls are the same value: nothing changed.
  CHECK(mentions(mirage::diff_text(mirage::diff_reports(none, none, 0)), "no metric changed"));
}

TEST_CASE("a gate that flips to failed regresses even under a large max_drop", "[diff]") {
  const json old_report = base_report();
  const json new_report = robustness_report(robustness_config(), {70, 45, 65});  // below the 0.5 gate
  auto d = mirage::diff_reports(old_report, new_report, 0.5);
  CHECK(regressions(d) == 0);
  REQUIRE(d.gate_changes.size() == 1);
  CHECK(d.gate_changes[0].gate == "robust_accuracy pgd eps=8/255 >= 0.5");
  CHECK(d.gate_changes[0].old_passed);
  CHECK_FALSE(d.gate_changes[0].new_passed);
  CHECK(d.regressed());
  CHECK(mentions(mirage::diff_text(d), "robust_accuracy pgd eps=8/255 >= 0.5: passed -> FAILED"));
  CHECK(mentions(mirage::diff_text(d), "1 gate went from passed to failed"));
  CHECK(mirage::diff_json(d)["gate_changes"][0]["new_passed"] == false);

  // The other way is a fix, not a regression.
  auto fixed = mirage::diff_reports(new_report, old_report, 0.5);
  REQUIRE(fixed.gate_changes.size() == 1);
  CHECK(fixed.gate_changes[0].new_passed);
  CHECK_FALSE(fixed.regressed());
}

TEST_CASE("rows and gates of one report only are added or removed, never regressions", "[diff]") {
  const json old_report = base_report();
  json config = robustness_config();
  config["attacks"].erase(1);  // fgsm gone
  config["gates"].erase(1);    // the clean accuracy gate gone
  const json new_report = robustness_report(config, {70, 60}, true);
  auto d = mirage::diff_reports(old_report, new_report, 0.02);
  const auto& removed = row(d, "robust_accuracy fgsm eps=8/255");
  CHECK(removed.in_old);
  CHECK_FALSE(removed.in_new);
  CHECK_FALSE(removed.regression);
  const auto& added = row(d, "autoattack_accuracy autoattack eps=8/255");
  CHECK_FALSE(added.in_old);
  CHECK(added.new_value == 0.4);
  CHECK_FALSE(d.regressed());
  // The removed attack's rows stay together after the old row that preceded them.
  REQUIRE(d.rows.size() == 11);
  CHECK(d.rows[1].key == "autoattack_accuracy autoattack eps=8/255");
  CHECK(d.rows[7].key == "median_linf pgd eps=8/255");
  CHECK(d.rows[8].key == "robust_accuracy fgsm eps=8/255");
  CHECK(d.rows[10].key == "median_linf fgsm eps=8/255");
  REQUIRE(d.gate_changes.size() == 1);
  CHECK(d.gate_changes[0].gate == "clean_accuracy >= 0.85");
  CHECK_FALSE(d.gate_changes[0].in_new);
  REQUIRE(d.notes.size() == 1);
  CHECK(mentions(d.notes[0], "different configs (attacks, gates differ)"));

  auto text = mirage::diff_text(d);
  CHECK(mentions(text, "removed"));
  CHECK(mentions(text, "added"));
  CHECK(mentions(text, "clean_accuracy >= 0.85: removed (was passed)"));
  auto j = mirage::diff_json(d);
  CHECK(j["regressed"] == false);
  for (const auto& jr : j["rows"]) {
    if (jr["key"] == "robust_accuracy fgsm eps=8/255") {
      CHECK(jr["status"] == "removed");
      CHECK(jr["new"].is_null());
      CHECK(jr["change"].is_null());
    }
  }
}

TEST_CASE("the notes say when the runs are not alike", "[diff]") {
  const json old_report = base_report();
  json new_report = old_report;
  new_report["data"]["sha256"] = mirage::sha256_hex(std::string("other data"));
  new_report["model"]["sha256"] = mirage::sha256_hex(std::string("other model"));
  new_report["reproducibility"]["seed"] = 9;
  auto d = mirage::diff_reports(old_report, new_report, 0.02);
  REQUIRE(d.notes.size() == 3);
  CHECK(mentions(d.notes[0], "different data (sha256 " + old_report["data"]["sha256"].get<std::string>().substr(0, 12)));
  CHECK(mentions(d.notes[1], "the model changed"));
  CHECK(mentions(d.notes[2], "different seeds (0 vs 9)"));
  CHECK_FALSE(d.regressed());
  CHECK(mentions(mirage::diff_markdown(d), "different data"));
}

TEST_CASE("detector diffs: overall metrics and findings keyed and directed right", "[diff]") {
  const json old_report = detector_report(overall_metrics(), base_findings());
  auto m = overall_metrics();
  m.auc = 0.90;  // higher is better: down 0.05
  m.eer = 0.12;  // lower is better: up 0.04
  m.ece = 0.01;  // lower is better: down, an improvement
  auto findings = base_findings();
  findings[0].failures = 15;  // class 3: 0.4 -> 0.3, better
  findings[1].failures = 80;  // blur sigma 2: 0.3 -> 0.4, worse, and past the gate's 0.35
  const json new_report = detector_report(m, findings);
  auto d = mirage::diff_reports(old_report, new_report, 0.02);
  CHECK(d.kind == "detector");
  REQUIRE(d.rows.size() == 8 + 3);
  CHECK(d.rows[0].key == "auc");
  CHECK(row(d, "auc").regression);
  CHECK(row(d, "eer").regression);
  CHECK_FALSE(row(d, "eer").higher_is_better);
  CHECK_FALSE(row(d, "ece").regression);
  CHECK(row(d, "ece").change == Approx(-0.02));
  CHECK_FALSE(row(d, "tpr").regression);

  const std::string blur = "finding post-processing blur {\"sigma\":2} fakes";
  CHECK(d.rows[9].key == blur);  // findings in report order, after the overall metrics
  const auto& b = row(d, blur);
  CHECK(b.metric == "slice_failure_rate");
  CHECK_FALSE(b.higher_is_better);
  CHECK(b.old_value == 0.3);
  CHECK(b.new_value == 0.4);
  CHECK(b.regression);
  CHECK_FALSE(row(d, "finding class class {\"class\":3} fakes").regression);
  CHECK(row(d, "finding post-processing noise {\"sigma\":0.1} reals").change == 0);
  CHECK(regressions(d) == 3);

  REQUIRE(d.gate_changes.size() == 1);
  CHECK(d.gate_changes[0].gate == "slice_failure_rate post-processing blur {\"sigma\":2} fakes <= 0.35");
  CHECK_FALSE(d.gate_changes[0].new_passed);
  CHECK(d.regressed());
  CHECK(mentions(mirage::diff_markdown(d), blur));

  SECTION("a finding gone from the new report is removed, not a regression") {
    findings.erase(findings.begin() + 2);
    auto gone = mirage::diff_reports(old_report, detector_report(overall_metrics(), findings), 1.0);
    const auto& noise = row(gone, "finding post-processing noise {\"sigma\":0.1} reals");
    CHECK_FALSE(noise.in_new);
    CHECK_FALSE(noise.regression);
  }
}

TEST_CASE("reports of different kinds or off their schema are refused, naming the file", "[diff]") {
  const json robustness = base_report();
  const json detector = detector_report(overall_metrics(), base_findings());
  auto kinds = message_of<mirage::UsageError>(
      [&] { mirage::diff_reports(robustness, detector, 0.02, "old.json", "new.json"); });
  CHECK(kinds == "new.json is a detector report, old.json a robustness report");

  json broken = robustness;
  broken["clean_accuracy"]["value"] = 1.5;
  auto old_bad = message_of<mirage::InputError>([&] { mirage::diff_reports(broken, robustness, 0.02, "old.json", "new.json"); });
  CHECK(mentions(old_bad, "old.json: not a valid report: $.clean_accuracy.value"));
  auto new_bad = message_of<mirage::InputError>([&] { mirage::diff_reports(robustness, broken, 0.02, "old.json", "new.json"); });
  CHECK(mentions(new_bad, "new.json: not a valid report: "));
  auto no_kind = message_of<mirage::InputError>([&] { mirage::diff_reports(robustness, json::object(), 0.02); });
  CHECK(mentions(no_kind, "NEW: not a valid report"));
}

TEST_CASE("the diff labels eps, hashes and Markdown as the renderers do", "[diff]") {
  json old_report = base_report();
  json new_report = robustness_report(robustness_config(), {70, 45, 65});  // pgd 8/255: 0.60 -> 0.45, gate fails

  SECTION("an entry without its eps text is labelled k/255, as the renderers label it") {
    for (json* r : {&old_report, &new_report}) {
      for (auto& e : (*r)["results"]) e.erase("eps_text");
    }
    auto d = mirage::diff_reports(old_report, new_report, 0.02);
    CHECK(row(d, "robust_accuracy pgd eps=8/255").regression);
    CHECK(row(d, "robust_accuracy pgd eps=2/255").change == 0);
    REQUIRE(d.gate_changes.size() == 1);
    CHECK(d.gate_changes[0].gate == "robust_accuracy pgd eps=8/255 >= 0.5");
  }
  SECTION("hashes are cut to the 12 characters the rendered reports show") {
    new_report["data"]["sha256"] = mirage::sha256_hex(std::string("other data"));
    auto d = mirage::diff_reports(old_report, new_report, 0.02);
    REQUIRE_FALSE(d.notes.empty());
    CHECK(d.notes[0] == "the audits used different data (sha256 " +
                            old_report["data"]["sha256"].get<std::string>().substr(0, 12) + " vs " +
                            new_report["data"]["sha256"].get<std::string>().substr(0, 12) + ")");
  }
  SECTION("report strings cannot break the Markdown table or open markup") {
    for (json* r : {&old_report, &new_report}) (*r)["results"][1]["attack"] = "pgd|`x`";
    new_report["config"]["<b>|x"] = 1;  // a config key only the new report has
    const std::string md = mirage::diff_markdown(mirage::diff_reports(old_report, new_report, 0.02));
    INFO(md);
    // The key stays one code span in one cell: its backticks cannot end the span, its '|' the cell.
    CHECK(mentions(md, "| `robust_accuracy pgd\\|'x' eps=8/255` | 0.6 | 0.45 | -0.15 | **REGRESSION** |"));
    CHECK(mentions(md, "different configs (&lt;b&gt;\\|x differ)"));
    CHECK_FALSE(mentions(md, "<b>"));
  }
}
