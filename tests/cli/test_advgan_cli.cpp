// mirage train-advgan and mirage attack --attack advgan, run as a user would: the checkpoint the
// first writes drives the second within eps, and bad input is refused with exit 2 and one line.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_util.h"
#include "tests/test_util.h"

using mirage::test::check_refused;
using mirage::test::read_json;
using mirage::test::read_jsonl;
using mirage::test::run_command;
namespace fs = std::filesystem;

namespace {

using mirage::test::mirage_run;

}  // namespace

TEST_CASE("train-advgan writes a checkpoint that attack --advgan uses within eps", "[cli][advgan]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  mirage::test::TempDir dir;
  const std::string model = dir.file("m.pt");
  auto m = mirage_run("train-classifier --out " + model + " --limit 1000 --epochs 1 --seed 3 --quiet");
  INFO(m.out);
  REQUIRE(m.exit_code == 0);

  const std::string ckpt = dir.file("advgan");
  auto t = mirage_run("train-advgan --model " + model + " --eps 0.2 --epochs 2 --limit 512 --batch-size 64 --seed 4 "
                      "--quiet --out " + ckpt);
  INFO(t.out);
  REQUIRE(t.exit_code == 0);
  auto summary = nlohmann::json::parse(t.out);  // stdout is the JSON summary and nothing else
  CHECK(summary["command"] == "train-advgan");
  CHECK(summary["seed"] == 4);
  CHECK(summary["options"]["eps"] == 0.2);
  CHECK(summary["options"]["targeted"] == false);
  CHECK(summary["data"]["trained_on"] == 512);
  CHECK(summary["history"].size() == 2);
  CHECK(summary["result"]["linf"]["max"].get<double>() <= 0.2 + 1e-6);
  CHECK(summary["result"]["train_images_per_second"].get<double>() > 0);
  auto config = read_json(ckpt + "/config.json");
  CHECK(config["kind"] == "advgan");
  CHECK(config["target_model"]["sha256"] == summary["model"]["sha256"]);

  const std::string out = dir.file("adv");
  auto a = mirage_run("attack --model " + model + " --attack advgan --advgan " + ckpt +
                      " --limit 64 --no-images --quiet --out " + out);
  INFO(a.out);
  REQUIRE(a.exit_code == 0);
  auto lines = read_jsonl(out + "/samples.jsonl");
  REQUIRE(lines.size() == 64);
  for (const auto& l : lines) {
    CHECK(l["linf"].get<double>() <= 0.2 + 1e-6);
    CHECK(l["queries"] == 1);
  }
  auto attack_summary = read_json(out + "/summary.json");
  CHECK(attack_summary["attack"]["name"] == "advgan");
  CHECK(attack_summary["attack"]["options"]["checkpoint"] == ckpt);
  CHECK(attack_summary["attack"]["options"]["eps"] == 0.2);
  CHECK(attack_summary["result"]["gradient_calls"] == 0);

  // Refusals that need a real model and checkpoint (no SECTIONs: they would train everything again).
  // An existing --out needs --overwrite.
  check_refused(mirage_run("train-advgan --model " + model + " --epochs 1 --limit 64 --quiet --out " + ckpt), "--overwrite");
  // --advgan belongs to --attack advgan.
  check_refused(mirage_run("attack --model " + model + " --attack pgd --advgan " + ckpt + " --quiet --out " + dir.file("pgd")),
                "--advgan");
}

TEST_CASE("train-advgan and attack --advgan refuse bad input with exit 2 and one line", "[cli][advgan]") {
  mirage::test::TempDir dir;
  SECTION("missing --out") {
    check_refused(mirage_run("train-advgan --model " + dir.file("m.pt") + " --quiet"), "--out");
  }
  SECTION("missing --model") { check_refused(mirage_run("train-advgan --out " + dir.file("ck") + " --quiet"), "--model"); }
  SECTION("a bad --eps") {
    check_refused(mirage_run("train-advgan --model m.pt --eps 2 --out " + dir.file("ck") + " --quiet"), "--eps");
  }
  SECTION("attack advgan without a checkpoint") {
    check_refused(mirage_run("attack --model m.pt --attack advgan --quiet --out " + dir.file("a")), "--advgan");
  }
  SECTION("a folder that is not an AdvGAN checkpoint") {
    const std::string folder = dir.file("not-a-checkpoint");
    fs::create_directories(folder);
    std::ofstream(folder + "/config.json") << "{\"kind\": \"gan\"}";
    auto r = mirage_run("attack --model m.pt --attack advgan --advgan " + folder + " --quiet --out " + dir.file("a"));
    check_refused(r, "not an AdvGAN checkpoint");
    CHECK(r.out.find(folder) != std::string::npos);
    CHECK_FALSE(fs::exists(dir.file("a")));
  }
}
