// mirage train-detector / eval-detector, run as a user would: every kind trains, saves a detector
// that loads back (and in PyTorch), reports honest metrics, and bad input is refused cleanly.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include "gan/sampling.h"
#include "lib/image/io.h"
#include "reports/detector_inputs.h"
#include "tests/cli/cli_util.h"
#include "tests/test_util.h"

using mirage::test::run_command;
using mirage::test::check_refused;
using mirage::test::require_ok;
using mirage::test::read_json;
namespace fs = std::filesystem;

namespace {

mirage::test::CommandResult mirage_run(const std::string& args) { return mirage::test::mirage_run(args + " --threads 1 --quiet"); }

const mirage::test::TempDir& shared_dir() {
  static mirage::test::TempDir dir;
  return dir;
}

// A DCGAN trained 30 tiny steps: its fakes are easy to tell from Fashion-MNIST.
const std::string& gan() { return mirage::test::tiny_gan(30, 512, 32); }

// 300 of its fakes as PNG files.
const std::string& fake_folder() {
  static const std::string folder = [] {
    const std::string out = shared_dir().file("fakes");
    require_ok(mirage_run("generate --gan " + gan() + " -n 300 --seed 2 --out " + out));
    return out + "/images";  // not grid.png beside it
  }();
  return folder;
}

const std::string& cnn_detector() {
  static const std::string det = [] {
    const std::string out = shared_dir().file("cnn.pt");
    require_ok(mirage_run("train-detector --kind cnn --fake " + gan() + " --limit 600 --epochs 2 --width 8 --seed 3 --out " + out));
    return out;
  }();
  return det;
}

}  // namespace

TEST_CASE("train-detector cnn on a GAN's fakes sampled on the fly: calibrated detector, report, PyTorch loads it",
          "[cli][detector]") {
  REQUIRE(mirage::test::fashion_mnist_available());
  const std::string det = cnn_detector();
  const auto report = read_json(shared_dir().file("cnn.json"));
  CHECK(report["command"] == "train-detector");
  CHECK(report["validation"]["auc"].get<double>() > 0.95);
  CHECK(report["data"]["n_train_fake"] == "per batch");
  CHECK(report["data"]["n_val_real"].get<int64_t>() == 120);
  CHECK(report["history"].size() >= 1);
  const double t = report["threshold"].get<double>();
  CHECK(t > 0);
  CHECK(t < 1);
  CHECK(report["detector"]["sha256"].get<std::string>().size() == 64);
  if (mirage::test::python_has_torch()) {
    auto r = run_command(std::string(MIRAGE_PYTHON) + " -c \"import torch,json; e={'mirage.json':''}; m=torch.jit.load('" + det +
                         "', _extra_files=e); x=torch.rand(2,1,28,28); p=m.p_fake(x); print(json.loads(e['mirage.json'])['kind'], "
                         "float((torch.softmax(m(x),1)[:,1]-p).abs().max()))\"");
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("detector") == 0);
    CHECK(std::stod(r.out.substr(r.out.find(' ') + 1)) < 1e-5);
  }
}

