// Sharded robustness audits: the shards of an audit, merged, are exactly the unsharded audit's
// report (attacks that draw random numbers, an uneven last batch, worst examples, gates, the
// headline); reports that are not the shards of one audit are refused naming file and field;
// --shard is parsed strictly and never splits a batch.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <string>
#include <vector>

#include "lib/error.h"
#include "reports/audit_config.h"
#include "reports/gates.h"
#include "reports/merge.h"
#include "reports/report_json.h"
#include "reports/robustness_audit.h"
#include "reports/schema.h"
#include "tests/reports/toy_audit.h"
#include "tests/test_util.h"

using mirage::test::message_of;
using nlohmann::json;

namespace {

constexpr uint64_t kSeed = 11;

// Every attack here draws random numbers that show in the records: PGD's random start with too
// few steps to forget it (linf, l2), Square's windows with a small budget (queries, norms), and
// AutoAttack's members. 64 samples in batches of 10: 7 batches, the last of 4; shard 3/3 gets 3.
json merge_config() {
  return json::parse(R"({
    "attacks": [
      {"name": "pgd", "norm": "linf", "eps": ["4/255", "8/255"],
       "params": {"steps": 3, "alpha": 0.008, "random_start": true}},
      {"name": "square", "norm": "linf", "eps": ["8/255"], "params": {"queries": 25}},
      {"name": "autoattack", "eps": ["8/255"], "params": {"attacks": "apgd-ce,square", "steps": 3, "queries": 10}}
    ],
    "limit": 64, "batch_size": 10, "worst_k": 3, "declared_eps": "8/255",
    "gates": [{"metric": "robust_accuracy", "attack": "pgd", "eps": "8/255", "min": 0.3},
              {"metric": "clean_accuracy", "min": 0.85},
              {"metric": "autoattack_accuracy", "max": 0.99}]
  })");
}

json run_report(const mirage::Shard& shard, uint64_t seed = kSeed, const std::string& images_dir = "") {
  auto config = mirage::parse_audit_config(merge_config());
  auto data = mirage::test::toy_data();
  auto model = mirage::test::toy_model();
  auto audit = mirage::run_robustness_audit(model, *data, config, seed, {}, shard);
  auto meta = mirage::test::toy_meta();
  meta.seed = seed;
  meta.images_dir = images_dir;
  // Through text and back, as shards reach the merge from files.
  return json::parse(mirage::robustness_report_json(audit, config, mirage::evaluate_gates(config, audit), meta).dump());
}

// The unsharded report and the three shard reports, computed once for every test case here.
const json& whole_report() {
  static const json report = run_report({});
  return report;
}
const std::vector<json>& shard_reports() {
  static const std::vector<json> reports = {run_report({1, 3}, kSeed, "imgs"), run_report({2, 3}, kSeed, "imgs"),
                                            run_report({3, 3}, kSeed, "imgs")};
  return reports;
}
const std::vector<std::string> kNames = {"a.json", "b.json", "c.json"};

// What may differ between runs of the same audit: when and where it ran (the results' seconds
// too), what it was merged from, and image paths.
json comparable(json report) {
  report.erase("reproducibility");
  report.erase("timing");
  report.erase("shard");
  report.erase("merged_from");
  for (auto& r : report["results"]) {
    r.erase("seconds");
    for (auto& w : r["worst"]) w.erase("images");
  }
  return report;
}

