// mirage audit robustness and mirage report validate, run as a CI job would: a report that
// validates, exit 1 on a failed gate (the report still written), exit 2 with the field named for
// a bad config, and an existing report left alone by a run that fails.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_util.h"
#include "tests/test_util.h"

using mirage::test::read_json;
using mirage::test::run_command;
namespace fs = std::filesystem;

namespace {

using mirage::test::mirage_run;

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

// A tiny Fashion-MNIST classifier, trained once for every test case of this file.
std::string tiny_model() {
  static mirage::test::TempDir dir;
  static std::string path;
  if (path.empty()) {
    std::string p = dir.file("tiny.pt");
    mirage::test::require_ok(mirage_run("train-classifier --out " + p +
                                        " --limit 512 --epochs 1 --filters 8 --hidden 32 --seed 4 --quiet --threads 1"));
    path = p;
  }
  return path;
}

// The tiny model is barely trained (about 12% accurate): the passing gate is min 0, the failing one
// min 1.01, which no model passes.
const char* kConfig = R"({
  "attacks": [{"name": "pgd", "norm": "linf", "eps": ["4/255", "1/255"], "params": {"steps": 3}}],
  "limit": 64, "batch_size": 32, "worst_k": 2,
  "gates": [{"metric": "clean_accuracy", "min": %MIN%}]
})";

// `text` with its one `key` (e.g. "%MIN%") replaced by `value`.
std::string fill_in(std::string text, const std::string& key, const std::string& value) {
  text.replace(text.find(key), key.size(), value);
  return text;
}

std::string config_with_min(const std::string& min) { return fill_in(kConfig, "%MIN%", min); }

}  // namespace

TEST_CASE("audit robustness writes a report that validates, a failed gate exits 1", "[cli][audit]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  mirage::test::TempDir dir;
  const std::string model = tiny_model();
  const std::string report = dir.file("report.json");
  const std::string args = "audit robustness --model " + model + " --quiet --threads 1 --seed 3 --out " + report;

  write_text(dir.file("pass.json"), config_with_min("0"));
  auto r = mirage_run(args + " --config " + dir.file("pass.json") + " --images " + dir.file("worst"));
  mirage::test::require_ok(r);
  auto j = read_json(report);
  CHECK(j["schema_version"] == "1.0");
  CHECK(j["kind"] == "robustness");
  CHECK(j["passed"] == true);
  CHECK(j["data"]["n"] == 64);
  CHECK(j["model"]["sha256"].get<std::string>().size() == 64);
  CHECK(j["reproducibility"]["seed"] == 3);
  REQUIRE(j["results"].size() == 2);
  const double clean = j["clean_accuracy"]["value"];
  for (const auto& res : j["results"]) CHECK(res["robust_accuracy"]["value"].get<double>() <= clean);
  // The curve is sorted by eps and never rises.
  const auto& points = j["curves"][0]["points"];
  REQUIRE(points.size() == 2);
  CHECK(points[0]["eps_text"] == "1/255");
  CHECK(points[1]["robust_accuracy"].get<double>() <= points[0]["robust_accuracy"].get<double>());
  // Every worst example's PNG pair exists.
  for (const auto& res : j["results"]) {
    for (const auto& w : res["worst"]) {
      CHECK(fs::exists(w["images"]["clean"].get<std::string>()));
      CHECK(fs::exists(w["images"]["adversarial"].get<std::string>()));
    }
  }
  auto v = mirage_run("report validate " + report);
  INFO(v.out);
  CHECK(v.exit_code == 0);
  CHECK(v.out.find("valid robustness report") != std::string::npos);

  // A gate no model can pass: exit 1, the report is still written and says why.
  write_text(dir.file("fail.json"), config_with_min("1.01"));
  r = mirage_run(args + " --config " + dir.file("fail.json"));
  INFO(r.out);
  CHECK(r.exit_code == 1);
  j = read_json(report);
  CHECK(j["passed"] == false);
  CHECK(j["gates"][0]["passed"] == false);
  CHECK(j["gates"][0]["threshold"] == 1.01);
}

