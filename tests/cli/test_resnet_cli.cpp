// mirage on models no one on the project wrote: torchvision's ResNet-18 (adapted to 32-px
// CIFAR input, normalising inside), the same net taking BGR, and ResNet-50 (224 px, ImageNet
// layout, normalised outside: --mean/--std), made by tests/python/make_resnet.py with seeded
// weights, with a CIFAR-10 binary file labelled by the ResNet-18's own predictions and a folder
// of RGB JPEGs of assorted sizes.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "lib/model.h"
#include "tests/cli/cli_util.h"
#include "tests/test_util.h"

using mirage::test::mirage_run;
using mirage::test::read_json;
using mirage::test::read_jsonl;
using mirage::test::run_command;
namespace fs = std::filesystem;

namespace {

// The fixture, made once per test process (about 10 s); empty when python3 has no torch.
struct Resnets {
  mirage::test::TempDir dir;
  bool made = false;
  std::string out;  // what the script printed when it failed
  std::string file(const std::string& name) const { return (dir.path() / name).string(); }
};

const Resnets& resnets() {
  static Resnets r;
  static bool tried = false;
  if (!tried) {
    tried = true;
    if (mirage::test::python_has_torch()) {
      auto res = run_command(std::string(MIRAGE_PYTHON) + " " + MIRAGE_SOURCE_DIR + "/tests/python/make_resnet.py " +
                             r.dir.path().string());
      r.made = res.exit_code == 0;
      r.out = res.out;
    }
  }
  return r;
}

// Skips (with a warning) where python3 has no torch; fails where it has torch but the fixture
// script fails (torchvision missing: scripts/setup.sh installs python3-torchvision).
#define MIRAGE_NEEDS_RESNETS()                                          \
  do {                                                                  \
    if (!mirage::test::python_has_torch()) {                            \
      WARN("python3 with torch not available; skipped");                \
      return;                                                           \
    }                                                                   \
    INFO(resnets().out);                                                \
    REQUIRE(resnets().made);                                            \
  } while (0)

const char* kImageNet = " --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225";

}  // namespace

TEST_CASE("eval reads CIFAR-10 and agrees with PyTorch on a torchvision ResNet-18", "[cli][resnet]") {
  MIRAGE_NEEDS_RESNETS();
  const auto& f = resnets();
  auto r = mirage_run("eval --model " + f.file("resnet18_cifar.pt") + " --data " + f.file("cifar") + " --batch-size 7 --out " +
                      f.file("eval18.json"));
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  auto j = read_json(f.file("eval18.json"));
  // Labels are PyTorch's predictions (the top-two gap is at least 0.007): mirage must agree.
  CHECK(j["result"]["n"] == 32);
  CHECK(j["result"]["accuracy"] == 1.0);
  CHECK(j["model"]["spec"]["input"]["channels"] == 3);
  CHECK(j["model"]["spec"]["input"]["height"] == 32);
}

TEST_CASE("a model that takes BGR is fed BGR with --channel-order bgr", "[cli][resnet]") {
  MIRAGE_NEEDS_RESNETS();
  const auto& f = resnets();
  const std::string base = "eval --model " + f.file("resnet18_bgr.pt") + " --data " + f.file("cifar");
  auto bgr = mirage_run(base + " --channel-order bgr --out " + f.file("bgr.json"));
  INFO(bgr.out);
  REQUIRE(bgr.exit_code == 0);
  CHECK(read_json(f.file("bgr.json"))["result"]["accuracy"] == 1.0);
  CHECK(read_json(f.file("bgr.json"))["model"]["spec"]["input"]["channel_order"] == "bgr");
  // Fed RGB, the same model sees other images.
  auto rgb = mirage_run(base + " --out " + f.file("rgb.json"));
  REQUIRE(rgb.exit_code == 0);
  CHECK(read_json(f.file("rgb.json"))["result"]["accuracy"].get<double>() < 1.0);
  auto bad = mirage_run(base + " --channel-order grb --out " + f.file("bad.json"));
  CHECK(bad.exit_code == 2);
  CHECK(bad.out.find("--channel-order") != std::string::npos);
  CHECK_FALSE(fs::exists(f.file("bad.json")));
}

