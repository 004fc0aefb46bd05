// mirage train-gan / generate / gan-eval, run as a user would: the run folder's files agree with
// each other, a resumed run ends where an uninterrupted one does, fakes regenerate from their
// manifest seed (in PyTorch too), and bad checkpoints or flags exit 2 with one line and leave
// nothing half-written. Runs are tiny (a few steps of 8-wide nets on 256 images): the properties
// hold at any size.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "lib/image/io.h"
#include "tests/cli/cli_util.h"
#include "tests/test_util.h"

using mirage::test::run_command;
using mirage::test::check_refused;
using mirage::test::count_files;
using mirage::test::read_bytes;
using mirage::test::read_json;
using mirage::test::read_jsonl;
namespace fs = std::filesystem;

namespace {

// Every training flag but --steps, --out and --arch: small enough for a test, with a checkpoint
// and a sample grid halfway, so resume and samples are exercised.
const std::string kTiny =
    " --limit 256 --batch-size 16 --g-width 8 --d-width 8 --checkpoint-every 3 --sample-every 3 --log-every 1"
    " --seed 1 --quiet";

// One thread: the suite shares 2 cores with others, where LibTorch's threads only contend.
mirage::test::CommandResult mirage_run(const std::string& args) { return mirage::test::mirage_run(args + " --threads 1"); }

// Every file under `dir` with a hash of its bytes: a folder left exactly as it was compares equal
// (and a failed check prints names and numbers, not PNG bytes).
std::map<std::string, size_t> snapshot(const std::string& dir) {
  std::map<std::string, size_t> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) files[fs::relative(e.path(), dir).string()] = std::hash<std::string>()(read_bytes(e.path().string()));
  }
  return files;
}

// The runs the cases share, each trained once, on first use, in one folder.
const mirage::test::TempDir& shared_dir() {
  static mirage::test::TempDir dir;
  return dir;
}

std::string train(const std::string& name, const std::string& args) {
  const std::string out = shared_dir().file(name);
  auto r = mirage_run("train-gan --out " + out + " " + args);
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  return out;
}

// An unconditional DCGAN trained 6 steps straight (the "uninterrupted" run).
const std::string& dcgan_run() {
  static const std::string run = train("dcgan", "--steps 6" + kTiny);
  return run;
}

// 8 fakes of it: --seed 5, 16-bit PNGs (65536 levels: a changed weight shows).
const std::string kFakeArgs = " -n 8 --seed 5 --bit-depth 16 --quiet --out ";
const std::string& dcgan_fakes() {
  static const std::string fakes = [] {
    const std::string out = shared_dir().file("dcgan-fakes");
    auto r = mirage_run("generate --gan " + dcgan_run() + "/checkpoint" + kFakeArgs + out);
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    return out;
  }();
  return fakes;
}

// Its class-conditional form (projection D), 6 steps.
const std::string& conditional_run() {
  static const std::string run = train("cgan", "--arch conditional --steps 6" + kTiny);
  return run;
}

// A quickly trained Fashion-MNIST classifier: the feature space of gan-eval, and a TorchScript
// file that is no generator.
const std::string& classifier() {
  static const std::string model = [] {
    const std::string m = shared_dir().file("classifier.pt");
    auto r = mirage_run("train-classifier --out " + m + " --limit 256 --epochs 1 --seed 2 --quiet");
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    return m;
  }();
  return model;
}

// A copy of a run folder that a test may break or a failing command might touch.
std::string copy_run(const std::string& run, const std::string& to) {
  fs::copy(run, to, fs::copy_options::recursive);
  return to;
}

}  // namespace

