// train_detector_run (the work of `mirage train-detector`) on two folders of PNGs, the fakes
// with a checkerboard artefact: the reals are split as the report says, the kind's defaults are applied, the file
// written is a detector whose stored threshold and training summary are the report's, and bad
// configs are UsageErrors before any source is opened.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <filesystem>

#include "attacks/attack.h"
#include "detectors/detector.h"
#include "lib/error.h"
#include "lib/image/io.h"
#include "reports/detector_training_run.h"
#include "tests/test_util.h"

using mirage::test::message_of;

namespace {

// `n` gray 16x16 PNGs of noise around 0.5 in `dir`/`name`/, with a checkerboard of amplitude
// `checker` on top: the up-sampling artefact a spectral detector sees at the highest frequency.
std::string write_folder(const mirage::test::TempDir& dir, const std::string& name, int64_t n, double checker, uint64_t seed) {
  const std::string folder = dir.file(name);
  std::filesystem::create_directories(folder);
  torch::manual_seed(seed);
  const auto ramp = torch::arange(16, torch::kInt64);
  const at::Tensor board = ((ramp.view({16, 1}) + ramp.view({1, 16})).remainder(2).to(torch::kFloat32) - 0.5).unsqueeze(0);
  for (int64_t i = 0; i < n; ++i) {
    const at::Tensor image = (0.5 + 0.2 * (torch::rand({1, 16, 16}) - 0.5) + checker * board).clamp(0, 1);
    mirage::write_image(folder + "/" + std::to_string(i) + ".png", image);
  }
  return folder;
}

bool mentions(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("train_detector_run splits the reals as reported and writes the detector the report describes",
          "[reports][detector-training]") {
  mirage::test::TempDir dir;
  mirage::DetectorTrainingConfig c;
  c.kind = "spectral";
  c.real = write_folder(dir, "reals", 100, 0, 11);
  c.fakes = {"bright=" + write_folder(dir, "fakes", 100, 0.3, 12)};
  c.limit = 80;
  c.val_fraction = 0.25;
  c.train.epochs = 4;
  c.net.features = "radial";
  c.train.lr = -1;  // the kind's defaults
  c.train.weight_decay = -1;
  c.train.batch_size = 16;
  c.train.blur_prob = 0;
  c.train.jpeg_prob = 0;
  const std::string out = dir.file("det.pt");
  const mirage::DetectorTrainingResult r = mirage::train_detector_run(c, out, 7, torch::kCPU);
  const nlohmann::json& report = r.report;

  CHECK(report["kind"] == "spectral");
  const int64_t n_train = report["data"]["n_train_real"].get<int64_t>();
  const int64_t n_val = report["data"]["n_val_real"].get<int64_t>();
  CHECK(n_train + n_val == 80);
  CHECK(n_train > 0);
  CHECK(n_val > 0);
  CHECK(report["data"]["n_val_fake"].get<int64_t>() > 0);
  CHECK(report["config"]["fakes"] == nlohmann::json(c.fakes));
  CHECK(report["config"]["train"]["epochs"] == 4);
  CHECK(report["config"]["train"]["lr"].get<double>() == Approx(1e-2));
  CHECK(report["config"]["train"]["weight_decay"].get<double>() == Approx(1e-3));
  CHECK(report["history"].size() >= 1);  // early stopping may end it sooner
  CHECK(report["history"].size() <= 4);
  CHECK(report["config"]["net"]["features"] == "radial");
  CHECK(report["validation"]["auc"].get<double>() > 0.9);  // the checkerboard alone separates them

  CHECK(r.spec.channels == 1);
  CHECK(r.spec.height == 16);
  auto det = mirage::load_detector(out, torch::kCPU);
  CHECK(det->info().kind == "spectral");
  CHECK(det->threshold() == report["threshold"].get<double>());
  CHECK(det->info().threshold_rule == "eer");
  CHECK(det->info().training["n_train_real"].get<int64_t>() == n_train);
  CHECK(det->spec().height == 16);
}

TEST_CASE("train_detector_run refuses a bad kind, an unknown attack or an ambiguous GAN before opening any source",
          "[reports][detector-training]") {
  mirage::test::TempDir dir;
  const std::string out = dir.file("det.pt");
  const std::string nowhere = dir.file("nowhere");  // any source opened would be an InputError

  mirage::DetectorTrainingConfig bad_kind;
  bad_kind.kind = "magic";
  bad_kind.real = nowhere;
  bad_kind.fakes = {nowhere};
  CHECK(mentions(message_of<mirage::UsageError>([&] { mirage::check_detector_training_config(bad_kind); }), "--kind"));
  CHECK(mentions(message_of<mirage::UsageError>([&] { mirage::train_detector_run(bad_kind, out, 1, torch::kCPU); }), "magic"));

  mirage::DetectorTrainingConfig bad_attack;
  bad_attack.kind = "adversarial";
  bad_attack.real = nowhere;
  bad_attack.model = nowhere + ".pt";
  bad_attack.attacks = {mirage::parse_attack_spec("no-such-attack:eps=0.1")};
  CHECK(mentions(message_of<mirage::UsageError>([&] { mirage::train_detector_run(bad_attack, out, 1, torch::kCPU); }),
                 "no-such-attack"));

  mirage::DetectorTrainingConfig two_gans;
  two_gans.kind = "discriminator";
  two_gans.real = nowhere;
  two_gans.fakes = {nowhere + "1", nowhere + "2"};
  CHECK(mentions(message_of<mirage::UsageError>([&] { mirage::train_detector_run(two_gans, out, 1, torch::kCPU); }), "--gan"));

  CHECK_FALSE(std::filesystem::exists(out));
}