TEST_CASE("every attack runs on a ResNet-18 within the box and its eps and repeats under a seed", "[cli][resnet][attack]") {
  MIRAGE_NEEDS_RESNETS();
  const auto& f = resnets();
  struct Case {
    std::string attack, params;
    double linf;  // the bound the attack promises (0: none, a minimal-norm attack)
  };
  const double e = 8.0 / 255;
  const std::vector<Case> cases = {
      {"fgsm", "", e},
      {"bim", "-p steps=3", e},
      {"pgd", "-p steps=3", e},
      {"mi-fgsm", "-p steps=3", e},
      {"apgd-ce", "-p steps=3", e},
      {"apgd-dlr", "-p steps=3", e},
      {"apgd-t", "-p steps=3 -p target_classes=2", e},
      {"fab", "-p steps=3", e},
      {"fab-t", "-p steps=3 -p target_classes=2", e},
      {"square", "-p queries=20", e},
      {"autoattack", "-p steps=3 -p queries=20 -p target_classes=2", e},
      {"cw", "-p steps=5 -p binary_search_steps=2", 0},
      {"deepfool", "-p steps=5", 0},
      {"hsj", "-p queries=60 -p steps=2 -p max_evals=20 -p init_evals=10", 0},
  };
  for (const auto& c : cases) {
    SECTION(c.attack) {
      const std::string out = f.file("attack-" + c.attack);
      const std::string args = "attack --model " + f.file("resnet18_cifar.pt") + " --data " + f.file("cifar") +
                               " --limit 4 --batch-size 4 --seed 3 --quiet --attack " + c.attack + " " + c.params +
                               " --out " + out;
      auto r = mirage_run(args);
      INFO(r.out);
      REQUIRE(r.exit_code == 0);
      auto lines = read_jsonl(out + "/samples.jsonl");
      REQUIRE(lines.size() == 4);
      for (const auto& l : lines) {
        CHECK(l["clean_pred"] == l["label"]);
        if (c.linf > 0) CHECK(l["linf"].get<double>() <= c.linf + 1e-6);
        CHECK(l["success"] == (l["adv_pred"] != l["label"]));
      }
      // The written images are 3x32 RGB and in the box (16-bit PNGs).
      CHECK(std::distance(fs::directory_iterator(out + "/images"), fs::directory_iterator{}) == 4);
      auto again = mirage_run(args + " --overwrite");
      REQUIRE(again.exit_code == 0);
      CHECK(read_jsonl(out + "/samples.jsonl") == lines);
    }
  }
}

TEST_CASE("audit robustness runs PGD and AutoAttack on a ResNet-18 and writes its report", "[cli][resnet][audit]") {
  MIRAGE_NEEDS_RESNETS();
  const auto& f = resnets();
  {
    std::ofstream config(f.file("audit.json"));
    config << R"({"attacks": [{"name": "pgd", "eps": ["2/255", "8/255"], "params": {"steps": 3}},
                             {"name": "autoattack", "eps": ["8/255"], "params": {"steps": 3, "queries": 20, "target_classes": 2}}],
                 "limit": 8, "batch_size": 8,
                 "gates": [{"metric": "clean_accuracy", "min": 0.99}]})";
  }
  auto r = mirage_run("audit robustness --model " + f.file("resnet18_cifar.pt") + " --data " + f.file("cifar") +
                      " --config " + f.file("audit.json") + " --seed 1 --out " + f.file("report.json"));
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  auto report = read_json(f.file("report.json"));
  CHECK(report["model"]["sha256"].get<std::string>().size() == 64);
  CHECK(report.dump().find("autoattack") != std::string::npos);
}

TEST_CASE("a ResNet-50 normalised outside takes --mean/--std, and JPEGs of any size the imagenet policy",
          "[cli][resnet]") {
  MIRAGE_NEEDS_RESNETS();
  const auto& f = resnets();
  // The same logits as PyTorch on the same input (torch.manual_seed(2); torch.rand(2,3,224,224)).
  mirage::ModelSpec spec;
  spec.mean = {0.485, 0.456, 0.406};
  spec.std = {0.229, 0.224, 0.225};
  auto model = mirage::TorchScriptModel::load(f.file("resnet50_imagenet.pt"), torch::kCPU, spec);
  torch::manual_seed(2);
  auto x = torch::rand({2, 3, 224, 224});
  auto expected = read_json(f.file("expected.json"))["resnet50_imagenet"]["logits"].get<std::vector<std::vector<float>>>();
  torch::NoGradGuard g;
  auto logits = model->logits(x);
  for (int64_t i = 0; i < 2; ++i) {
    auto want = torch::tensor(expected[static_cast<size_t>(i)]);
    CHECK(torch::allclose(logits[i], want, 1e-4, 1e-3));
  }
  // Four JPEGs (300x260 ... 260x400) through the imagenet policy; PGD on them keeps eps.
  const std::string out = f.file("attack50");
  auto r = mirage_run("attack --model " + f.file("resnet50_imagenet.pt") + " --data " + f.file("jpeg") +
                      " --classes 10 --resize imagenet" + kImageNet +
                      " --attack pgd -p steps=2 --batch-size 2 --seed 1 --quiet --no-images --out " + out);
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  auto lines = read_jsonl(out + "/samples.jsonl");
  REQUIRE(lines.size() == 4);
  for (const auto& l : lines) CHECK(l["linf"].get<double>() <= 8.0 / 255 + 1e-6);
  auto summary = read_json(out + "/summary.json");
  CHECK(summary["model"]["spec"]["input"]["height"] == 224);
  CHECK(summary["model"]["spec"]["input"]["mean"].size() == 3);
}
