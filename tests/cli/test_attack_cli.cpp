// mirage attack, run as a user would: outputs that agree with each other, bounds, determinism,
// bad input (exit 2, nothing left behind) and corrupt images (reported, skipped, exit 1).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include "lib/cifar.h"
#include "lib/dataset.h"
#include "lib/image/io.h"
#include "tests/cli/cli_util.h"
#include "tests/test_util.h"

using mirage::test::run_command;
using mirage::test::read_json;
using mirage::test::read_jsonl;
namespace fs = std::filesystem;

namespace {

using mirage::test::mirage_run;

// A quickly trained Fashion-MNIST classifier (about 75% accurate) in `dir`.
std::string small_model(const mirage::test::TempDir& dir) {
  std::string model = dir.file("m.pt");
  auto r = mirage_run("train-classifier --out " + model + " --limit 1000 --epochs 1 --seed 3 --quiet");
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  return model;
}

// A folder of no entries left beside `out` by an interrupted or failed run.
bool leftovers_beside(const std::string& out) {
  for (const auto& e : fs::directory_iterator(fs::path(out).parent_path())) {
    if (e.path().filename().string().find(fs::path(out).filename().string() + ".partial") == 0) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("attack writes images, per-sample lines and a summary that agree", "[cli][attack]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  mirage::test::TempDir dir;
  const std::string model = small_model(dir);
  const std::string out = dir.file("pgd");
  const std::string args = "attack --model " + model + " --attack pgd -p eps=0.1 -p alpha=0.02 -p steps=5 "
                           "--limit 40 --batch-size 16 --seed 7 --quiet --out ";
  auto r = mirage_run(args + out);
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  auto lines = read_jsonl(out + "/samples.jsonl");
  REQUIRE(lines.size() == 40);
  auto summary = read_json(out + "/summary.json");
  const auto& res = summary["result"];
  CHECK(res["n"] == 40);
  CHECK(summary["attack"]["name"] == "pgd");
  CHECK(summary["attack"]["options"]["steps"] == 5);
  CHECK(summary["seed"] == 7);
  CHECK(summary["model"]["sha256"].get<std::string>().size() == 64);

  int64_t correct = 0, robust = 0, broken = 0, queries = 0;
  auto test_set = mirage::open_fashion_mnist("test");
  for (const auto& l : lines) {
    CHECK(l["linf"].get<double>() <= 0.1 + 1e-6);
    // Clean pass, 5 steps, the final check; early stop (the default) ends a sample's steps at
    // its first adversarial iterate, so a broken sample may take fewer.
    if (l["success"].get<bool>()) {
      CHECK(l["queries"].get<int64_t>() <= 5 + 2);
    } else {
      CHECK(l["queries"] == 5 + 2);
    }
    queries += l["queries"].get<int64_t>();
    CHECK(l["success"] == (l["adv_pred"] != l["label"]));
    correct += l["clean_pred"] == l["label"];
    robust += l["adv_pred"] == l["label"];
    broken += l["clean_pred"] == l["label"] && l["success"].get<bool>();
    // The written 16-bit PNG is the adversarial image: within eps of the clean image (plus
    // half a 16-bit level) and still in [0,1].
    const int64_t index = l["index"];
    auto png = mirage::read_image(out + "/" + l["file"].get<std::string>());
    auto clean = test_set->get({index}).images[0];
    CHECK(png.sizes() == clean.sizes());
    CHECK((png - clean).abs().max().item<double>() <= 0.1 + 1.0 / 65535);
  }
  CHECK(res["clean_accuracy"]["count"] == correct);
  CHECK(res["robust_accuracy"]["count"] == robust);
  CHECK(res["success_rate"]["count"] == broken);
  CHECK(res["success_rate"]["of"] == correct);
  CHECK(robust < correct);  // eps 0.1 breaks a weak Fashion-MNIST model
  CHECK(res["queries"]["total"] == queries);
  CHECK(queries < 40 * 7);
  CHECK(res["saved"]["bit_depth"] == 16);
  CHECK(std::distance(fs::directory_iterator(out + "/images"), fs::directory_iterator{}) == 40);

  SECTION("the same seed gives the same samples; an existing folder needs --overwrite") {
    auto again = mirage_run(args + out);
    CHECK(again.exit_code == 2);
    CHECK(again.out.find("--overwrite") != std::string::npos);
    auto forced = mirage_run(args + out + " --overwrite --no-images");
    REQUIRE(forced.exit_code == 0);
    auto lines2 = read_jsonl(out + "/samples.jsonl");
    REQUIRE(lines2.size() == lines.size());
    for (size_t i = 0; i < lines.size(); ++i) {
      CHECK(lines2[i]["adv_pred"] == lines[i]["adv_pred"]);
      CHECK(lines2[i]["l2"] == lines[i]["l2"]);
    }
    CHECK_FALSE(fs::exists(out + "/images"));  // replaced, not merged
  }
  SECTION("a targeted goal records targets and an 8-bit run says what its files do") {
    const std::string out8 = dir.file("t8");
    auto t = mirage_run("attack --model " + model + " --attack pgd -p eps=0.3 -p alpha=0.05 -p steps=10 --goal target:3 "
                        "--limit 16 --bit-depth 8 --quiet --out " + out8);
    INFO(t.out);
    REQUIRE(t.exit_code == 0);
    for (const auto& l : read_jsonl(out8 + "/samples.jsonl")) {
      CHECK(l["target"] == 3);
      CHECK(l["success"] == (l["adv_pred"] == 3));
    }
    CHECK(read_json(out8 + "/summary.json")["result"]["saved"]["bit_depth"] == 8);
  }
}

TEST_CASE("attack reports a corrupt image, skips it, goes on and exits 1", "[cli][attack]") {
  mirage::test::TempDir dir;
  torch::manual_seed(0);
  for (const char* f : {"0/a.png", "0/b.png", "1/c.png"}) {
    mirage::write_image((dir.path() / "imgs" / f).string(), torch::rand({1, 28, 28}));
  }
  std::ofstream(dir.path() / "imgs" / "1" / "broken.png") << "not a png";
  // A model without metadata, saved from PyTorch: spec completed from the data.
  if (!mirage::test::python_has_torch()) {
    WARN("python3 with torch not available; skipped");
    return;
  }
  const std::string model = dir.file("plain.pt");
  REQUIRE(run_command(std::string(MIRAGE_PYTHON) + " " + MIRAGE_SOURCE_DIR + "/tests/python/make_plain_model.py " +
                      model + " " + dir.file("expected.json"))
              .exit_code == 0);
  const std::string out = dir.file("out");
  auto r = mirage_run("attack --model " + model + " --data " + (dir.path() / "imgs").string() +
                      " --classes 10 --attack fgsm -p eps=0.05 --batch-size 4 --out " + out);
  INFO(r.out);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("broken.png") != std::string::npos);
  auto lines = read_jsonl(out + "/samples.jsonl");
  REQUIRE(lines.size() == 4);
  int errors = 0;
  for (const auto& l : lines) {
    if (l.contains("error")) {
      ++errors;
      CHECK(l["error"].get<std::string>().find("broken.png") != std::string::npos);
    } else {
      CHECK(fs::exists(out + "/" + l["file"].get<std::string>()));
      CHECK(l["linf"].get<double>() <= 0.05 + 1e-6);
    }
  }
  CHECK(errors == 1);
  auto summary = read_json(out + "/summary.json");
  CHECK(summary["result"]["n"] == 3);
  CHECK(summary["result"]["skipped"] == 1);
}

TEST_CASE("attack: bad input exits 2 with one line and leaves no output", "[cli][attack][errors]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  static mirage::test::TempDir dir;
  static const std::string model = small_model(dir);
  // 11 class folders for a 10-class model.
  static const std::string eleven = [] {
    for (int c = 0; c < 11; ++c) {
      mirage::write_image((dir.path() / "eleven" / std::to_string(c) / "x.png").string(), torch::rand({1, 28, 28}));
    }
    return (dir.path() / "eleven").string();
  }();
  // A model written for RGB input, given gray data (its shape comes from the data).
  static const std::string rgb = [] {
    torch::jit::Module m(c10::QualifiedName("__torch__.Rgb"));
    m.define("def forward(self, x):\n    return torch.conv2d(x, torch.ones(10, 3, 1, 1)).mean([2, 3])\n");
    m.save(dir.file("rgb.pt"));
    return dir.file("rgb.pt");
  }();
  // A CIFAR-10 folder whose test batch is cut short.
  static const std::string cifar = [] {
    std::filesystem::create_directories(dir.path() / "cifar");
    const std::string f = (dir.path() / "cifar" / "test_batch.bin").string();
    mirage::write_cifar_file(f, torch::zeros({2, 3, 32, 32}, torch::kUInt8), torch::zeros({2}, torch::kLong),
                             mirage::CifarKind::kCifar10);
    std::filesystem::resize_file(f, 3073 + 100);
    return (dir.path() / "cifar").string();
  }();
  struct Case {
    std::string args;
    std::string mentions;
  };
  const std::string m = "attack --model " + model + " --limit 4 ";
  auto c = GENERATE_COPY(values<Case>({
      {m + "--attack pgd -p eps=0", "eps"},
      {m + "--attack pgd -p eps=nan", "eps"},
      {m + "--attack pgd -p steps=0", "steps"},
      {m + "--attack nosuch", "nosuch"},
      {m + "--attack pgd -p bogus=1", "bogus"},
      {m + "--attack pgd -p eps", "eps"},
      {m + "--attack pgd --params '[1]'", "--params"},
      {m + "--attack pgd --goal target:10", "target"},
      {m + "--attack pgd --goal sideways", "sideways"},
      {m + "--attack pgd --bit-depth 12", "bit-depth"},
      {m + "--attack pgd --data " + eleven, "classes"},
      {"attack --model " + dir.file("nope.pt") + " --attack pgd", "nope.pt"},
      {"attack --model " + rgb + " --attack pgd --limit 4", "forward failed on images [2, 1, 28, 28] (input shape from the data"},
      {m + "--attack pgd --data " + cifar, "test_batch.bin: 3173 bytes is not a whole number of CIFAR-10 records"},
  }));
  const std::string out = dir.file("out");
  INFO(c.args);
  auto r = mirage_run(c.args + " --out " + out);
  INFO(r.out);
  CHECK(r.exit_code == 2);
  CHECK(r.out.find('\n') == r.out.size() - 1);  // one line
  CHECK(r.out.find(c.mentions) != std::string::npos);
  CHECK_FALSE(fs::exists(out));
  CHECK_FALSE(leftovers_beside(out));
}

TEST_CASE("attack --list names every attack", "[cli][attack]") {
  auto r = mirage_run("attack --list");
  CHECK(r.exit_code == 0);
  for (const char* a : {"fgsm", "pgd", "apgd-ce", "apgd-t", "autoattack"}) CHECK(r.out.find(a) != std::string::npos);
}