bool mentions(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("merged shards 1/3, 2/3, 3/3 are exactly the unsharded report", "[reports][merge]") {
  const json& whole = whole_report();
  const auto& shards = shard_reports();
  REQUIRE(mirage::validate_report(whole).empty());
  CHECK(whole["shard"].is_null());
  // Shards cut at batch boundaries: batches [0,2), [2,4), [4,7) of 10 samples, the last one short.
  CHECK(shards[0]["shard"] == json({{"index", 1}, {"count", 3}, {"first", 0}, {"end", 20}, {"total_n", 64}}));
  CHECK(shards[1]["shard"]["first"] == 20);
  CHECK(shards[2]["shard"]["first"] == 40);
  CHECK(shards[2]["shard"]["end"] == 64);
  CHECK(shards[2]["data"]["n"] == 24);
  for (const auto& s : shards) CHECK(mirage::validate_report(s).empty());

  const json merged = mirage::merge_robustness_reports(shards, kNames);
  const auto errors = mirage::validate_report(merged);
  INFO((errors.empty() ? std::string() : errors.front()));
  CHECK(errors.empty());
  const json expected = comparable(whole), got = comparable(merged);
  const json delta = json::diff(expected, got);  // empty exactly when equal; short to print when not
  INFO(delta.dump().substr(0, 2000));
  CHECK(delta.empty());

  // The comparison is not vacuous: the audit draws random numbers that show in the records, so
  // a batch attacked from another point of the random stream (seeding once per attack x eps, not
  // per batch) would change them; and the worst examples, gates and headline are all present.
  CHECK(comparable(run_report({}, kSeed + 1))["samples"]["results"] != expected["samples"]["results"]);
  for (const auto& r : merged["results"]) CHECK(r["worst"].size() == 3);
  CHECK(merged["gates"].size() == 3);
  CHECK(merged["headline"].is_object());
  CHECK(merged["data"]["n"] == 64);
  CHECK(merged["data"]["sha256"] == whole["data"]["sha256"]);
  CHECK(merged["samples"]["results"][1]["queries"][63] == whole["samples"]["results"][1]["queries"][63]);

  // Worst examples keep the PNG paths their shard wrote, which name the shard.
  const json& w = merged["results"][0]["worst"][0];
  REQUIRE(w.contains("images"));
  CHECK(mentions(w["images"]["clean"].get<std::string>(), "imgs/shard0"));
  // Shard 1's record of the runs, and where the merge came from.
  CHECK(merged["reproducibility"]["seed"] == kSeed);
  CHECK(merged["merged_from"] ==
        json::parse(R"([{"file": "a.json", "shard": "1/3"}, {"file": "b.json", "shard": "2/3"},
                        {"file": "c.json", "shard": "3/3"}])"));
  // Stages add up: the merged clean pass took the three shards' seconds together.
  double clean = 0;
  for (const auto& s : shards) clean += s["timing"]["stages"][0]["seconds"].get<double>();
  CHECK(merged["timing"]["stages"][0]["seconds"].get<double>() == Approx(clean));

  // Order does not matter.
  const json reversed = mirage::merge_robustness_reports({shards[2], shards[0], shards[1]}, {"c.json", "a.json", "b.json"});
  CHECK(comparable(reversed) == expected);
}

TEST_CASE("a report read back rebuilds its audit", "[reports][merge]") {
  const json& whole = whole_report();
  auto audit = mirage::audit_from_report(whole, "whole.json");
  auto config = mirage::parse_audit_config(whole["config"]);
  auto again = mirage::robustness_report_json(audit, config, mirage::evaluate_gates(config, audit),
                                              mirage::test::toy_meta());
  CHECK(comparable(again) == comparable(whole));
  REQUIRE(audit.samples.size() == 64);
  CHECK(audit.samples[5].outcomes.size() == 4);

  SECTION("a samples column of the wrong length") {
    json bad = whole;
    bad["samples"]["results"][2]["linf"].erase(0);
    auto m = message_of<mirage::InputError>([&] { mirage::audit_from_report(bad, "whole.json"); });
    CHECK(mentions(m, "whole.json"));
    CHECK(mentions(m, "samples.results[2].linf"));
  }
}

TEST_CASE("reports that are not the shards of one audit are refused", "[reports][merge]") {
  std::vector<json> s = shard_reports();
  auto usage = [&](const std::vector<json>& reports, const std::vector<std::string>& names) {
    return message_of<mirage::UsageError>([&] { mirage::merge_robustness_reports(reports, names); });
  };
  SECTION("another seed") {
    s[1]["reproducibility"]["seed"] = kSeed + 1;
    auto m = usage(s, kNames);
    CHECK(mentions(m, "b.json: shards do not belong together: reproducibility.seed differs from a.json"));
  }
  SECTION("another config") {
    s[2]["config"]["worst_k"] = 2;
    auto m = usage(s, kNames);
    CHECK(mentions(m, "c.json"));
    CHECK(mentions(m, "config differs"));
  }
  SECTION("another model") {
    s[2]["model"]["sha256"] = std::string(64, 'f');
    CHECK(mentions(usage(s, kNames), "c.json: shards do not belong together: model.sha256 differs from a.json"));
  }
  SECTION("another shard count") {
    s[1]["shard"]["count"] = 4;
    CHECK(mentions(usage(s, kNames), "b.json: shards do not belong together: shard.count"));
  }
  SECTION("a shard given twice") {
    auto m = usage({s[0], s[1], s[1]}, kNames);
    CHECK(mentions(m, "c.json"));
    CHECK(mentions(m, "shard 2/3 is given twice (also b.json)"));
  }
  SECTION("a shard missing") {
    auto m = usage({s[0], s[2]}, {"a.json", "c.json"});
    CHECK(mentions(m, "shard 2/3 is missing"));
  }
  SECTION("an unsharded report") {
    auto m = usage({whole_report(), s[1], s[2]}, kNames);
    CHECK(mentions(m, "a.json is not a shard report"));
  }
  SECTION("a report that breaks the schema") {
    s[1]["data"]["n"] = "twenty";
    auto m = message_of<mirage::InputError>([&] { mirage::merge_robustness_reports(s, kNames); });
    CHECK(mentions(m, "b.json: not a valid robustness report: $.data.n"));
  }
  SECTION("samples edited after the run") {
    s[1]["samples"]["label"][0] = 1 - s[1]["samples"]["label"][0].get<int>();
    auto m = message_of<mirage::InputError>([&] { mirage::merge_robustness_reports(s, kNames); });
    CHECK(mentions(m, "b.json: data.sha256"));
  }
}

TEST_CASE("shards are I/N with 1 <= I <= N and never split a batch", "[reports][merge]") {
  SECTION("accepted") {
    auto s = mirage::parse_shard("2/4");
    CHECK(s.index == 2);
    CHECK(s.count == 4);
    CHECK(s.sharded());
    CHECK_FALSE(mirage::parse_shard("1/1").sharded());
    CHECK(mirage::parse_shard("12/12").index == 12);
  }
  SECTION("refused") {
    auto text = GENERATE(as<std::string>{}, "", "3", "0/3", "4/3", "1/0", "-1/3", "1/3x", "a/b", "1/", "/3", " 1/3",
                         "1//3", "1.0/3");
    INFO(text);
    auto m = message_of<mirage::UsageError>([&] { mirage::parse_shard(text); });
    CHECK(m.rfind("--shard: ", 0) == 0);
  }
  SECTION("shards tile the samples at batch boundaries") {
    const int64_t n = GENERATE(1, 7, 64, 100, 129);
    const int64_t batch = GENERATE(1, 10, 32);
    const int64_t nb = (n + batch - 1) / batch;
    for (int64_t count = 1; count <= std::min<int64_t>(nb, 9); ++count) {
      int64_t at = 0;
      for (int64_t index = 1; index <= count; ++index) {
        auto [first, end] = mirage::shard_range(n, batch, {index, count});
        CHECK(first == at);
        CHECK(first % batch == 0);
        CHECK(end > first);  // no empty shard while count <= batches
        at = end;
      }
      CHECK(at == n);
    }
  }
  SECTION("more shards than batches") {
    auto config = mirage::parse_audit_config(merge_config());
    config.batch_size = 16;
    auto data = mirage::test::toy_data();
    auto model = mirage::test::toy_model();
    auto m = message_of<mirage::UsageError>(
        [&] { mirage::run_robustness_audit(model, *data, config, kSeed, {}, mirage::parse_shard("5/8")); });
    CHECK(m == "--shard 5/8: the audit has only 4 batches of 16 samples; use at most 4 shards or a smaller batch_size");
  }
}