TEST_CASE("report validate rejects a mutated report with the path of the error", "[cli][audit]") {
  mirage::test::TempDir dir;
  nlohmann::json bad = {{"schema_version", "1.0"}, {"kind", "robustness"}};
  write_text(dir.file("bad.json"), bad.dump());
  auto r = mirage_run("report validate " + dir.file("bad.json"));
  INFO(r.out);
  CHECK(r.exit_code == 2);
  CHECK(r.out.rfind(dir.file("bad.json") + ": invalid robustness report", 0) == 0);  // the summary comes first
  CHECK(r.out.find("results") != std::string::npos);
  write_text(dir.file("not.json"), "{");
  mirage::test::check_refused(mirage_run("report validate " + dir.file("not.json")), "not valid JSON");
}

TEST_CASE("audit robustness refuses bad configs naming the field, and keeps an existing report", "[cli][audit]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  mirage::test::TempDir dir;
  const std::string model = tiny_model();
  const std::string report = dir.file("report.json");
  write_text(report, "{\"kept\": true}\n");
  const std::string args = "audit robustness --model " + model + " --quiet --threads 1 --out " + report;

  write_text(dir.file("typo.json"), R"({"attacks": [{"name": "pgd", "eps": ["1/255"]}, {"name": "pdg", "eps": ["1/255"]}]})");
  mirage::test::check_refused(mirage_run(args + " --config " + dir.file("typo.json")), "config.attacks[1].name");
  write_text(dir.file("gate.json"),
             R"({"attacks": [{"name": "pgd", "eps": ["1/255"]}], "gates": [{"metric": "robust_accuracy", "attack": "fgsm", "min": 0.5}]})");
  mirage::test::check_refused(mirage_run(args + " --config " + dir.file("gate.json")), "config.gates[0].attack");
  mirage::test::check_refused(mirage_run(args + " --config " + dir.file("missing.json")), "missing.json");
  // A run that fails after the config is read (its data cannot be opened) leaves the report.
  write_text(dir.file("ok.json"), config_with_min("0"));
  mirage::test::check_refused(mirage_run(args + " --config " + dir.file("ok.json") + " --data " + dir.file("nowhere")),
                              "nowhere");
  CHECK(read_json(report) == nlohmann::json{{"kept", true}});

  auto help = mirage_run("audit --help");
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("robustness") != std::string::npos);
  auto detector = mirage_run("audit detector");
  CHECK(detector.exit_code == 2);
  CHECK(detector.out.find("--detector is required") != std::string::npos);
}

namespace {

// A DCGAN trained 30 tiny steps and a small CNN detector of its fakes, once for this file.
struct TinyDetector {
  std::string gan, detector;
};

const TinyDetector& tiny_detector() {
  static mirage::test::TempDir dir;
  static TinyDetector made;
  if (made.detector.empty()) {
    made.gan = mirage::test::tiny_gan(30, 512, 32);
    const std::string det = dir.file("det.pt");
    mirage::test::require_ok(mirage_run("train-detector --kind cnn --fake " + made.gan +
                                        " --limit 600 --epochs 2 --width 8 --seed 3 --quiet --threads 1 --out " + det));
    made.detector = det;
  }
  return made;
}

// Small grids; %GATES% is replaced by the gate list.
const char* kDetectorConfig = R"({
  "n": 100, "limit": 100,
  "post_processing": {"jpeg": [50], "blur": [1], "resize": [0.5], "noise": [0.1], "crop": [0.75]},
  "evasion": {"eps_linf": ["2/255"], "eps_l2": [0.5], "samples": 16, "pgd_steps": 3, "square_queries": 20,
              "minimal_norm": false},
  "latent_search": 4, "search_steps": 3, "clusters": 2, "examples": 2, "min_slice": 4,
  "gates": %GATES%
})";

std::string detector_config(const std::string& gates) { return fill_in(kDetectorConfig, "%GATES%", gates); }

}  // namespace

