// mirage latent-search, run as a user would: the output folder's files agree with each other and
// with what the search claims, starts regenerate with 'mirage generate', and impossible searches
// (classes on an unconditional GAN, a model of another image size) exit 2 with one line and leave
// no folder. Models are trained for seconds: the properties hold at any quality.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <map>

#include "lib/image/io.h"
#include "tests/cli/cli_util.h"
#include "tests/test_util.h"

using mirage::test::check_refused;
using mirage::test::require_ok;
using mirage::test::read_json;
using mirage::test::read_jsonl;
using mirage::test::run_command;
namespace fs = std::filesystem;

namespace {

mirage::test::CommandResult mirage_run(const std::string& args) { return mirage::test::mirage_run(args + " --threads 1 --quiet"); }

const mirage::test::TempDir& shared_dir() {
  static mirage::test::TempDir dir;
  return dir;
}

// An unconditional DCGAN trained a few tiny steps: 28x28 near-gray fakes whose outputs barely
// move with z, so the searches below run without the distance penalty and with large steps.
const std::string& gan() { return mirage::test::tiny_gan(6, 256, 16); }

// A small classifier trained two quick epochs at 28x28, and one at 32x32 (the wrong size).
const std::string& classifier(int size = 28) {
  static std::map<int, std::string> models;
  auto& path = models[size];
  if (path.empty()) {
    path = shared_dir().file("classifier" + std::to_string(size) + ".pt");
    require_ok(mirage_run("train-classifier --out " + path + " --limit 512 --epochs 2 --filters 8 --hidden 32 --seed 2" +
                          (size != 28 ? " --size " + std::to_string(size) : std::string())));
  }
  return path;
}

bool same_pixels(const std::string& a, const std::string& b) {
  return torch::equal(mirage::read_image(a), mirage::read_image(b));
}

}  // namespace

TEST_CASE("latent-search against a classifier writes found and start images, results and a summary that agree",
          "[cli][latent]") {
  REQUIRE(mirage::test::fashion_mnist_available());
  const std::string out = shared_dir().file("search");
  require_ok(mirage_run("latent-search --gan " + gan() + " --model " + classifier() +
                        " -n 6 --steps 30 --lr 0.3 --lambda-z 0 --seed 4 --out " + out));
  const auto lines = read_jsonl(out + "/results.jsonl");
  REQUIRE(lines.size() == 6);
  CHECK(mirage::test::count_files(out + "/found") == 6);
  CHECK(mirage::test::count_files(out + "/start") == 6);
  int64_t successes = 0;
  for (const auto& line : lines) {
    INFO(line.dump());
    for (const char* key : {"index", "seed", "class", "target_start_pred", "target_pred", "aux_pred", "success", "z_distance",
                            "linf", "l2", "queries"}) {
      REQUIRE(line.contains(key));
    }
    CHECK(line["class"].is_null());    // unconditional GAN
    CHECK(line["aux_pred"].is_null());  // no --aux
    // Unconditional: the label is the target's own prediction on the start.
    CHECK(line["label"] == line["target_start_pred"]);
    const std::string found = out + "/" + line["found"].get<std::string>();
    const std::string start = out + "/" + line["start"].get<std::string>();
    REQUIRE(fs::exists(found));
    REQUIRE(fs::exists(start));
    CHECK(found.find("_seed" + std::to_string(line["seed"].get<uint64_t>()) + ".png") != std::string::npos);
    CHECK(line["queries"].get<int64_t>() >= 1);
    CHECK(line["queries"].get<int64_t>() <= 31);
    if (line["success"].get<bool>()) {
      ++successes;
      CHECK(line["target_pred"] != line["label"]);
      CHECK(line["z_distance"].get<double>() > 0);
      CHECK_FALSE(same_pixels(found, start));
    }
  }
  const auto summary = read_json(out + "/summary.json");
  CHECK(summary["command"] == "latent-search");
  CHECK(summary["mode"] == "classifier");
  CHECK(summary["n"] == 6);
  CHECK(summary["successes"] == successes);
  CHECK(successes >= 1);
  const double rate = summary["rate"]["value"].get<double>();
  CHECK(rate == Approx(successes / 6.0));
  CHECK(summary["rate"]["ci95"][0].get<double>() <= rate);
  CHECK(summary["rate"]["ci95"][1].get<double>() >= rate);
  CHECK(summary["options"]["steps"] == 30);
  CHECK(summary["gan"]["path"].get<std::string>().find("generator.pt") != std::string::npos);
  CHECK(summary["model"]["sha256"].get<std::string>().size() == 64);

  // The starts are what 'mirage generate' draws with the same seed.
  const std::string fakes = shared_dir().file("fakes");
  require_ok(mirage_run("generate --gan " + gan() + " -n 2 --seed 4 --out " + fakes));
  const auto manifest = read_jsonl(fakes + "/manifest.jsonl");
  CHECK(manifest[1]["seed"] == lines[1]["seed"]);
  auto a = mirage::read_image(fakes + "/" + manifest[1]["file"].get<std::string>());
  auto b = mirage::read_image(out + "/" + lines[1]["start"].get<std::string>());
  CHECK((a - b).abs().max().item<float>() <= 1.0f / 255 + 1e-6f);
}

