// mirage score, run as a user would: every image of a nested folder gets one JSON line in sorted
// order with exactly the p_fake the library gives for that file read by the detector's input
// policy, a corrupt file gets an error line and exit 1 without stopping the run, and bad
// detectors or flags exit 2 leaving no output file behind. Detectors are untrained nets exported
// by the library (what 'mirage train-detector' writes, minus the training).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "detectors/detector.h"
#include "detectors/detector_net.h"
#include "lib/classifier.h"
#include "lib/hash.h"
#include "lib/image/convert.h"
#include "lib/image/io.h"
#include "tests/cli/cli_util.h"
#include "tests/test_util.h"

using mirage::test::run_command;
using mirage::test::check_refused;
using mirage::test::count_files;
using mirage::test::read_json;
using mirage::test::read_jsonl;
namespace fs = std::filesystem;
using namespace mirage;

namespace {

// One thread: the suite shares its cores with others, where LibTorch's threads only contend.
mirage::test::CommandResult mirage_run(const std::string& args) { return mirage::test::mirage_run(args + " --threads 1"); }

std::vector<nlohmann::json> parse_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// An untrained detector with a steep calibration, so p_fake spreads over (0, 1) across images.
std::string make_detector(const std::string& path, const std::string& kind, int64_t channels, double threshold,
                          const std::string& policy) {
  torch::manual_seed(11);
  DetectorNetOptions options;
  options.kind = kind;
  options.channels = channels;
  options.size = 28;
  options.width = 8;
  DetectorNet net(options);
  net->set_calibration(kind == "cnn" ? 20.0 : 2.0, 0.0);
  DetectorInfo info;
  info.kind = kind;
  info.threshold = threshold;
  info.threshold_rule = "eer";
  info.input_policy = policy;
  export_detector(*net, info, path);
  return path;
}

// A textured test image [C, H, W] in [0,1], different for every seed.
at::Tensor test_image(int64_t c, int64_t h, int64_t w, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto ys = torch::linspace(0, 1, h).view({1, h, 1}), xs = torch::linspace(0, 1, w).view({1, 1, w});
  const auto base = 0.5 + 0.4 * torch::sin((ys * 5 + xs * 3) * static_cast<double>(1 + seed % 4));
  return (base + 0.2 * torch::rand({c, h, w}, gen)).clamp(0, 1);
}

// root/ holding images of several sizes and channels, nested two deep, plus files score skips
// (hidden, not an image); with `corrupt`, bad.png is "not a png" bytes. Returns the image paths
// in the order score must list them: sorted.
std::vector<std::string> make_images(const fs::path& root, bool corrupt) {
  fs::create_directories(root / "sub/deeper");
  write_image((root / "a.png").string(), test_image(1, 28, 28, 1));
  write_image((root / "b.png").string(), test_image(3, 40, 32, 2));  // RGB, not square: policy matters
  write_image((root / "sub/c.png").string(), test_image(1, 56, 44, 3));
  write_image((root / "sub/deeper/d.jpg").string(), test_image(3, 30, 30, 4), 95);
  write_image((root / ".hidden.png").string(), test_image(1, 28, 28, 5));
  std::ofstream(root / "notes.txt") << "not an image list, just notes\n";
  std::vector<std::string> paths = {(root / "a.png").string(), (root / "b.png").string()};
  if (corrupt) {
    std::ofstream(root / "bad.png") << "not a png";
    paths.push_back((root / "bad.png").string());
  }
  paths.push_back((root / "sub/c.png").string());
  paths.push_back((root / "sub/deeper/d.jpg").string());
  return paths;
}

// What the library says for each file: read by the detector's own shape and policy.
std::vector<double> library_p_fake(const std::string& detector_path, const std::vector<std::string>& paths,
                                   ResizePolicy policy) {
  auto detector = load_detector(detector_path, torch::kCPU);
  const ModelSpec& spec = detector->spec();
  std::vector<at::Tensor> images;
  for (const auto& path : paths) images.push_back(read_image(path, spec.channels, spec.height, spec.width, policy));
  torch::NoGradGuard no_grad;
  const at::Tensor p = detector->p_fake(torch::stack(images)).to(torch::kDouble).contiguous();
  return {p.data_ptr<double>(), p.data_ptr<double>() + p.numel()};
}

}  // namespace