TEST_CASE("train-gan writes a checkpoint, sample grids, a metrics line per logged step and a summary",
          "[cli][gan-cli]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  const std::string& run = dcgan_run();
  for (const char* f : {"checkpoint/config.json", "checkpoint/state.pt", "checkpoint/generator.pt"}) {
    INFO(f);
    REQUIRE(fs::exists(run + "/" + f));
    CHECK(fs::file_size(run + "/" + f) > 0);
  }
  // --sample-every 3 over 6 steps: a grid at step 3 and at step 6, nothing else.
  CHECK(count_files(run + "/samples") == 2);
  for (const char* f : {"samples/step-000003.png", "samples/step-000006.png"}) {
    INFO(f);
    REQUIRE(fs::exists(run + "/" + f));
    auto grid = mirage::read_image(run + "/" + f);
    CHECK(grid.size(2) >= 8 * 28);  // 8 columns of 28x28 fakes
  }

  auto lines = read_jsonl(run + "/metrics.jsonl");
  REQUIRE(lines.size() == 6);  // --log-every 1
  for (size_t i = 0; i < lines.size(); ++i) {
    INFO(lines[i].dump());
    CHECK(lines[i]["step"] == static_cast<int64_t>(i) + 1);
    for (const char* key : {"d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm", "d_grad_norm", "images_per_second"}) {
      INFO(key);
      REQUIRE(lines[i].contains(key));
      REQUIRE(lines[i][key].is_number());
      CHECK(std::isfinite(lines[i][key].get<double>()));
    }
    // Non-saturating loss: both players' losses are positive; gradients flowed to both nets.
    CHECK(lines[i]["d_loss"].get<double>() > 0);
    CHECK(lines[i]["g_loss"].get<double>() > 0);
    CHECK(lines[i]["g_grad_norm"].get<double>() > 0);
    CHECK(lines[i]["d_grad_norm"].get<double>() > 0);
    CHECK(lines[i]["images_per_second"].get<double>() > 0);
  }

  auto summary = read_json(run + "/train.json");
  CHECK(summary["command"] == "train-gan");
  CHECK(summary["steps"] == 6);
  CHECK(summary["resumed"] == false);
  CHECK(summary["seed"] == 1);
  const auto& config = summary["config"];
  CHECK(config["arch"] == "dcgan");
  CHECK(config["steps"] == 6);
  CHECK(config["batch_size"] == 16);
  CHECK(config["g_width"] == 8);
  CHECK(config["d_width"] == 8);
  CHECK(config["seed"] == 1);
  CHECK(summary["data"]["n"] == 256);  // --limit
  // The checkpoint records the same config the summary reports.
  CHECK(read_json(run + "/checkpoint/config.json") == config);
  // final is the last logged step.
  for (const char* key : {"step", "d_loss", "g_loss", "d_real", "d_fake"}) {
    INFO(key);
    CHECK(summary["final"][key] == lines.back()[key]);
  }
  CHECK(summary["samples"].size() == 2);
}

TEST_CASE("a run resumed from its step-3 checkpoint ends exactly where an uninterrupted one does",
          "[cli][gan-cli]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  const std::string& a = dcgan_run();
  // The first half, trained once: each section resumes its own copy.
  static mirage::test::TempDir dir;
  static const std::string half = [] {
    const std::string b = dir.file("half");
    auto first = mirage_run("train-gan --out " + b + " --steps 3" + kTiny);
    INFO(first.out);
    REQUIRE(first.exit_code == 0);
    return b;
  }();
  REQUIRE(read_jsonl(half + "/metrics.jsonl").size() == 3);
  REQUIRE(fs::exists(half + "/checkpoint/state.pt"));

  auto check_same_as_uninterrupted = [&](const std::string& resumed) {
    auto want = read_jsonl(a + "/metrics.jsonl");
    auto got = read_jsonl(resumed + "/metrics.jsonl");
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      INFO("line " << i);
      for (const char* key : {"step", "d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm", "d_grad_norm"}) {
        INFO(key);
        CHECK(got[i][key] == want[i][key]);  // exactly: the same arithmetic in the same order
      }
    }
    auto summary = read_json(resumed + "/train.json");
    CHECK(summary["resumed"] == true);
    CHECK(summary["steps"] == 6);
    CHECK(summary["data"]["n"] == 256);
    // The last sample grid comes from the same generator and noise.
    CHECK(read_bytes(resumed + "/samples/step-000006.png") == read_bytes(a + "/samples/step-000006.png"));
    // The exported generators draw the same fakes, to the last of 65536 levels.
    auto gb = mirage_run("generate --gan " + resumed + "/checkpoint" + kFakeArgs + resumed + "-fakes");
    INFO(gb.out);
    REQUIRE(gb.exit_code == 0);
    for (int i = 0; i < 8; ++i) {
      const std::string f = "/images/00000" + std::to_string(i) + ".png";
      INFO(f);
      CHECK(read_bytes(resumed + "-fakes" + f) == read_bytes(dcgan_fakes() + f));
    }
  };

  SECTION("resumed with the training flags repeated") {
    const std::string b = copy_run(half, dir.file("b-flags"));
    auto r = mirage_run("train-gan --out " + b + " --resume --steps 6" + kTiny);
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    check_same_as_uninterrupted(b);
  }
  SECTION("resumed with --steps alone (the run keeps its own data, --limit included, seed and config)") {
    const std::string plain = copy_run(half, dir.file("b-plain"));
    auto r = mirage_run("train-gan --out " + plain + " --resume --steps 6 --quiet");
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    check_same_as_uninterrupted(plain);
  }
}

