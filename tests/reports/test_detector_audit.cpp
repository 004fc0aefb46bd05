// The detector audit on a detector whose blind spot is known by construction (it misses every
// fake of class 3): config errors name their field, the overall metrics and the class slice come
// out as built, gates (max_slice_failure_rate with min_n, slice_failure_rate of a named slice)
// pass and fail as they should, and the report matches its schema while mutated ones do not.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "detectors/detector.h"
#include "lib/error.h"
#include "lib/hash.h"
#include "lib/model.h"
#include "reports/audit_config.h"
#include "reports/detector_audit.h"
#include "reports/schema.h"
#include "tests/reports/toy_detector.h"
#include "tests/test_util.h"

using mirage::test::BrightnessDetector;
using mirage::test::message_of;
using nlohmann::json;

namespace {

json quick_config() {
  return json::parse(R"({
    "n": 200, "limit": 200,
    "post_processing": {"jpeg": [], "blur": [1], "resize": [], "noise": [], "crop": []},
    "evasion": {"eps_linf": [], "eps_l2": [], "minimal_norm": false, "square_queries": 0},
    "latent_search": 0, "clusters": 0, "examples": 2, "min_slice": 20,
    "gates": [{"metric": "auc", "min": 0.8}]
  })");
}

std::string config_error(const json& config) {
  return message_of<mirage::UsageError>([&] { mirage::parse_detector_audit_config(config); });
}

bool mentions(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("detector audit config errors name the field", "[reports][detector-audit]") {
  json c = quick_config();
  SECTION("an unknown top-level field") {
    c["latent_serach"] = 4;
    CHECK(mentions(config_error(c), "config.latent_serach: unknown field"));
  }
  SECTION("an unknown nested field") {
    c["evasion"]["pgd_step"] = 3;
    CHECK(mentions(config_error(c), "config.evasion.pgd_step: unknown field"));
  }
  SECTION("a JPEG quality out of range") {
    c["post_processing"]["jpeg"] = {90, 101};
    CHECK(mentions(config_error(c), "config.post_processing.jpeg[1]"));
  }
  SECTION("a malformed eps") {
    c["evasion"]["eps_linf"] = {"1/255", "two/255"};
    CHECK(mentions(config_error(c), "config.evasion.eps_linf[1]"));
  }
  SECTION("a malformed threshold") {
    c["gates"] = json::parse(R"([{"metric": "auc", "min": 0.9}, {"metric": "eer", "max": 0.1},
                                 {"metric": "max_slice_failure_rate", "max": [0.3]}])");
    CHECK(mentions(config_error(c), "config.gates[2].max: must be a number"));
  }
  SECTION("an unknown metric") {
    c["gates"] = json::parse(R"([{"metric": "aucc", "min": 0.9}])");
    auto e = config_error(c);
    CHECK(mentions(e, "config.gates[0].metric: unknown metric 'aucc'"));
    CHECK(mentions(e, "tpr_at_1pct_fpr"));
  }
  SECTION("a slice gate without its slice") {
    c["gates"] = json::parse(R"([{"metric": "slice_failure_rate", "search": "post-processing", "max": 0.1}])");
    CHECK(mentions(config_error(c), "config.gates[0].slice: missing"));
  }
  SECTION("a whole-detector metric given a slice") {
    c["gates"] = json::parse(R"([{"metric": "auc", "slice": "jpeg", "min": 0.9}])");
    CHECK(mentions(config_error(c), "config.gates[0].slice"));
  }
  SECTION("a count below its minimum") {
    c["evasion"]["pgd_steps"] = 0;
    CHECK(mentions(config_error(c), "config.evasion.pgd_steps: must be >= 1"));
  }
}

TEST_CASE("an empty detector audit config takes the blind-spots defaults", "[reports][detector-audit]") {
  auto c = mirage::parse_detector_audit_config(json::object());
  CHECK(c.n == 1000);
  CHECK(c.limit == 1000);
  CHECK(c.options.latent_search.n == 64);
  CHECK(c.options.min_slice == 20);
  CHECK(c.options.jpeg_qualities == std::vector<int>{90, 75, 50, 30});
  CHECK(c.options.evasion_eps_linf.size() == 4);
  CHECK(c.options.evasion_samples == 200);
  CHECK(c.gates.empty());
  auto f = mirage::parse_detector_audit_config(json::parse(R"({"evasion": {"eps_linf": ["2/255"]}})"));
  REQUIRE(f.options.evasion_eps_linf.size() == 1);
  CHECK(f.options.evasion_eps_linf[0] == Approx(2.0 / 255));
}