TEST_CASE("latent-search against a detector finds fakes it calls real, with gradients or NES queries", "[cli][latent]") {
  REQUIRE(mirage::test::fashion_mnist_available());
  const std::string det = shared_dir().file("det.pt");
  require_ok(mirage_run("train-detector --kind cnn --fake " + gan() + " --limit 200 --epochs 1 --width 8 --seed 3 --out " + det));
  for (const std::string mode : {"", " --gradient-free --nes-samples 10 --nes-sigma 0.5"}) {
    INFO(mode);
    const std::string out = shared_dir().file(mode.empty() ? "evade" : "evade-nes");
    require_ok(mirage_run("latent-search --gan " + gan() + " --detector " + det + " -n 4 --steps 20 --lr 0.3 --lambda-z 0" +
                          mode + " --seed 5 --out " + out));
    const auto summary = read_json(out + "/summary.json");
    CHECK(summary["mode"] == "detector");
    CHECK(summary["goal"] == "target:0 (real)");
    CHECK(summary["options"]["gradient_free"] == !mode.empty());
    int64_t successes = 0;
    for (const auto& line : read_jsonl(out + "/results.jsonl")) {
      INFO(line.dump());
      CHECK(line["label"] == 1);
      CHECK(line["target"] == 0);
      CHECK(line["success"] == (line["target_pred"] == 0));
      // NES: one query per evaluation plus 2 * 10 per step; the gradient search one per evaluation.
      const int64_t q = line["queries"].get<int64_t>();
      if (mode.empty()) {
        CHECK(q <= 21);
      } else {
        CHECK(q % 21 == 1);
      }
      successes += line["success"].get<bool>();
    }
    CHECK(summary["successes"] == successes);
    CHECK(successes >= 2);
  }
}

TEST_CASE("latent-search with a conditional GAN and an auxiliary classifier: classes in turn, success needs both",
          "[cli][latent]") {
  REQUIRE(mirage::test::fashion_mnist_available());
  const std::string cgan = shared_dir().file("cgan");
  require_ok(mirage_run("train-gan --arch conditional --out " + cgan +
                        " --steps 6 --limit 256 --batch-size 16 --g-width 8 --d-width 8 --seed 1"));
  const std::string aux = shared_dir().file("aux.pt");
  require_ok(mirage_run("train-classifier --out " + aux + " --limit 512 --epochs 2 --filters 8 --hidden 32 --seed 9"));
  const std::string out = shared_dir().file("unrestricted");
  require_ok(mirage_run("latent-search --gan " + cgan + "/checkpoint --model " + classifier() + " --aux " + aux +
                        " --classes 0,7 -n 4 --steps 10 --lr 0.3 --lambda-z 0 --lambda-aux 1 --seed 6 --out " + out));
  const auto lines = read_jsonl(out + "/results.jsonl");
  REQUIRE(lines.size() == 4);
  const int64_t expected[] = {0, 7, 0, 7};
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& line = lines[i];
    INFO(line.dump());
    CHECK(line["class"] == expected[i]);
    CHECK(line["label"] == expected[i]);
    REQUIRE(line["aux_pred"].is_number_integer());
    CHECK(line["success"] == (line["target_pred"] != line["class"] && line["aux_pred"] == line["class"]));
  }
  const auto summary = read_json(out + "/summary.json");
  CHECK(summary["classes"] == "0,7");
  CHECK(summary["aux"]["path"] == aux);
  check_refused(mirage_run("latent-search --gan " + cgan + "/checkpoint --model " + classifier() + " --classes 12 --out " +
                           shared_dir().file("bad-class")),
                "--classes");
}

TEST_CASE("latent-search refuses a conditional search on an unconditional GAN and a model of another size",
          "[cli][latent]") {
  REQUIRE(mirage::test::fashion_mnist_available());
  const std::string out = shared_dir().file("refused");
  check_refused(mirage_run("latent-search --gan " + gan() + " --model " + classifier() + " --classes 3 --out " + out),
                "no classes");
  check_refused(mirage_run("latent-search --gan " + gan() + " --model " + classifier() + " --aux " + classifier() +
                           " --out " + out),
                "conditional GAN");
  check_refused(mirage_run("latent-search --gan " + gan() + " --model " + classifier(32) + " --out " + out), "1x32x32");
  check_refused(mirage_run("latent-search --gan " + gan() + " --out " + out), "--model");
  check_refused(mirage_run("latent-search --gan " + classifier() + " --model " + classifier() + " --out " + out),
                "not a mirage generator");
  CHECK_FALSE(fs::exists(out));
}