TEST_CASE("audit detector writes a report that validates, a failed gate exits 1, a bad config exits 2", "[cli][audit]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  mirage::test::TempDir dir;
  const auto& tiny = tiny_detector();
  const std::string report = dir.file("blindspots.json");
  const std::string args = "audit detector --detector " + tiny.detector + " --fake gan=" + tiny.gan +
                           " --real fashion-mnist:test --quiet --threads 1 --seed 6 --out " + report;

  write_text(dir.file("pass.json"), detector_config(R"([{"metric": "auc", "min": 0},
      {"metric": "max_slice_failure_rate", "max": 1, "min_n": 50}])"));
  auto r = mirage_run(args + " --config " + dir.file("pass.json") + " --images " + dir.file("examples"));
  mirage::test::require_ok(r);
  auto j = read_json(report);
  CHECK(j["kind"] == "detector");
  CHECK(j["schema_version"] == "1.0");
  CHECK(j["passed"] == true);
  CHECK(j["overall"]["n_fake"] == 100);
  CHECK(j["overall"]["n_real"] == 100);
  CHECK(j["detector"]["sha256"].get<std::string>().size() == 64);
  CHECK(j["reproducibility"]["seed"] == 6);
  const auto& findings = j["findings"];
  REQUIRE(findings.size() >= 5);
  std::set<std::string> searches;
  double prev = 2;
  for (size_t i = 0; i < findings.size(); ++i) {
    const auto& f = findings[i];
    searches.insert(f["search"].get<std::string>());
    CHECK(f["rank"].get<size_t>() == i + 1);
    CHECK(f["severity"].get<double>() <= prev + 1e-12);  // worst first, by the Wilson lower bound
    prev = f["severity"].get<double>();
    CHECK(f["reproduce"].get<std::string>().rfind("mirage blind-spots --detector " + tiny.detector, 0) == 0);
    for (const auto& e : f["examples"]) {
      if (e.contains("image")) CHECK(fs::exists(e["image"].get<std::string>()));
    }
  }
  CHECK(searches.count("post-processing") == 1);
  CHECK(searches.count("evasion") == 1);
  CHECK(searches.count("latent-search") == 1);
  auto v = mirage_run("report validate " + report);
  INFO(v.out);
  CHECK(v.exit_code == 0);
  CHECK(v.out.find("valid detector report") != std::string::npos);

  // Gates no detector can pass: exit 1, the report still written and marked failed.
  write_text(dir.file("fail.json"), detector_config(R"([{"metric": "auc", "min": 1.01},
      {"metric": "max_slice_failure_rate", "max": 1}])"));
  r = mirage_run(args + " --config " + dir.file("fail.json"));
  INFO(r.out);
  CHECK(r.exit_code == 1);
  j = read_json(report);
  CHECK(j["passed"] == false);
  CHECK(j["gates"][0]["passed"] == false);
  CHECK(j["gates"][0]["threshold"] == 1.01);
  CHECK(j["gates"][1]["passed"] == true);

  // A malformed threshold: exit 2 naming the field, the report left as it was.
  write_text(dir.file("bad.json"), detector_config(R"([{"metric": "auc", "min": 0.9}, {"metric": "eer", "max": 0.2},
      {"metric": "max_slice_failure_rate", "max": "lots"}])"));
  mirage::test::check_refused(mirage_run(args + " --config " + dir.file("bad.json")), "config.gates[2].max");
  write_text(dir.file("typo.json"), R"({"evasion": {"pgd_step": 3}})");
  mirage::test::check_refused(mirage_run(args + " --config " + dir.file("typo.json")), "config.evasion.pgd_step");
  CHECK(read_json(report)["passed"] == false);
}

namespace {

// `report` without what legitimately differs between runs of one audit: when and how it ran,
// which shard it was, and where its example images went.
nlohmann::json comparable(nlohmann::json report) {
  for (const char* key : {"reproducibility", "timing", "shard", "merged_from"}) report.erase(key);
  for (auto& res : report["results"]) {
    res.erase("seconds");  // a merged result's time is its shards' total
    for (auto& w : res["worst"]) w.erase("images");
  }
  return report;
}

// 64 samples in batches of 16 (4 batches), PGD with a random start and Square (random, counted
// queries): shard boundaries and per-batch seeds both matter.
const char* kShardConfig = R"({
  "attacks": [{"name": "pgd", "norm": "linf", "eps": ["8/255", "2/255"], "params": {"steps": 3, "random_start": true}},
              {"name": "square", "eps": ["8/255"], "params": {"queries": 30}}],
  "limit": 64, "batch_size": 16, "worst_k": 3,
  "gates": [{"metric": "clean_accuracy", "min": 0}]
})";

}  // namespace