TEST_CASE("score lists every image of a nested folder with the library's p_fake, a corrupt file gets an error line and exit 1",
          "[cli][score]") {
  mirage::test::TempDir dir;
  const std::string det = make_detector(dir.file("det.pt"), "cnn", 1, 0.5, "crop");
  const std::vector<std::string> paths = make_images(dir.path() / "data", true);
  const std::string out = dir.file("scores.jsonl"), summary = dir.file("summary.json");
  auto r = mirage_run("score --detector " + det + " " + dir.file("data") + " --out " + out + " --summary " + summary);
  INFO(r.out);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("bad.png: cannot decode image") != std::string::npos);
  CHECK(r.out.find("scored 4 of 5 images") != std::string::npos);  // the one-line summary on stderr
  const auto lines = read_jsonl(out);
  REQUIRE(lines.size() == paths.size());

  std::vector<std::string> good;
  for (size_t i = 0; i < lines.size(); ++i) {
    INFO(lines[i].dump());
    CHECK(lines[i]["path"] == paths[i]);
    if (paths[i].find("bad.png") != std::string::npos) {
      CHECK_FALSE(lines[i].contains("p_fake"));
      CHECK(lines[i]["error"].get<std::string>().find("cannot decode image") != std::string::npos);
      continue;
    }
    good.push_back(paths[i]);
  }
  const std::vector<double> expected = library_p_fake(det, good, ResizePolicy::kShorterSideCrop);
  int64_t fake = 0;
  double sum = 0;
  bool some_fake = false, some_real = false;
  for (size_t i = 0, k = 0; i < lines.size(); ++i) {
    if (lines[i].contains("error")) continue;
    const double p = lines[i]["p_fake"];
    INFO(lines[i].dump());
    CHECK(p >= 0.0);
    CHECK(p <= 1.0);
    CHECK(p == Approx(expected[k++]).margin(1e-5));
    CHECK(lines[i]["threshold"] == 0.5);
    CHECK(lines[i]["verdict"] == (p >= 0.5 ? "fake" : "real"));
    fake += p >= 0.5;
    some_fake = some_fake || p >= 0.5;
    some_real = some_real || p < 0.5;
    sum += p;
  }
  CHECK((some_fake && some_real));  // the verdict check saw both sides of the threshold

  const auto s = read_json(summary);
  CHECK(s["command"] == "score");
  CHECK(s["detector"]["path"] == det);
  CHECK(s["detector"]["sha256"] == sha256_file(det));
  CHECK(s["detector"]["kind"] == "cnn");
  CHECK(s["detector"]["input_policy"] == "crop");
  const auto& result = s["result"];
  CHECK(result["n"] == 5);
  CHECK(result["scored"] == 4);
  CHECK(result["failed"] == 1);
  CHECK(result["fake"] == fake);
  CHECK(result["real"] == 4 - fake);
  CHECK(result["mean_p_fake"].get<double>() == Approx(sum / 4).margin(1e-12));
  CHECK(result["threshold"] == 0.5);
  CHECK(result["threshold_source"] == "detector");
  CHECK(result["images_per_second"].get<double>() > 0);
  REQUIRE(s["failed_items"].size() == 1);
  CHECK(s["failed_items"][0]["path"] == dir.file("data") + "/bad.png");

}

TEST_CASE("score's lines do not depend on the batch size, a corrupt file inside a batch included", "[cli][score]") {
  // Batches of 2 put the corrupt file inside a batch that is read again one by one.
  mirage::test::TempDir dir;
  const std::string det = make_detector(dir.file("det.pt"), "cnn", 1, 0.5, "crop");
  make_images(dir.path() / "data", true);
  auto r1 = mirage_run("score -d " + det + " " + dir.file("data") + " -q --out " + dir.file("one.jsonl"));
  auto r2 = mirage_run("score -d " + det + " " + dir.file("data") + " --batch-size 2 -q --out " + dir.file("two.jsonl"));
  CHECK(r1.exit_code == 1);
  CHECK(r2.exit_code == 1);
  const auto lines = read_jsonl(dir.file("one.jsonl")), lines2 = read_jsonl(dir.file("two.jsonl"));
  REQUIRE(lines.size() == 5);
  REQUIRE(lines2.size() == lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    INFO(lines[i].dump() << " vs " << lines2[i].dump());
    CHECK(lines2[i]["path"] == lines[i]["path"]);
    CHECK(lines2[i].contains("error") == lines[i].contains("error"));
    if (!lines[i].contains("error")) {
      CHECK(lines2[i]["p_fake"].get<double>() == Approx(lines[i]["p_fake"].get<double>()).margin(1e-6));
    }
  }
}

TEST_CASE("score of readable files exits 0, in input order, stdout carries only JSON Lines, --threshold moves the verdicts",
          "[cli][score]") {
  mirage::test::TempDir dir;
  const std::string det = make_detector(dir.file("det.pt"), "cnn", 1, 0.5, "crop");
  std::vector<std::string> paths = make_images(dir.path() / "data", false);
  // A file named before a folder comes first: inputs keep their order.
  write_image(dir.file("z.png"), test_image(1, 28, 28, 9));
  paths.insert(paths.begin(), dir.file("z.png"));
  const std::vector<double> expected = library_p_fake(det, paths, ResizePolicy::kShorterSideCrop);
  std::vector<double> sorted = expected;
  std::sort(sorted.begin(), sorted.end());
  const double threshold = 0.5 * (sorted[2] + sorted[3]);  // between the 3rd and 4th of 5

  auto r = mirage_run("score -d " + det + " " + dir.file("z.png") + " " + dir.file("data") + " -q --threshold " +
                      std::to_string(threshold));
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  const auto lines = parse_lines(r.out);  // -q: nothing but the data on stdout and stderr
  REQUIRE(lines.size() == paths.size());
  int64_t fake = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    CHECK(lines[i]["path"] == paths[i]);
    const double p = lines[i]["p_fake"];
    CHECK(p == Approx(expected[i]).margin(1e-5));
    CHECK(lines[i]["threshold"].get<double>() == Approx(threshold).margin(1e-6));
    CHECK(lines[i]["verdict"] == (p >= lines[i]["threshold"].get<double>() ? "fake" : "real"));
    fake += lines[i]["verdict"] == "fake";
  }
  CHECK(fake == 2);

}

