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

namespace {

// One thread: the suite shares 2 cores with others, where LibTorch's threads only contend.
mirage::test::CommandResult run1(const std::string& args) { return mirage_run(args + " --threads 1"); }

const mirage::test::TempDir& resume_dir() {
  static mirage::test::TempDir dir;
  return dir;
}

// A quickly trained classifier, and AdvGAN's training flags but --epochs and --out.
const std::string& resume_classifier() {
  static const std::string model = [] {
    const std::string m = resume_dir().file("m.pt");
    auto r = run1("train-classifier --out " + m + " --limit 512 --epochs 1 --seed 3 --quiet");
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    return m;
  }();
  return model;
}
const std::string kAdvTiny = " --eps 0.2 --limit 256 --batch-size 64 --seed 4 --quiet";

nlohmann::json train_advgan_run(const std::string& args) {
  auto r = run1("train-advgan " + args);
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.out);
}

// samples.jsonl of attacking 64 test images with the checkpoint.
std::vector<nlohmann::json> attack_with(const std::string& ckpt, const std::string& out) {
  auto a = run1("attack --model " + resume_classifier() + " --attack advgan --advgan " + ckpt +
                " --limit 64 --no-images --quiet --out " + out);
  INFO(a.out);
  REQUIRE(a.exit_code == 0);
  return read_jsonl(out + "/samples.jsonl");
}

}  // namespace

TEST_CASE("train-advgan resumed from its epoch-1 checkpoint ends exactly where an uninterrupted run does",
          "[cli][advgan]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  const std::string& m = resume_classifier();
  static const std::string straight = resume_dir().file("straight");
  static const nlohmann::json want =
      train_advgan_run("--model " + m + " --epochs 2" + kAdvTiny + " --out " + straight);
  static const std::string half = [&] {
    const std::string h = resume_dir().file("half");
    train_advgan_run("--model " + m + " --epochs 1" + kAdvTiny + " --out " + h);
    return h;
  }();
  REQUIRE(fs::exists(half + "/state.pt"));
  static const auto want_adv = attack_with(straight, resume_dir().file("attack-straight"));

  auto check_same_as_uninterrupted = [&](const std::string& resumed, const nlohmann::json& got) {
    CHECK(got["resumed"] == true);
    CHECK(got["resumed_epochs"] == 1);
    CHECK(got["seed"] == 4);
    REQUIRE(got["history"].size() == 2);
    for (size_t i = 0; i < 2; ++i) {
      INFO("epoch " << i + 1);
      for (const char* key : {"epoch", "loss_d", "loss_gan", "loss_adv", "loss_hinge", "success_rate"}) {
        INFO(key);
        CHECK(got["history"][i][key] == want["history"][i][key]);  // exactly: the same arithmetic
      }
    }
    for (const char* key : {"success_rate", "counted", "linf", "l2_mean"}) {
      INFO(key);
      CHECK(got["result"][key] == want["result"][key]);
    }
    // The generators make the same adversarial images.
    auto adv = attack_with(resumed, resumed + "-attack");
    REQUIRE(adv.size() == want_adv.size());
    for (size_t i = 0; i < adv.size(); ++i) {
      INFO("sample " << i);
      CHECK(adv[i]["linf"] == want_adv[i]["linf"]);
      CHECK(adv[i]["l2"] == want_adv[i]["l2"]);
      CHECK(adv[i]["adv_pred"] == want_adv[i]["adv_pred"]);
    }
  };

  SECTION("resumed with the training flags repeated") {
    const std::string b = resume_dir().file("b-flags");
    fs::copy(half, b, fs::copy_options::recursive);
    check_same_as_uninterrupted(b, train_advgan_run("--model " + m + " --epochs 2" + kAdvTiny + " --resume --out " + b));
  }
  SECTION("resumed with --epochs alone (model, data, limit, seed and options from the checkpoint)") {
    const std::string b = resume_dir().file("b-plain");
    fs::copy(half, b, fs::copy_options::recursive);
    check_same_as_uninterrupted(b, train_advgan_run("--out " + b + " --resume --epochs 2 --quiet"));
  }
  SECTION("a flag that contradicts the checkpoint, or a folder without one, is refused") {
    const std::string b = resume_dir().file("b-refused");
    fs::copy(half, b, fs::copy_options::recursive);
    check_refused(run1("train-advgan --out " + b + " --resume --epochs 2 --eps 0.3 --quiet"), "options.eps");
    check_refused(run1("train-advgan --out " + b + " --resume --epochs 2 --limit 128 --quiet"), "data.samples");
    fs::create_directories(resume_dir().file("empty"));
    check_refused(run1("train-advgan --out " + resume_dir().file("empty") + " --resume --epochs 2 --quiet"),
                  "checkpoint");
  }
}