TEST_CASE("audit renderings: Markdown, well-formed JUnit with the failed gate, self-contained HTML", "[cli][audit][render]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  mirage::test::TempDir dir;
  const std::string model = tiny_model();
  // One gate passes, one cannot.
  write_text(dir.file("audit.json"), fill_in(kConfig, "%MIN%", "0}, {\"metric\": \"robust_accuracy\", \"attack\": \"pgd\", \"eps\": \"1/255\", \"min\": 1.01"));
  auto r = mirage_run("audit robustness --model " + model + " --quiet --threads 1 --seed 3 --config " + dir.file("audit.json") +
                      " --out " + dir.file("r.json") + " --images " + dir.file("worst") + " --markdown " + dir.file("r.md") +
                      " --junit " + dir.file("r.xml") + " --html " + dir.file("r.html"));
  INFO(r.out);
  REQUIRE(r.exit_code == 1);
  const std::string md = mirage::test::read_bytes(dir.file("r.md"));
  CHECK(md.find("FAILED") != std::string::npos);
  CHECK(md.find("| `robust_accuracy` | pgd eps=1/255 |") != std::string::npos);
  const std::string html = mirage::test::read_bytes(dir.file("r.html"));
  CHECK(html.find("<svg") != std::string::npos);
  // (the tiny model breaks no sample, so there are no worst images here; tests/reports inlines them)
  CHECK(html.find("http://") == std::string::npos);
  CHECK(html.find("https://") == std::string::npos);
  if (mirage::test::python_has_torch()) {  // any Debian python3 parses XML; this one is known to be there
    auto p = run_command(std::string(MIRAGE_PYTHON) +
                         " -c \"import sys, xml.etree.ElementTree as E; s = E.parse(sys.argv[1]).getroot().find('testsuite');"
                         " print(s.get('tests'), s.get('failures'), len(s.findall('testcase/failure')))\" " +
                         dir.file("r.xml"));
    INFO(p.out);
    CHECK(p.exit_code == 0);
    CHECK(p.out == "2 1 1\n");
  }
  // report render gives the same Markdown from the written report.
  auto again = mirage_run("report render " + dir.file("r.json") + " --markdown -");
  CHECK(again.exit_code == 0);
  CHECK(again.out == md);
  mirage::test::check_refused(mirage_run("report render " + dir.file("r.json")), "--markdown");
}