TEST_CASE("train-gan refuses a folder it cannot resume or would overwrite, leaving it as it was", "[cli][gan-cli]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  mirage::test::TempDir dir;
  const std::string run = copy_run(dcgan_run(), dir.file("run"));
  const auto before = snapshot(run);

  SECTION("--resume of a folder without a checkpoint") {
    fs::create_directories(dir.file("empty"));
    check_refused(mirage_run("train-gan --out " + dir.file("empty") + " --resume --steps 6 --quiet"), "checkpoint");
    CHECK(fs::is_empty(dir.file("empty")));
    check_refused(mirage_run("train-gan --out " + dir.file("nowhere") + " --resume --steps 6 --quiet"), "nowhere");
    CHECK_FALSE(fs::exists(dir.file("nowhere")));
  }
  SECTION("an earlier run without --resume or --overwrite") {
    check_refused(mirage_run("train-gan --out " + run + " --steps 6" + kTiny), "--resume");
  }
  SECTION("--resume with a flag that contradicts the checkpoint's config") {
    check_refused(mirage_run("train-gan --out " + run + " --resume --steps 9 --z-dim 50 --quiet"), "z_dim");
  }
  SECTION("--resume as another arch than the checkpoint's") {
    check_refused(mirage_run("train-gan --out " + run + " --resume --steps 9 --arch toy --quiet"), "arch");
  }
  SECTION("--resume with a truncated state.pt") {
    const std::string state = run + "/checkpoint/state.pt";
    fs::resize_file(state, fs::file_size(state) / 2);
    const auto truncated = snapshot(run);
    check_refused(mirage_run("train-gan --out " + run + " --resume --steps 9 --quiet"), "state.pt");
    CHECK(snapshot(run) == truncated);
    return;
  }
  CHECK(snapshot(run) == before);
}

TEST_CASE("train-gan that fails before training leaves no run folder, and an --overwrite that fails keeps the old run",
          "[cli][gan-cli]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  mirage::test::TempDir dir;
  const std::string fresh = dir.file("fresh");
  check_refused(mirage_run("train-gan --out " + fresh + " --data /no/such/dir --steps 2 --quiet"), "/no/such/dir");
  CHECK_FALSE(fs::exists(fresh));
  // 8 images cannot fill a batch of 16: found once the data is open.
  const std::string small = dir.file("small");
  check_refused(mirage_run("train-gan --out " + small + " --limit 8 --batch-size 16 --steps 2 --quiet"), "batch");
  CHECK_FALSE(fs::exists(small));

  const std::string run = copy_run(dcgan_run(), dir.file("run"));
  const auto before = snapshot(run);
  check_refused(mirage_run("train-gan --out " + run + " --overwrite --data /no/such/dir --steps 2 --quiet"),
                "/no/such/dir");
  CHECK(snapshot(run) == before);
}

