// `mirage train-gan` as library calls: the data a config names completes it (shape, classes,
// the edge-map source domain, validation images, steps from epochs), and a training run writes
// its folder, with a resumed run's metrics log cut back to its checkpoint.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <fstream>

#include "gan/trainer.h"
#include "reports/gan_training_run.h"
#include "tests/test_util.h"

using mirage::GanConfig;

TEST_CASE("the GAN training data completes the config from the images it opens", "[reports][gan_training_run]") {
  MIRAGE_NEEDS_FASHION_MNIST();
  GanConfig c;
  c.arch = "pix2pix";
  c.source = "edges";
  c.data = "fashion-mnist:train";
  c.limit = 40;
  c.batch_size = 8;
  auto d = mirage::open_gan_training_data(c, false, false, /*epochs=*/2, "", torch::kCPU);
  CHECK(d.train->size() == 40);
  CHECK(c.channels == 1);
  CHECK(c.size == 28);
  CHECK(c.source_channels == 1);
  CHECK(d.source->size() == 40);  // edge maps aligned with the targets
  CHECK(c.steps == 2 * (40 / 8));
  CHECK(c.loss == "ns");          // finalized
  REQUIRE(d.val);                 // Fashion-MNIST's own test split
  CHECK(d.val->info().name.find("test") != std::string::npos);
  REQUIRE(d.val_stream);
  // A size the user set is kept and the images are fitted to it; the data's otherwise.
  GanConfig sized;
  sized.data = "fashion-mnist:train";
  sized.limit = 16;
  sized.size = 32;
  auto s = mirage::open_gan_training_data(sized, false, true, 0, "", torch::kCPU);
  CHECK(s.train->info().height == 32);
  CHECK(sized.size == 32);
  CHECK_FALSE(s.val);  // a noise GAN has no image-to-image figures
  GanConfig conditional;
  conditional.data = "fashion-mnist:train";
  conditional.limit = 16;
  conditional.conditional = true;
  mirage::open_gan_training_data(conditional, false, false, 0, "", torch::kCPU);
  CHECK(conditional.num_classes == 10);
}

TEST_CASE("a GAN training run writes its folder and a resumed run's metrics log continues from the checkpoint", "[reports][gan_training_run]") {
  mirage::test::TempDir dir;
  GanConfig c;
  c.arch = "toy";
  c.steps = 20;
  c.batch_size = 16;
  c.log_every = 5;
  c.sample_every = 10;
  c.checkpoint_every = 10;
  c.seed = 4;
  auto d = mirage::open_gan_training_data(c, false, false, 0, "", torch::kCPU);
  {
    mirage::GanTrainer trainer(c, *d.stream, torch::kCPU);
    nlohmann::json summary = mirage::run_gan_training(trainer, d, dir.path().string(), false);
    CHECK(summary["steps"] == 20);
    CHECK(summary["resumed"] == false);
    REQUIRE(summary["samples"].size() == 2);
    for (const auto& f : summary["samples"]) CHECK(std::filesystem::exists(dir.path() / f.get<std::string>()));
    CHECK(summary["mode_coverage"]["modes"] == 8);
    CHECK(summary["config"] == trainer.config().to_json());
  }
  const std::string log = dir.file("metrics.jsonl");
  CHECK(mirage::test::read_jsonl(log).size() == 4);
  // A run killed after its step-20 checkpoint may have logged past it: those lines go.
  std::ofstream(log, std::ios::app) << "{\"step\": 25}\n";
  GanConfig more = mirage::read_checkpoint_config(dir.file("checkpoint"));
  more.steps = 30;
  auto d2 = mirage::open_gan_training_data(more, true, true, 0, "", torch::kCPU);
  mirage::GanTrainer resumed(more, *d2.stream, torch::kCPU);
  resumed.resume(dir.file("checkpoint"));
  nlohmann::json summary = mirage::run_gan_training(resumed, d2, dir.path().string(), true);
  CHECK(summary["steps"] == 30);
  const auto lines = mirage::test::read_jsonl(log);
  REQUIRE(lines.size() == 6);
  for (size_t i = 0; i < lines.size(); ++i) CHECK(lines[i]["step"] == static_cast<int64_t>(5 * (i + 1)));
}