TEST_CASE("detector audit gates: metrics as built, min_n respected, named slices found", "[reports][detector-audit]") {
  json c = quick_config();
  c["gates"] = json::parse(R"([
    {"metric": "auc", "min": 1.01},
    {"metric": "max_slice_failure_rate", "max": 0.5, "min_n": 50},
    {"metric": "max_slice_failure_rate", "max": 0.5, "min_n": 51},
    {"metric": "slice_failure_rate", "search": "class", "slice": "class", "parameters": {"class": 3}, "max": 0.5},
    {"metric": "slice_failure_rate", "search": "class", "slice": "class", "parameters": {"class": 1.0}, "max": 0.5},
    {"metric": "slice_failure_rate", "search": "post-processing", "slice": "jpeg", "parameters": {"quality": 50}, "max": 1}
  ])");
  auto config = mirage::parse_detector_audit_config(c);
  auto data = mirage::test::toy_detector_data();
  BrightnessDetector det;
  auto audit = mirage::run_detector_audit(det, data, config, {}, 3);
  // Every real and the class-3 fakes score about sigmoid(-4); the other fakes sigmoid(4).
  CHECK(audit.overall.n_fake == 200);
  CHECK(audit.overall.n_real == 200);
  CHECK(audit.overall.tpr == Approx(0.75));
  CHECK(audit.overall.fpr == 0.0);
  CHECK(audit.overall.auc == Approx(0.875).margin(0.05));
  REQUIRE_FALSE(audit.blind_spots.findings.empty());
  const auto& worst = audit.blind_spots.findings.front();
  CHECK(worst.search == "class");
  CHECK(worst.parameters["class"] == 3);
  CHECK(worst.rate == 1.0);

  auto gates = mirage::evaluate_detector_gates(config, audit);
  REQUIRE(gates.size() == 6);
  CHECK_FALSE(gates[0].passed);
  // The class-3 slice (n 50, all missed) counts at min_n 50, not at 51, where the worst left
  // is a 200-fake slice missing a quarter.
  CHECK(gates[1].value == 1.0);
  CHECK_FALSE(gates[1].passed);
  CHECK(gates[1].finding_rank == 1);
  CHECK(gates[2].value == Approx(0.25));
  CHECK(gates[2].passed);
  CHECK(gates[3].value == 1.0);
  CHECK_FALSE(gates[3].passed);
  CHECK(gates[4].found);
  CHECK(gates[4].value == 0.0);
  CHECK(gates[4].passed);
  // No JPEG was swept (no codec given): a gate on it cannot pass.
  CHECK_FALSE(gates[5].found);
  CHECK_FALSE(gates[5].passed);
  CHECK_FALSE(mirage::all_passed(gates));
}

TEST_CASE("the detector report matches its schema and mutated reports do not", "[reports][detector-audit]") {
  auto config = mirage::parse_detector_audit_config(quick_config());
  auto data = mirage::test::toy_detector_data();
  BrightnessDetector det;
  auto audit = mirage::run_detector_audit(det, data, config, {}, 3);
  auto gates = mirage::evaluate_detector_gates(config, audit);
  auto report = mirage::detector_report_json(audit, data, config, gates, mirage::test::toy_detector_meta());
  CHECK(report["schema_version"] == "1.0");
  CHECK(report["kind"] == "detector");
  CHECK(report["passed"] == true);
  CHECK(report["config"] == quick_config());
  REQUIRE(report["findings"].size() == audit.blind_spots.findings.size());
  const auto& top = report["findings"][0];
  CHECK(top["rank"] == 1);
  CHECK(top["severity"] == audit.blind_spots.findings[0].ci_low);
  // The worst class slice's examples carry the command that regenerates each fake.
  REQUIRE_FALSE(top["examples"].empty());
  CHECK(mentions(top["examples"][0]["reproduce"], "mirage generate --gan runs/gan --latent-seeds "));
  CHECK(mentions(top["reproduce"], "mirage blind-spots --detector toy.pt --fake runs/gan --real reals/ --seed 7"));
  for (const auto& f : report["findings"]) {
    if (f["slice"] == "blur") CHECK(mentions(f["reproduce"], "--blur 1 --resize none"));
  }
  auto errors = mirage::validate_report(report);
  INFO((errors.empty() ? std::string() : errors.front()));
  CHECK(errors.empty());

  SECTION("a metric out of [0, 1]") {
    report["overall"]["auc"] = 1.2;
    auto e = mirage::validate_report(report);
    REQUIRE_FALSE(e.empty());
    CHECK(mentions(e.front(), "$.overall.auc"));
  }
  SECTION("a finding without its severity") {
    report["findings"][0].erase("severity");
    auto e = mirage::validate_report(report);
    REQUIRE_FALSE(e.empty());
    CHECK(mentions(e.front(), "findings[0]"));
  }
  SECTION("a gate with an unknown metric") {
    report["gates"][0]["metric"] = "aucc";
    CHECK_FALSE(mirage::validate_report(report).empty());
  }
  SECTION("a robustness report's kind on a detector report") {
    report["kind"] = "robustness";
    CHECK_FALSE(mirage::validate_report(report).empty());
  }
}
