// The robustness audit on a model whose answers are known in closed form: config errors name
// their field, robust accuracy follows the exact break points, gates pass and fail as they
// should, and the report matches its schema while mutated reports do not.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "lib/dataset.h"
#include "lib/error.h"
#include "lib/hash.h"
#include "reports/audit_config.h"
#include "reports/gates.h"
#include "reports/report_json.h"
#include "reports/robustness_audit.h"
#include "reports/schema.h"
#include "tests/reports/toy_audit.h"
#include "tests/test_util.h"

using mirage::test::message_of;
using nlohmann::json;

namespace {

using mirage::test::distance;
using mirage::test::kN;
using mirage::test::toy_data;
using mirage::test::toy_meta;
using mirage::test::toy_model;

json base_config() {
  return json::parse(R"({
    "attacks": [{"name": "pgd", "norm": "linf", "eps": ["8/255", "1/255", "0.1", "4/255"],
                 "params": {"steps": 20, "alpha": 0.01}}],
    "limit": 64, "batch_size": 24, "worst_k": 3,
    "gates": [{"metric": "robust_accuracy", "attack": "pgd", "eps": "8/255", "min": 0.5},
              {"metric": "clean_accuracy", "min": 0.85}]
  })");
}

// The config error for `config`, which must be a UsageError.
std::string config_error(const json& config) {
  return message_of<mirage::UsageError>([&] { mirage::parse_audit_config(config); });
}

bool mentions(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("audit config errors name the field", "[reports]") {
  json c = base_config();
  SECTION("an unknown attack") {
    c["attacks"].push_back({{"name", "pdg"}, {"eps", {"8/255"}}});
    auto m = config_error(c);
    CHECK(mentions(m, "config.attacks[1].name"));
    CHECK(mentions(m, "unknown attack 'pdg'"));
  }
  SECTION("an unknown attack parameter, through the attack's own parser") {
    c["attacks"][0]["params"]["stepz"] = 3;
    auto m = config_error(c);
    CHECK(mentions(m, "config.attacks[0]"));
    CHECK(mentions(m, "stepz"));
  }
  SECTION("a bad eps") {
    c["attacks"][0]["eps"][2] = "8/0x";
    CHECK(mentions(config_error(c), "config.attacks[0].eps[2]"));
  }
  SECTION("a threshold that is not a number") {
    c["gates"][1]["min"] = true;
    CHECK(mentions(config_error(c), "config.gates[1].min"));
    c["gates"][1]["min"] = "most";
    CHECK(mentions(config_error(c), "config.gates[1].min"));
  }
  SECTION("a gate without a bound") {
    c["gates"][1].erase("min");
    CHECK(mentions(config_error(c), "config.gates[1]"));
  }
  SECTION("an unknown metric") {
    c["gates"][0]["metric"] = "robustness";
    CHECK(mentions(config_error(c), "config.gates[0].metric"));
  }
  SECTION("a gate naming an attack not in the config") {
    c["gates"][0]["attack"] = "square";
    CHECK(mentions(config_error(c), "config.gates[0].attack"));
  }
  SECTION("a gate naming an eps the attack does not run") {
    c["gates"][0]["eps"] = "3/255";
    CHECK(mentions(config_error(c), "config.gates[0].eps"));
  }
  SECTION("a misspelt top-level field") {
    c["batchsize"] = 4;
    CHECK(mentions(config_error(c), "config.batchsize"));
  }
  SECTION("the autoattack headline gate without autoattack at declared_eps") {
    c["declared_eps"] = "8/255";
    c["gates"].push_back({{"metric", "autoattack_accuracy"}, {"min", 0.3}});
    CHECK(mentions(config_error(c), "config.gates[2].metric"));
  }
}

TEST_CASE("audit config reads fractions and keeps what was written", "[reports]") {
  auto config = mirage::parse_audit_config(base_config());
  REQUIRE(config.attacks.size() == 1);
  CHECK(config.attacks[0].eps[0] == Approx(8.0 / 255));
  CHECK(config.attacks[0].eps_text[0] == "8/255");
  CHECK(config.gates[0].eps == Approx(8.0 / 255));
  CHECK(config.batch_size == 24);
  CHECK(config.source == base_config());
}

TEST_CASE("robust accuracy follows the closed form and never rises with eps", "[reports]") {
  // The whole budget (no early stop), so that the worst examples sit the full eps past the
  // boundary and their margins have a closed form.
  auto full_budget = base_config();
  full_budget["attacks"][0]["params"]["early_stop"] = false;
  auto config = mirage::parse_audit_config(full_budget);
  auto data = toy_data();
  auto model = toy_model();
  auto audit = mirage::run_robustness_audit(model, *data, config, 5);
  REQUIRE(audit.n == kN);
  CHECK(audit.clean_accuracy.value == 1.0);
  REQUIRE(audit.results.size() == 4);
  for (const auto& r : audit.results) {
    int64_t expected = 0;
    for (int64_t i = 0; i < kN; ++i) expected += distance(i) > r.eps;
    INFO(r.eps_text);
    CHECK(std::abs(r.robust_accuracy.count - expected) <= 1);
    CHECK(r.robust_accuracy.value <= audit.clean_accuracy.value);
    CHECK(r.robust_accuracy.lo <= r.robust_accuracy.value);
    CHECK(r.robust_accuracy.value <= r.robust_accuracy.hi);
    CHECK(r.success_rate.count == kN - r.robust_accuracy.count);  // every sample starts correct
    if (r.linf.n > 0) CHECK(r.linf.max <= r.eps + 1e-6);
    CHECK(r.linf.median <= r.linf.p95);
    CHECK(r.per_class[0].count + r.per_class[1].count == r.robust_accuracy.count);
    // Every success flips the class: all the mass of the shift is off the diagonal.
    CHECK(r.confusion_shift[0][1] + r.confusion_shift[1][0] == r.success_rate.count);
    CHECK(r.confusion_shift[0][0] + r.confusion_shift[1][1] == 0);
    // The worst examples are the most confidently wrong: the ones closest to the boundary,
    // pushed the full eps past it (margin 40 (eps - d)).
    REQUIRE(static_cast<int64_t>(r.worst.size()) == std::min<int64_t>(3, r.success_rate.count));
    for (size_t w = 1; w < r.worst.size(); ++w) CHECK(r.worst[w - 1].margin >= r.worst[w].margin);
    if (!r.worst.empty()) {
      CHECK(r.worst[0].margin == Approx(40 * (r.eps - distance(0))).margin(1e-3));
      CHECK(r.worst[0].adv_pred != r.worst[0].label);
      CHECK(r.worst[0].adversarial.sizes() == std::vector<int64_t>{1, 4, 4});
    }
  }
  REQUIRE(audit.curves.size() == 1);
  const auto& points = audit.curves[0].points;
  REQUIRE(points.size() == 4);
  for (size_t i = 1; i < points.size(); ++i) {
    CHECK(points[i - 1].eps < points[i].eps);
    CHECK(points[i].robust_accuracy <= points[i - 1].robust_accuracy);
  }
  // Per-sample records agree with the totals.
  REQUIRE(audit.samples.size() == static_cast<size_t>(kN));
  for (size_t r = 0; r < audit.results.size(); ++r) {
    int64_t robust = 0;
    for (const auto& s : audit.samples) robust += s.outcomes.at(r).correct;
    CHECK(robust == audit.results[r].robust_accuracy.count);
  }
  CHECK(audit.stages.size() == 5);
  CHECK(audit.data_sha256.size() == 64);
}

TEST_CASE("gates pass and fail against the audit's numbers", "[reports]") {
  json c = base_config();
  c["attacks"][0]["eps"] = {"8/255"};
  c["gates"] = json::parse(R"([{"metric": "clean_accuracy", "min": 1.01},
                               {"metric": "clean_accuracy", "min": 0.9, "max": 1.0},
                               {"metric": "success_rate", "attack": "pgd", "max": 0.01}])");
  auto config = mirage::parse_audit_config(c);
  auto data = toy_data();
  auto model = toy_model();
  auto audit = mirage::run_robustness_audit(model, *data, config, 1);
  auto gates = mirage::evaluate_gates(config, audit);
  REQUIRE(gates.size() == 4);
  CHECK_FALSE(gates[0].passed);
  CHECK(gates[0].op == ">=");
  CHECK(gates[0].value == 1.0);
  CHECK(gates[1].passed);
  CHECK(gates[2].passed);
  CHECK(gates[2].op == "<=");
  CHECK_FALSE(gates[3].passed);  // 8/255 breaks the samples nearest the boundary
  CHECK(gates[3].has_eps);
  CHECK_FALSE(mirage::all_passed(gates));
  auto report = mirage::robustness_report_json(audit, config, gates, toy_meta());
  CHECK(report["passed"] == false);
  CHECK(report["gates"][0]["passed"] == false);
}