TEST_CASE("score fits images by the detector's stored input policy and channels, --list takes any list file",
          "[cli][score]") {
  // An RGB spectral detector that stretches: gray files are replicated to RGB, the 40x32 file is
  // squeezed, not cropped. Scored as crop, the non-square files would differ.
  mirage::test::TempDir dir;
  const std::string det = make_detector(dir.file("det.pt"), "spectral", 3, 0.5, "stretch");
  std::vector<std::string> paths = make_images(dir.path() / "data", false);
  std::reverse(paths.begin(), paths.end());  // a list keeps its own order
  std::ofstream list(dir.file("files"));  // no list extension: --list reads it anyway
  for (const auto& path : paths) list << fs::relative(path, dir.path()).string() << " 1\n";
  list.close();
  auto r = mirage_run("score -d " + det + " --list " + dir.file("files") + " -q --out " + dir.file("s.jsonl") +
                      " --summary -");
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  const auto summary = nlohmann::json::parse(r.out);  // -q and --summary -: stdout is the summary
  CHECK(summary["result"]["scored"] == 4);
  CHECK(summary["detector"]["input_policy"] == "stretch");
  const auto lines = read_jsonl(dir.file("s.jsonl"));
  REQUIRE(lines.size() == paths.size());
  const auto stretch = library_p_fake(det, paths, ResizePolicy::kStretch);
  const auto crop = library_p_fake(det, paths, ResizePolicy::kShorterSideCrop);
  CHECK(std::abs(stretch[2] - crop[2]) > 1e-4);  // b.png: the policies disagree there
  for (size_t i = 0; i < lines.size(); ++i) {
    CHECK(lines[i]["path"] == paths[i]);
    CHECK(lines[i]["p_fake"].get<double>() == Approx(stretch[i]).margin(1e-5));
  }
}

TEST_CASE("score refuses non-detector files, empty inputs and bad flags with exit 2, leaving no output",
          "[cli][score]") {
  mirage::test::TempDir dir;
  const std::string det = make_detector(dir.file("det.pt"), "cnn", 1, 0.5, "crop");
  make_images(dir.path() / "data", false);
  fs::create_directories(dir.path() / "out");
  fs::create_directories(dir.path() / "empty/.git");
  std::ofstream(dir.path() / "empty/.git/x.png") << "hidden";
  const std::string out = dir.file("out/scores.jsonl");
  const std::string data = " " + dir.file("data") + " --out " + out;

  SECTION("a classifier is not a detector") {
    torch::manual_seed(1);
    SmallCnn net(SmallCnnOptions{});
    export_small_cnn(net, {}, dir.file("classifier.pt"));
    check_refused(mirage_run("score -d " + dir.file("classifier.pt") + data), "not a mirage detector");
  }
  SECTION("a file that is not TorchScript") {
    std::ofstream(dir.file("junk.pt")) << "junk";
    auto r = mirage_run("score -d " + dir.file("junk.pt") + data);
    INFO(r.out);
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("junk.pt") != std::string::npos);
  }
  SECTION("a folder without images") {
    check_refused(mirage_run("score -d " + det + " " + dir.file("empty") + " --out " + out), "no images");
  }
  SECTION("a missing input") {
    check_refused(mirage_run("score -d " + det + " " + dir.file("nope") + " --out " + out),
                  dir.file("nope") + ": no such file or directory");
  }
  SECTION("a threshold outside [0,1]") {
    check_refused(mirage_run("score -d " + det + data + " --threshold 1.5"), "--threshold");
  }
  SECTION("no inputs at all") { check_refused(mirage_run("score -d " + det + " --out " + out), "no images given"); }
  SECTION("no detector") { check_refused(mirage_run("score" + data), "--detector"); }
  CHECK(count_files(dir.path() / "out") == 0);  // no scores.jsonl, no temporary file
}

TEST_CASE("score --help documents the input policy and exit codes", "[cli][score]") {
  auto r = mirage_run("score --help");
  INFO(r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("crop = scale the shorter side then centre-crop") != std::string::npos);
  CHECK(r.out.find("BT.601") != std::string::npos);
  CHECK(r.out.find("Exit codes: 0") != std::string::npos);
  CHECK(r.out.find("examples:") != std::string::npos);
}