TEST_CASE("eval-detector reports overall, per-source and robustness metrics", "[cli][detector]") {
  REQUIRE(mirage::test::fashion_mnist_available());
  const std::string out = shared_dir().file("eval.json");
  require_ok(mirage_run("eval-detector " + cnn_detector() + " --fake gan=" + gan() + " --fake files=" + fake_folder() +
                        " --limit 300 --fake-count 300 --jpeg 75 --blur 1 --pgd 1/255,64/255 --pgd-steps 5 --seed 4 --out " + out));
  const auto r = read_json(out);
  const auto& overall = r["metrics"]["overall"];
  CHECK(overall["n_real"].get<int64_t>() == 300);
  CHECK(overall["n_fake"].get<int64_t>() == 600);
  CHECK(overall["auc"].get<double>() > 0.9);
  for (const char* key : {"average_precision", "accuracy", "tpr", "fpr", "tpr_at_1pct_fpr", "eer", "ece"}) CHECK(overall.contains(key));
  CHECK(r["metrics"]["per_source"].contains("gan"));
  CHECK(r["metrics"]["per_source"].contains("files"));
  CHECK(r["metrics"]["per_source"]["files"]["n_fake"].get<int64_t>() == 300);
  CHECK(r["metrics"]["per_class"].size() == 10);  // reals of each class vs every (unconditional) fake
  CHECK(r["metrics"]["per_class_fakes"] == "all fakes");
  CHECK(r["robustness"]["jpeg"][0]["quality"].get<double>() == 75);
  CHECK(r["robustness"]["blur"][0].contains("auc"));
  // A white-box attack on an undefended detector lowers its AUC, the more the larger eps.
  const auto& pgd = r["robustness"]["pgd"];
  CHECK(pgd[0]["auc"].get<double>() <= overall["auc"].get<double>());
  CHECK(pgd[1]["auc"].get<double>() < pgd[0]["auc"].get<double>());
  CHECK(pgd[1]["auc"].get<double>() < 0.5);
}

TEST_CASE("train-detector spectral, discriminator and ensemble kinds", "[cli][detector]") {
  REQUIRE(mirage::test::fashion_mnist_available());
  const std::string spectral = shared_dir().file("spectral.pt");
  require_ok(mirage_run("train-detector --kind spectral --fake " + fake_folder() + " --limit 300 --epochs 3 --threshold fpr:0.05 --seed 5 --out " + spectral));
  const auto s = read_json(shared_dir().file("spectral.json"));
  CHECK(s["validation"]["auc"].get<double>() > 0.9);
  CHECK(s["validation"]["fpr"].get<double>() <= 0.05);
  CHECK(s["data"]["n_train_fake"].get<int64_t>() == 240);

  const std::string disc = shared_dir().file("disc.pt");
  require_ok(mirage_run("train-detector --kind discriminator --gan " + gan() + " --limit 300 --seed 6 --out " + disc));
  const auto d = read_json(shared_dir().file("disc.json"));
  CHECK(d["history"].empty());  // calibrated, not trained
  CHECK(d["validation"].contains("calibration"));

  const std::string ensemble = shared_dir().file("ensemble.pt");
  require_ok(mirage_run("train-detector --kind ensemble --members " + cnn_detector() + "," + spectral + " --fake " + gan() +
                        " --limit 300 --seed 7 --out " + ensemble));
  const auto e = read_json(shared_dir().file("ensemble.json"));
  CHECK(e["validation"]["auc"].get<double>() > 0.9);
  // Its own eval agrees that it is an ensemble detector.
  const std::string eval = shared_dir().file("ensemble-eval.json");
  require_ok(mirage_run("eval-detector " + ensemble + " --fake " + gan() + " --limit 200 --fake-count 200 --out " + eval));
  CHECK(read_json(eval)["detector"]["spec"]["extra"]["detector"]["kind"] == "ensemble");
}

TEST_CASE("train-detector adversarial: clean vs attacked inputs, detection rate per attack", "[cli][detector]") {
  REQUIRE(mirage::test::fashion_mnist_available());
  const std::string classifier = shared_dir().file("classifier.pt");
  require_ok(mirage_run("train-classifier --out " + classifier + " --limit 512 --epochs 1 --seed 2"));
  const std::string det = shared_dir().file("adv.pt");
  // Validation AUC climbs with plateaus (about 0.85 for 2-3 epochs before it jumps past 0.95 on
  // every seed tried); patience 3 could stop on such a plateau, so this run waits longer.
  require_ok(mirage_run("train-detector --kind adversarial --model " + classifier +
                        " -a fgsm:eps=16/255 -a pgd:eps=16/255,steps=3 --limit 400 --epochs 20 --patience 8 --lr 2e-3 --width 8 --seed 8 --out " + det));
  const auto r = read_json(shared_dir().file("adv.json"));
  const auto& per = r["validation"]["per_attack"];
  REQUIRE(per.contains("fgsm:eps=16/255"));
  REQUIRE(per.contains("pgd:eps=16/255,steps=3"));
  CHECK(per["fgsm:eps=16/255"]["detection_rate"].get<double>() > 0.8);
  CHECK(per["pgd:eps=16/255,steps=3"]["n_val"].get<int64_t>() == 80);
  CHECK(r["validation"]["auc"].get<double>() > 0.9);
}