TEST_CASE("the report matches its schema and mutated reports do not", "[reports]") {
  json c = base_config();
  c["attacks"][0]["eps"] = {"2/255", "8/255"};
  c["attacks"].push_back(json::parse(R"({"name": "autoattack", "eps": ["8/255"],
                                          "params": {"attacks": "apgd-ce,square", "steps": 5, "queries": 20}})"));
  c["declared_eps"] = "8/255";
  c["gates"].push_back({{"metric", "autoattack_accuracy"}, {"min", 0.1}});
  auto config = mirage::parse_audit_config(c);
  auto data = toy_data();
  auto model = toy_model();
  auto audit = mirage::run_robustness_audit(model, *data, config, 2);
  REQUIRE(audit.has_headline);
  CHECK(audit.headline.value == audit.results.back().robust_accuracy.value);
  CHECK(audit.results.back().queries_total > 0);
  auto report = mirage::robustness_report_json(audit, config, mirage::evaluate_gates(config, audit), toy_meta());
  CHECK(report["schema_version"] == "1.0");
  CHECK(report["kind"] == "robustness");
  CHECK(report["headline"]["robust_accuracy"]["value"] == audit.headline.value);
  auto errors = mirage::validate_report(report);
  INFO((errors.empty() ? std::string() : errors.front()));
  CHECK(errors.empty());

  SECTION("a value of the wrong type") {
    report["results"][0]["robust_accuracy"]["value"] = "high";
    auto e = mirage::validate_report(report);
    REQUIRE_FALSE(e.empty());
    CHECK(mentions(e.front(), "$.results[0].robust_accuracy.value"));
  }
  SECTION("a rate out of [0, 1]") {
    report["clean_accuracy"]["value"] = 1.5;
    auto e = mirage::validate_report(report);
    REQUIRE_FALSE(e.empty());
    CHECK(mentions(e.front(), "$.clean_accuracy.value"));
  }
  SECTION("a missing field") {
    report.erase("gates");
    auto e = mirage::validate_report(report);
    REQUIRE(e.size() == 1);
    CHECK(mentions(e.front(), "gates"));
  }
  SECTION("a misspelt top-level field") {
    report["pased"] = true;
    CHECK_FALSE(mirage::validate_report(report).empty());
  }
  SECTION("an unknown schema version or kind") {
    report["schema_version"] = "2.0";
    CHECK_FALSE(mirage::validate_report(report).empty());
    report["kind"] = "detector-audit";
    auto e = mirage::validate_report(report);
    REQUIRE(e.size() == 1);
    CHECK(mentions(e.front(), "$.kind"));
  }
}