TEST_CASE("generate: one PNG and one manifest line per fake, each regenerated from its seed", "[cli][gan-cli]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  const std::string gan = dcgan_run() + "/checkpoint";
  const std::string& out = dcgan_fakes();
  mirage::test::TempDir dir;
  CHECK(count_files(out + "/images") == 8);
  auto manifest = read_jsonl(out + "/manifest.jsonl");
  REQUIRE(manifest.size() == 8);
  std::set<uint64_t> seeds;
  for (size_t i = 0; i < manifest.size(); ++i) {
    INFO(manifest[i].dump());
    CHECK(manifest[i]["index"] == static_cast<int64_t>(i));
    REQUIRE(manifest[i]["seed"].is_number_unsigned());
    seeds.insert(manifest[i]["seed"].get<uint64_t>());
    CHECK_FALSE(manifest[i].contains("class"));
    const std::string file = out + "/" + manifest[i]["file"].get<std::string>();
    REQUIRE(fs::exists(file));
    auto image = mirage::read_image(file);
    CHECK(image.sizes().vec() == std::vector<int64_t>({1, 28, 28}));
  }
  CHECK(seeds.size() == 8);
  CHECK(read_json(out + "/summary.json")["n"] == 8);
  // Distinct latents give distinct fakes, even from a nearly untrained generator.
  CHECK(read_bytes(out + "/images/000000.png") != read_bytes(out + "/images/000001.png"));

  SECTION("the same --seed gives the same files, another seed other fakes") {
    auto again = mirage_run("generate --gan " + gan + kFakeArgs + dir.file("again"));
    REQUIRE(again.exit_code == 0);
    CHECK(read_bytes(dir.file("again/manifest.jsonl")) == read_bytes(out + "/manifest.jsonl"));
    for (const auto& line : manifest) {
      const std::string f = "/" + line["file"].get<std::string>();
      INFO(f);
      CHECK(read_bytes(dir.file("again") + f) == read_bytes(out + f));
    }
    auto other = mirage_run("generate --gan " + gan + " -n 1 --seed 6 --bit-depth 16 --quiet --out " + dir.file("other"));
    REQUIRE(other.exit_code == 0);
    CHECK(read_jsonl(dir.file("other/manifest.jsonl"))[0]["seed"] != manifest[0]["seed"]);
    CHECK(read_bytes(dir.file("other/images/000000.png")) != read_bytes(out + "/images/000000.png"));
  }
  SECTION("--latent-seeds regenerates fake 3 byte for byte") {
    const std::string seed = std::to_string(manifest[3]["seed"].get<uint64_t>());
    auto one = mirage_run("generate --gan " + gan + " --latent-seeds " + seed + " --bit-depth 16 --quiet --out " +
                          dir.file("one"));
    INFO(one.out);
    REQUIRE(one.exit_code == 0);
    auto lines = read_jsonl(dir.file("one/manifest.jsonl"));
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["seed"] == manifest[3]["seed"]);
    CHECK(read_bytes(dir.file("one/images/000000.png")) == read_bytes(out + "/images/000003.png"));
  }
  SECTION("an existing --out needs --overwrite and is left as it was") {
    const std::string existing = copy_run(out, dir.file("existing"));
    const auto before = snapshot(existing);
    check_refused(mirage_run("generate --gan " + gan + " -n 2 --seed 9 --quiet --out " + existing), "--overwrite");
    CHECK(snapshot(existing) == before);
  }
  SECTION("--class on an unconditional generator") {
    check_refused(mirage_run("generate --gan " + gan + " -n 2 --class 1 --quiet --out " + dir.file("c1")), "--class");
    CHECK_FALSE(fs::exists(dir.file("c1")));
  }
}