TEST_CASE("train-detector and eval-detector refuse bad input with exit 2 and leave nothing behind", "[cli][detector]") {
  REQUIRE(mirage::test::fashion_mnist_available());
  mirage::test::TempDir dir;
  const std::string out = dir.file("det.pt");
  check_refused(mirage_run("train-detector --kind cnn --fake " + gan() + " --threshold fpr:1.5 --out " + out), "(0, 1)");
  check_refused(mirage_run("train-detector --kind magic --fake " + gan() + " --out " + out), "--kind");
  check_refused(mirage_run("train-detector --kind cnn --out " + out), "--fake");
  // Ranges take fractions like every other number flag: the blur range here parses, and the
  // refusal is the JPEG range's.
  check_refused(mirage_run("train-detector --kind cnn --fake " + gan() + " --blur-sigma 1/255,1/2 --jpeg-quality 0,100 --out " + out), "--jpeg-quality");
  check_refused(mirage_run("train-detector --kind cnn --fake " + gan() + " --blur-sigma 0.5 --out " + out), "MIN,MAX");
  check_refused(mirage_run("train-detector --kind adversarial --model " + gan() + "/generator.pt -a pgd:eps --out " + out), "key=value");
  check_refused(mirage_run("train-detector --kind cnn --fake " + dir.file("nowhere") + " --out " + out), "nowhere");
  fs::create_directories(dir.file("empty"));
  check_refused(mirage_run("train-detector --kind cnn --fake " + dir.file("empty") + " --out " + out), "empty");
  check_refused(mirage_run("train-detector --kind adversarial --fake " + gan() + " --out " + out), "--model");
  CHECK(!fs::exists(out));
  CHECK(!fs::exists(dir.file("det.json")));
  // A GAN checkpoint is not a detector.
  check_refused(mirage_run("eval-detector " + gan() + "/generator.pt --fake " + gan()), "not a mirage detector");
  check_refused(mirage_run("eval-detector " + cnn_detector() + " --fake " + gan() + " --jpeg 0"), "--jpeg");
  CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator{}) == 1);  // just "empty"
}