TEST_CASE("audit robustness --shard I/N and report merge give the unsharded report", "[cli][audit][merge]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  mirage::test::TempDir dir;
  const std::string model = tiny_model();
  write_text(dir.file("audit.json"), kShardConfig);
  const std::string args =
      "audit robustness --model " + model + " --quiet --threads 1 --seed 5 --config " + dir.file("audit.json");
  mirage::test::require_ok(mirage_run(args + " --out " + dir.file("full.json")));
  std::string shards;
  for (int i = 1; i <= 3; ++i) {
    const std::string out = dir.file("shard-" + std::to_string(i) + ".json");
    mirage::test::require_ok(mirage_run(args + " --shard " + std::to_string(i) + "/3 --out " + out));
    shards = out + " " + shards;  // given out of order on purpose
  }
  auto r = mirage_run("report merge " + shards + "--out " + dir.file("merged.json"));
  mirage::test::require_ok(r);
  auto full = read_json(dir.file("full.json")), merged = read_json(dir.file("merged.json"));
  CHECK(merged["merged_from"].size() == 3);
  CHECK(merged["data"]["n"] == 64);
  CHECK(comparable(merged) == comparable(full));
  CHECK(mirage_run("report validate " + dir.file("merged.json")).exit_code == 0);
  CHECK(mirage_run("report diff " + dir.file("full.json") + " " + dir.file("merged.json") + " --max-drop 0").exit_code == 0);

  // Shards that do not belong together: another seed, a missing shard, a repeated one, a
  // schema-invalid file; each exits 2 naming it, and the merged report is left as it was.
  mirage::test::require_ok(mirage_run(
      "audit robustness --model " + model + " --quiet --threads 1 --seed 6 --config " + dir.file("audit.json") +
      " --shard 3/3 --out " + dir.file("other-seed.json")));
  const std::string s1 = dir.file("shard-1.json"), s2 = dir.file("shard-2.json");
  const std::string to = " --out " + dir.file("merged.json");
  mirage::test::check_refused(mirage_run("report merge " + s1 + " " + s2 + " " + dir.file("other-seed.json") + to),
                              "other-seed.json");
  mirage::test::check_refused(mirage_run("report merge " + s1 + " " + s2 + to), "3/3");
  mirage::test::check_refused(mirage_run("report merge " + s1 + " " + s2 + " " + s2 + to), "shard-2.json");
  auto broken = read_json(dir.file("shard-3.json"));
  broken["results"][0].erase("robust_accuracy");
  write_text(dir.file("broken.json"), broken.dump());
  mirage::test::check_refused(mirage_run("report merge " + s1 + " " + s2 + " " + dir.file("broken.json") + to),
                              "broken.json");
  CHECK(comparable(read_json(dir.file("merged.json"))) == comparable(full));
  mirage::test::check_refused(mirage_run(args + " --shard 5/4 --out " + dir.file("x.json")), "--shard");
  mirage::test::check_refused(mirage_run(args + " --shard 1/5 --out " + dir.file("x.json")), "--shard");
}

TEST_CASE("report diff finds an injected regression and gates on it with --max-drop", "[cli][audit][diff]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  mirage::test::TempDir dir;
  const std::string model = tiny_model();
  write_text(dir.file("audit.json"), config_with_min("0"));
  const std::string old_report = dir.file("old.json");
  mirage::test::require_ok(mirage_run("audit robustness --model " + model + " --quiet --threads 1 --seed 3 --config " +
                                      dir.file("audit.json") + " --out " + old_report));
  // The same audit with one robust accuracy 0.05 lower (the count and interval follow it).
  auto j = read_json(old_report);
  auto& acc = j["results"][0]["robust_accuracy"];
  REQUIRE(acc["count"].get<int64_t>() >= 4);
  acc["count"] = acc["count"].get<int64_t>() - 4;  // 4 of 64 samples: 0.0625
  acc["value"] = acc["value"].get<double>() - 0.0625;
  acc["ci95"][0] = std::max(0.0, acc["ci95"][0].get<double>() - 0.0625);
  const std::string new_report = dir.file("new.json");
  write_text(new_report, j.dump());

  auto same = mirage_run("report diff " + old_report + " " + old_report + " --max-drop 0.02");
  INFO(same.out);
  CHECK(same.exit_code == 0);
  auto r = mirage_run("report diff " + old_report + " " + new_report + " --max-drop 0.02 --markdown " + dir.file("d.md") +
                      " --json " + dir.file("d.json"));
  INFO(r.out);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("REGRESSION") != std::string::npos);
  CHECK(mirage::test::read_bytes(dir.file("d.md")).find("REGRESSION") != std::string::npos);
  CHECK(read_json(dir.file("d.json"))["regressed"] == true);
  CHECK(mirage_run("report diff " + old_report + " " + new_report + " --max-drop 0.1").exit_code == 0);
  CHECK(mirage_run("report diff " + old_report + " " + new_report).exit_code == 0);  // report only

  j["results"][0].erase("success_rate");
  write_text(dir.file("invalid.json"), j.dump());
  mirage::test::check_refused(mirage_run("report diff " + old_report + " " + dir.file("invalid.json")), "invalid.json");
  mirage::test::check_refused(mirage_run("report diff " + old_report + " " + new_report + " --max-drop 2"), "--max-drop");
}
