// Runs the mirage binary as a user would: exit codes, one-line errors, outputs.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "lib/hash.h"
#include "lib/image/io.h"
#include "tests/cli/cli_util.h"
#include "tests/test_util.h"

using mirage::test::run_command;
using mirage::test::read_json;
namespace fs = std::filesystem;

namespace {

using mirage::test::mirage_run;

size_t count_lines(const std::string& text) {
  size_t n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

}  // namespace

TEST_CASE("mirage --help lists the commands and exits 0", "[cli]") {
  auto r = mirage_run("--help");
  CHECK(r.exit_code == 0);
  for (const char* c : {"train-classifier", "eval", "attack", "info"}) CHECK(r.out.find(c) != std::string::npos);
  CHECK(mirage_run("").exit_code == 2);  // no command: usage on stderr, exit 2
}

TEST_CASE("mirage --version names mirage, LibTorch, OpenCV and CUDA", "[cli]") {
  auto r = mirage_run("--version");
  CHECK(r.exit_code == 0);
  for (const char* s : {"mirage", "libtorch", "opencv", "cuda"}) CHECK(r.out.find(s) != std::string::npos);
}

TEST_CASE("each command has --help with usage and examples", "[cli]") {
  auto command = GENERATE(as<std::string>{}, "train-classifier", "eval", "attack", "info");
  auto r = mirage_run(command + " --help");
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("usage: mirage " + command) != std::string::npos);
  CHECK(r.out.find("--seed") != std::string::npos);
}

TEST_CASE("usage errors exit 2 with one line naming the problem", "[cli][errors]") {
  // Static: GENERATE's values are built on the first pass and reused on the later ones.
  static mirage::test::TempDir dir;
  std::string corrupt = dir.file("corrupt.pt");
  std::ofstream(corrupt) << "garbage";
  struct Case {
    std::string args;
    std::string mentions;
  };
  auto c = GENERATE_COPY(values<Case>({
      {"frobnicate", "frobnicate"},
      {"eval --model", "model"},                       // missing value
      {"eval --bogus-flag 1", "bogus-flag"},           // unknown flag
      {"eval", "model"},                               // required flag missing
      {"eval --model /no/such/model.pt", "/no/such/model.pt"},
      {"eval --model " + corrupt, corrupt},            // not TorchScript
      {"eval --model " + corrupt + " --device gpu", "--device"},
      {"eval --model " + corrupt + " --threads x", "threads"},
      {"train-classifier --out " + dir.file("m.pt") + " --data /no/such/dir", "/no/such/dir"},
      {"train-classifier --out " + dir.file("m.pt") + " --epochs 0 --limit 10", "epochs"},
      {"train-classifier --out /no/such/dir/m.pt --limit 10", "/no/such/dir"},
      {"train-classifier --out " + dir.file("m.pt") + " --lr-schedule step --limit 10", "lr-schedule"},
  }));
  INFO(c.args);
  auto r = mirage_run(c.args);
  INFO(r.out);
  CHECK(r.exit_code == 2);
  CHECK(count_lines(r.out) <= 2);  // the error line (plus libpng-style noise at most)
  CHECK(r.out.find(c.mentions) != std::string::npos);
  CHECK_FALSE(fs::exists(dir.file("m.pt")));  // nothing half-written
}

TEST_CASE("train-classifier then eval: model, reports and accuracy above chance", "[cli][slow]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  mirage::test::TempDir dir;
  std::string model = dir.file("m.pt");
  auto train = mirage_run("train-classifier --out " + model + " --limit 3000 --epochs 1 --seed 1 --threads 2 --quiet");
  INFO(train.out);
  REQUIRE(train.exit_code == 0);
  REQUIRE(fs::exists(model));
  auto report = read_json(dir.file("m.json"));
  CHECK(report["command"] == "train-classifier");
  CHECK(report["seed"] == 1);
  CHECK(report["history"].size() == 1);
  CHECK(report["model"]["sha256"] == mirage::sha256_file(model));

  auto eval = mirage_run("eval --model " + model + " --limit 1000 --out " + dir.file("eval.json") + " --quiet");
  INFO(eval.out);
  REQUIRE(eval.exit_code == 0);
  auto j = read_json(dir.file("eval.json"));
  CHECK(j["result"]["n"] == 1000);
  CHECK(j["result"]["accuracy"].get<double>() > 0.6);  // chance is 0.1
  CHECK(j["result"]["confusion_matrix"].size() == 10);
  CHECK(j["result"]["per_class"][9]["name"] == "Ankle boot");
  CHECK(j["model"]["spec"]["num_classes"] == 10);
  CHECK(j["versions"].contains("libtorch"));

  auto info = mirage_run("info " + model);
  CHECK(info.exit_code == 0);
  CHECK(info.out.find("\"num_classes\": 10") != std::string::npos);

  SECTION("the same seed gives a byte-identical model on CPU") {
    fs::create_directories(dir.path() / "again");
    std::string again = (dir.path() / "again" / "m.pt").string();  // same name: TorchScript records it
    auto r = mirage_run("train-classifier --out " + again + " --limit 3000 --epochs 1 --seed 1 --threads 2 --quiet");
    REQUIRE(r.exit_code == 0);
    CHECK(mirage::sha256_file(again) == mirage::sha256_file(model));
  }
  SECTION("eval without --quiet keeps the data on stdout and the log on stderr") {
    auto e = mirage_run("eval --model " + model + " --limit 200");
    INFO(e.out);
    REQUIRE(e.exit_code == 0);
    const auto j = nlohmann::json::parse(e.stdout_text);  // stdout is the JSON and nothing else
    CHECK(j["result"]["n"] == 200);
    CHECK(e.stderr_text.find("accuracy") != std::string::npos);
    CHECK(e.stderr_text.find('{') == std::string::npos);
    CHECK(e.out.size() == e.stdout_text.size() + e.stderr_text.size());
  }
  SECTION("eval on an image folder fits RGB images of another size to the model") {
    for (const char* f : {"0/a.png", "0/b.jpg", "1/c.png"}) {
      mirage::write_image((dir.path() / "imgs" / f).string(), torch::rand({3, 40, 36}));
    }
    auto e = mirage_run("eval --model " + model + " --data " + (dir.path() / "imgs").string() + " --quiet");
    INFO(e.out);
    CHECK(e.exit_code == 0);
    CHECK(e.out.find("\"n\": 3") != std::string::npos);
  }
}
