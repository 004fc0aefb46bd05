// What a GAN run derives and writes beside its checkpoint: latent seeds and classes of fakes,
// source-domain data sets mapped from the target images, the metrics log a resumed run
// continues, and the toy's scatter plot.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gan/data.h"
#include "gan/metrics.h"
#include "gan/run.h"
#include "gan/sampling.h"
#include "lib/error.h"
#include "tests/test_util.h"

using namespace mirage;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::shared_ptr<Dataset> ramp_data(int64_t n) {
  auto images = torch::arange(n * 3 * 2 * 2, torch::kFloat).view({n, 3, 2, 2}) / static_cast<float>(n * 12);
  DatasetInfo info;
  info.name = "ramp";
  info.channels = 3;
  info.height = info.width = 2;
  info.num_classes = 4;
  info.class_names = {"a", "b", "c", "d"};
  return std::make_shared<TensorDataset>(images, torch::arange(n, torch::kLong) % 4, info);
}

}  // namespace

TEST_CASE("fake seeds, latents and classes are fake i's wherever a batch starts", "[gan][sampling]") {
  const auto all = fake_seeds(42, 10);
  REQUIRE(all.size() == 10);
  for (int64_t i = 0; i < 10; ++i) CHECK(all[static_cast<size_t>(i)] == fake_seed(42, i));
  const auto tail = fake_seeds(42, 4, 6);
  CHECK(std::vector<uint64_t>(all.begin() + 6, all.end()) == tail);

  const auto z = latents_for_seeds(tail, 8, 1.5);
  REQUIRE(z.sizes() == at::IntArrayRef({4, 8}));
  for (int64_t i = 0; i < 4; ++i) CHECK(torch::equal(z[i], latent_for_seed(tail[static_cast<size_t>(i)], 8, 1.5)));
  CHECK(z.abs().max().item<double>() <= 1.5);

  CHECK(fake_classes(0, 5).empty());
  CHECK(fake_classes(3, 5, 4) == std::vector<int64_t>({1, 2, 0, 1, 2}));
  CHECK(fake_classes(3, 3, 0, 2) == std::vector<int64_t>({2, 2, 2}));
}

TEST_CASE("a mapped data set is aligned with its source, unlabelled and named for the map", "[gan][data]") {
  auto data = ramp_data(2500);  // more than one chunk of 1000
  auto gray = [](const at::Tensor& x) { return x.mean(1, true); };
  auto mapped = mapped_dataset(*data, gray, 1, "gray");
  REQUIRE(mapped->size() == 2500);
  CHECK(mapped->info().name == "gray(ramp)");
  CHECK(mapped->info().channels == 1);
  CHECK(mapped->info().num_classes == 0);
  CHECK(mapped->info().class_names.empty());
  Batch b = mapped->get({0, 999, 1000, 2499});
  Batch src = data->get({0, 999, 1000, 2499});
  CHECK((b.labels == -1).all().item<bool>());
  // Held as uint8: within half a level of the map's output.
  CHECK((b.images - gray(src.images)).abs().max().item<double>() <= 0.5 / 255 + 1e-6);

  auto wrong = [](const at::Tensor& x) { return x; };  // 3 channels, not the 1 declared
  CHECK_THROWS_AS(mapped_dataset(*data, wrong, 1, "bad"), InternalError);
}

TEST_CASE("a resumed metrics log keeps the lines up to its step and stops at a line cut short", "[gan][run]") {
  test::TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  std::ofstream(path) << "{\"step\": 10}\n{\"step\": 20}\n{\"step\": 30}\n";
  {
    auto log = open_metrics_log(path, true, 20);
    log << "{\"step\": 25}\n";
  }
  CHECK(read_text(path) == "{\"step\": 10}\n{\"step\": 20}\n{\"step\": 25}\n");

  std::ofstream(path) << "{\"step\": 10}\n{\"step\": 2";  // killed mid-line
  open_metrics_log(path, true, 100).close();
  CHECK(read_text(path) == "{\"step\": 10}\n");

  SECTION("a new run starts the log empty") {
    open_metrics_log(path, false, 0).close();
    CHECK(read_text(path).empty());
  }
}

TEST_CASE("the toy scatter plot puts samples white and mode centres grey, y up", "[gan][run]") {
  ToyMixture ring = toy_mixture("ring8");
  const double extent = ring.centers.abs().max().item<double>() + 1.5;
  // One point at the top-left corner of the plotted square, one far outside it.
  auto points = torch::tensor({-extent, extent, 100.0, 100.0}, torch::kFloat).view({2, 2});
  at::Tensor img = toy_scatter_image(points, ring, 64);
  REQUIRE(img.sizes() == at::IntArrayRef({1, 64, 64}));
  CHECK(img[0][0][0].item<float>() == 1.0f);
  CHECK((img == 1.0f).sum().item<int64_t>() == 1);  // the far point is dropped
  CHECK((img == 0.5f).sum().item<int64_t>() == ring.centers.size(0));
  // Mode centres lie on the circle of radius 2: none in the plot's middle pixel.
  CHECK(img[0][32][32].item<float>() == 0.0f);
}