TEST_CASE("generate from a conditional generator records and honours the class", "[cli][gan-cli]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  const std::string gan = conditional_run() + "/checkpoint";
  mirage::test::TempDir dir;
  auto r = mirage_run("generate --gan " + gan + " -n 4 --class 2 --seed 5 --bit-depth 16 --quiet --out " +
                      dir.file("two"));
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  auto two = read_jsonl(dir.file("two/manifest.jsonl"));
  REQUIRE(two.size() == 4);
  for (const auto& line : two) CHECK(line["class"] == 2);
  CHECK(read_json(dir.file("two/summary.json"))["class"] == 2);

  // Without --class the classes come in turn; with the same seeds, the class changes the fake.
  auto all = mirage_run("generate --gan " + gan + " -n 12 --seed 5 --bit-depth 16 --quiet --out " + dir.file("all"));
  REQUIRE(all.exit_code == 0);
  auto lines = read_jsonl(dir.file("all/manifest.jsonl"));
  REQUIRE(lines.size() == 12);
  for (size_t i = 0; i < lines.size(); ++i) {
    CHECK(lines[i]["class"] == static_cast<int64_t>(i % 10));
    if (i < 4) CHECK(lines[i]["seed"] == two[i]["seed"]);
  }
  CHECK(read_bytes(dir.file("all/images/000002.png")) == read_bytes(dir.file("two/images/000002.png")));
  CHECK(read_bytes(dir.file("all/images/000003.png")) != read_bytes(dir.file("two/images/000003.png")));

  const std::string out = dir.file("bad");
  auto ten = mirage_run("generate --gan " + gan + " -n 2 --class 10 --quiet --out " + out);
  check_refused(ten, "--class");
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("generate and gan-eval refuse bad generator files with one line and leave nothing", "[cli][gan-cli]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  mirage::test::TempDir dir;
  // A generator.pt cut to half its size, alone and in a checkpoint folder.
  const std::string broken = copy_run(dcgan_run() + "/checkpoint", dir.file("broken"));
  const std::string file = broken + "/generator.pt";
  fs::resize_file(file, fs::file_size(file) / 2);
  const std::string out = dir.file("out");

  check_refused(mirage_run("generate --gan " + file + " -n 2 --quiet --out " + out), file);
  CHECK_FALSE(fs::exists(out));
  check_refused(mirage_run("generate --gan " + broken + " -n 2 --quiet --out " + out), file);
  CHECK_FALSE(fs::exists(out));
  // A TorchScript classifier is no generator.
  check_refused(mirage_run("generate --gan " + classifier() + " -n 2 --quiet --out " + out), classifier());
  CHECK_FALSE(fs::exists(out));
  // gan-eval: the same file, and a report that is not written.
  const std::string report = dir.file("eval.json");
  check_refused(mirage_run("gan-eval --gan " + file + " --classifier " + classifier() + " -n 10 --quiet --out " + report),
                file);
  CHECK_FALSE(fs::exists(report));
  check_refused(mirage_run("gan-eval --gan " + classifier() + " --classifier " + classifier() + " -n 10 --quiet --out " +
                           report),
                classifier());
  CHECK_FALSE(fs::exists(report));
  for (const auto& e : fs::directory_iterator(dir.path())) {
    INFO(e.path());
    CHECK(e.path().filename().string().find("out") != 0);  // no staging folder left beside --out
  }
}

TEST_CASE("gan-eval scores fakes on classifier features, real images score better", "[cli][gan-cli]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  mirage::test::TempDir dir;
  const std::string report = dir.file("eval.json");
  auto r = mirage_run("gan-eval --gan " + dcgan_run() + "/checkpoint --classifier " + classifier() +
                      " --num 200 --kid-subset-size 100 --kid-subsets 20 --reference fashion-mnist:train --seed 3"
                      " --quiet --out " + report);
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  auto j = read_json(report);
  INFO(j.dump(1));
  CHECK(j["command"] == "gan-eval");
  CHECK(j["features"]["name"] == "fmnist");
  CHECK(j["fake"]["n"] == 200);
  CHECK(j["real"]["n"] == 200);
  auto check_quality = [](const nlohmann::json& m) {
    REQUIRE(m["fd_fmnist"].is_number());
    CHECK(m["fd_fmnist"].get<double>() >= 0);
    REQUIRE(m["kid_fmnist"]["mean"].is_number());
    CHECK(std::isfinite(m["kid_fmnist"]["mean"].get<double>()));
    CHECK(m["kid_fmnist"]["std"].get<double>() >= 0);
    for (const char* key : {"precision_fmnist", "recall_fmnist", "coverage_fmnist"}) {
      INFO(key);
      REQUIRE(m[key].is_number());
      CHECK(m[key].get<double>() >= 0);
      CHECK(m[key].get<double>() <= 1);
    }
    REQUIRE(m["density_fmnist"].is_number());
    CHECK(m["density_fmnist"].get<double>() >= 0);
  };
  check_quality(j["metrics"]);
  check_quality(j["floor"]["metrics"]);
  auto check_coverage = [](const nlohmann::json& cc) {
    REQUIRE(cc["histogram"].size() == 10);
    int64_t total = 0;
    for (const auto& h : cc["histogram"]) total += h.get<int64_t>();
    CHECK(total == 200);
    CHECK(cc["classes_covered"].get<int64_t>() >= 0);
    CHECK(cc["classes_covered"].get<int64_t>() <= 10);
    CHECK(cc["num_classes"] == 10);
  };
  check_coverage(j["class_coverage"]);
  check_coverage(j["floor"]["class_coverage"]);
  // Real training images against real test images: the floor a 6-step generator is far above.
  CHECK(j["floor"]["metrics"]["fd_fmnist"].get<double>() < j["metrics"]["fd_fmnist"].get<double>());
  CHECK(j["floor"]["metrics"]["kid_fmnist"]["mean"].get<double>() < j["metrics"]["kid_fmnist"]["mean"].get<double>());
  CHECK(j["floor"]["metrics"]["coverage_fmnist"].get<double>() > j["metrics"]["coverage_fmnist"].get<double>());

  SECTION("an image GAN needs --classifier") {
    const std::string none = dir.file("none.json");
    check_refused(mirage_run("gan-eval --gan " + dcgan_run() + "/checkpoint -n 10 --quiet --out " + none), "--classifier");
    CHECK_FALSE(fs::exists(none));
  }
}

TEST_CASE("gan-eval of a 2-D toy run reports the modes of its mixture", "[cli][gan-cli]") {
  mirage::test::TempDir dir;
  const std::string run = dir.file("toy");
  auto t = mirage_run("train-gan --arch toy --steps 20 --batch-size 64 --log-every 10 --sample-every 0"
                      " --checkpoint-every 0 --seed 1 --quiet --out " + run);
  INFO(t.out);
  REQUIRE(t.exit_code == 0);
  CHECK(read_json(run + "/train.json")["mode_coverage"]["modes"] == 8);
  const std::string report = dir.file("toy.json");
  auto r = mirage_run("gan-eval --gan " + run + "/checkpoint -n 500 --quiet --out " + report);
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  const auto mc = read_json(report)["mode_coverage"];
  INFO(mc.dump());
  CHECK(mc["mixture"] == "ring8");
  CHECK(mc["modes"] == 8);
  CHECK(mc["samples"] == 500);
  REQUIRE(mc["per_mode"].size() == 8);
  int64_t near_a_mode = 0;
  for (const auto& m : mc["per_mode"]) near_a_mode += m.get<int64_t>();
  CHECK(near_a_mode <= 500);
  CHECK(mc["modes_covered"].get<int64_t>() >= 0);
  CHECK(mc["modes_covered"].get<int64_t>() <= 8);
  CHECK(mc["high_quality_fraction"].get<double>() >= 0);
  CHECK(mc["high_quality_fraction"].get<double>() <= 1);
}

TEST_CASE("the exported conditional generator regenerates a fake from its manifest seed in PyTorch", "[cli][gan-cli]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  if (!mirage::test::python_has_torch()) {
    WARN("python3 with torch not available; skipped");
    return;
  }
  const std::string gan = conditional_run() + "/checkpoint";
  mirage::test::TempDir dir;
  const std::string out = dir.file("fake");
  auto r = mirage_run("generate --gan " + gan + " -n 8 --class 7 --seed 11 --bit-depth 16 --quiet --out " + out);
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  const auto line = read_jsonl(out + "/manifest.jsonl")[5];
  const std::string seed = std::to_string(line["seed"].get<uint64_t>());
  std::ofstream(dir.file("in.json")) << nlohmann::json({{"y", std::vector<int64_t>{7}}}).dump();
  auto py = run_command(std::string(MIRAGE_PYTHON) + " " + MIRAGE_SOURCE_DIR + "/tests/python/check_generator.py " +
                        gan + "/generator.pt " + dir.file("in.json") + " --latent-seeds " + seed);
  INFO(py.out);
  REQUIRE(py.exit_code == 0);
  auto j = nlohmann::json::parse(py.out.substr(py.out.find('{')));
  CHECK(j["metadata"]["kind"] == "generator");
  CHECK(j["metadata"]["num_classes"] == 10);
  REQUIRE(j["images"]["shape"] == std::vector<int64_t>({1, 1, 28, 28}));
  auto torch_image = torch::tensor(j["images"]["data"].get<std::vector<float>>()).view({1, 28, 28});
  auto png = mirage::read_image(out + "/" + line["file"].get<std::string>());
  REQUIRE(png.sizes() == torch_image.sizes());
  // The 16-bit PNG holds round(x * 65535); PyTorch's float may differ from LibTorch's in the last
  // bits (vectorised randn, other kernels), so allow two levels.
  auto quantised = (torch_image.clamp(0, 1) * 65535).round() / 65535;
  CHECK((quantised - png).abs().max().item<double>() <= 2.0 / 65535 + 1e-9);
}