TEST_CASE("blind-spots ranks slices worst first, keeps examples that regenerate, and refuses bad input", "[cli][blindspots]") {
  REQUIRE(mirage::test::fashion_mnist_available());
  const std::string out = shared_dir().file("bs");
  require_ok(mirage_run("blind-spots " + cnn_detector() + " --fake gan=" + gan() + " --n 200 --limit 200 --jpeg 50 --blur 2 --resize 0.5 "
                        "--noise 0.1 --crop 0.75 --eps-linf 2/255,16/255 --eps-l2 none --evasion-samples 32 --pgd-steps 5 "
                        "--square-queries 50 --latent-search 8 --search-steps 5 --clusters 2 --min-slice 1 --seed 6 --out " + out));
  const auto r = read_json(out + "/findings.json");
  CHECK(r["command"] == "blind-spots");
  CHECK(r["overall"]["fakes_called_real"]["n"].get<int64_t>() == 200);
  CHECK(r["overall"]["reals_called_fake"]["n"].get<int64_t>() == 200);
  const auto& f = r["findings"];
  REQUIRE(f.size() >= 10);
  std::set<std::string> searches;
  double prev = 2;
  for (size_t i = 0; i < f.size(); ++i) {
    const auto& x = f[i];
    searches.insert(x["search"].get<std::string>());
    CHECK(x["rank"].get<size_t>() == i + 1);
    const double lo = x["ci95"][0].get<double>();
    CHECK(lo <= prev + 1e-12);  // ranked by the interval's lower end
    prev = lo;
    CHECK(x["failures"].get<int64_t>() <= x["n"].get<int64_t>());
    CHECK(x["rate"].get<double>() >= lo);
    for (const auto& e : x["examples"]) {
      if (e.contains("image")) CHECK(fs::exists(out + "/" + e["image"].get<std::string>()));
      if (x["population"] == "fakes" && x["search"] != "latent-search") {
        REQUIRE(e.contains("reproduce"));
        CHECK(e["reproduce"].get<std::string>().find("--latent-seeds " + std::to_string(e["seed"].get<uint64_t>())) != std::string::npos);
      }
    }
  }
  for (const char* s : {"class", "post-processing", "evasion", "latent-search"}) CHECK(searches.count(s) == 1);
  // A 16/255 PGD evades more than a 2/255 one.
  double small = -1, large = -1;
  for (const auto& x : f) {
    if (x["slice"] == "pgd-linf") (x["parameters"]["eps"].get<double>() > 0.05 ? large : small) = x["rate"].get<double>();
  }
  CHECK(small >= 0);
  CHECK(large >= small);

  check_refused(mirage_run("blind-spots " + cnn_detector() + " --out " + shared_dir().file("bs2")), "--fake is required");
  check_refused(mirage_run("blind-spots " + gan() + "/generator.pt --fake " + gan() + " --out " + shared_dir().file("bs3")), "detector");
  check_refused(mirage_run("blind-spots " + cnn_detector() + " --fake " + gan() + " --out " + out), "exists");
  check_refused(mirage_run("blind-spots " + cnn_detector() + " --fake " + gan() + " --jpeg 101 --out " + shared_dir().file("bs4")), "--jpeg");
  CHECK_FALSE(fs::exists(shared_dir().file("bs3")));
  CHECK_FALSE(fs::exists(shared_dir().file("bs4")));
}

TEST_CASE("the detector commands' GAN fakes are fake i of the run seed: 'generate --latent-seeds' remakes any of them", "[cli][detector]") {
  const std::string g = gan();
  mirage::ImageSource source = mirage::open_image_source("dcgan=" + g, 1, 28, "crop", torch::kCPU);
  REQUIRE(source.is_gan());
  CHECK(source.name == "dcgan");
  const auto a = mirage::sample_source(source, 300, 11, 1, 28);
  REQUIRE(a.images.size(0) == 300);
  REQUIRE(a.ids.size() == 300);
  // Fakes 0..299 of seed 11 whatever the batch: fake 257 sits in the second batch of 256.
  for (int64_t i : {0, 5, 257}) {
    const uint64_t seed = mirage::fake_seed(11, i);
    CHECK(a.ids[static_cast<size_t>(i)] == "dcgan:seed:" + std::to_string(seed));
    const auto alone = mirage::generate_fakes(*source.generator, {seed}, {}, 0, true);
    CHECK(torch::allclose(a.images[i], alone[0], 1e-5, 1e-5));
  }
  CHECK(torch::allclose(mirage::sample_source(source, 300, 11, 1, 28).images, a.images, 1e-5, 1e-5));
  CHECK_FALSE(torch::allclose(mirage::sample_source(source, 300, 12, 1, 28).images, a.images, 1e-3, 1e-3));
  // The CLI regenerates one of them from its seed alone.
  mirage::test::TempDir dir;
  const uint64_t seed = mirage::fake_seed(11, 5);
  require_ok(mirage_run("generate --gan " + g + " --latent-seeds " + std::to_string(seed) + " --out " + dir.file("one")));
  CHECK((mirage::read_image(dir.file("one/images/000000.png"), 1, 28, 28) - a.images[5]).abs().max().item<double>() <= 0.5 / 255 + 1e-6);
}
