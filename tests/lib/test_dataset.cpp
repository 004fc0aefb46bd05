#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <set>

#include "lib/dataset.h"
#include "lib/error.h"
#include "lib/image_tensor.h"

using namespace mirage;

namespace {

std::shared_ptr<Dataset> toy(int64_t n) {
  auto images = torch::arange(n).to(torch::kByte).view({n, 1, 1, 1}).expand({n, 1, 4, 4}).contiguous();
  auto labels = torch::arange(n) % 3;
  return std::make_shared<TensorDataset>(images, labels, DatasetInfo{"toy", 0, 0, 0, 0, {}});
}

std::vector<int64_t> epoch_order(BatchLoader& loader, Dataset&, int64_t* max_batch = nullptr) {
  std::vector<int64_t> order;
  Batch b;
  while (loader.next(b)) {
    if (max_batch) *max_batch = std::max(*max_batch, b.size());
    for (int64_t i = 0; i < b.size(); ++i) order.push_back(std::llround(b.images[i][0][0][0].item<float>() * 255));
  }
  return order;
}

}  // namespace

TEST_CASE("shuffled order depends only on the seed", "[dataset][determinism]") {
  CHECK(shuffled_indices(100, 7) == shuffled_indices(100, 7));
  CHECK(shuffled_indices(100, 7) != shuffled_indices(100, 8));
  auto p = shuffled_indices(100, 7);
  CHECK(std::set<int64_t>(p.begin(), p.end()).size() == 100);
}

TEST_CASE("loader visits every sample once per epoch, in batches no larger than asked", "[dataset]") {
  auto ds = toy(50);
  int64_t batch_size = GENERATE(1, 7, 50, 64);
  bool shuffle = GENERATE(false, true);
  LoaderOptions o;
  o.batch_size = batch_size;
  o.shuffle = shuffle;
  o.seed = 3;
  BatchLoader loader(*ds, o);
  int64_t max_batch = 0;
  auto order = epoch_order(loader, *ds, &max_batch);
  CHECK(order.size() == 50);
  CHECK(std::set<int64_t>(order.begin(), order.end()).size() == 50);
  CHECK(max_batch == std::min<int64_t>(batch_size, 50));
  CHECK(loader.num_batches() == (50 + batch_size - 1) / batch_size);
}

TEST_CASE("shuffled epochs differ from each other but repeat for the same seed", "[dataset][determinism]") {
  auto ds = toy(40);
  LoaderOptions o;
  o.batch_size = 16;
  o.shuffle = true;
  o.seed = 11;
  BatchLoader a(*ds, o), b(*ds, o);
  auto a0 = epoch_order(a, *ds);
  a.start_epoch(1);
  auto a1 = epoch_order(a, *ds);
  auto b0 = epoch_order(b, *ds);
  CHECK(a0 == b0);
  CHECK(a0 != a1);
}

TEST_CASE("limit takes the first N samples", "[dataset]") {
  auto ds = toy(30);
  LoaderOptions o;
  o.batch_size = 4;
  o.limit = 10;
  BatchLoader loader(*ds, o);
  auto order = epoch_order(loader, *ds);
  REQUIRE(order.size() == 10);
  CHECK(order.front() == 0);
  CHECK(order.back() == 9);
}

TEST_CASE("split is disjoint, complete and seeded", "[dataset]") {
  auto [train, val] = split_indices(100, 0.2, 5);
  CHECK(val.size() == 20);
  CHECK(train.size() == 80);
  std::set<int64_t> all(train.begin(), train.end());
  all.insert(val.begin(), val.end());
  CHECK(all.size() == 100);
  CHECK(split_indices(100, 0.2, 5).second == val);
  CHECK_THROWS_AS(split_indices(100, 1.0, 5), UsageError);
}

TEST_CASE("subset maps indices onto its base", "[dataset]") {
  auto ds = toy(10);
  SubsetDataset sub(ds, {9, 3}, "x");
  Batch b = sub.get({1, 0});
  CHECK(b.ids == std::vector<std::string>{"toy:3", "toy:9"});
  CHECK(sub.info().name == "toy[x]");
}

TEST_CASE("fit_batch converts channels and size and stays in [0,1]", "[image_tensor]") {
  auto x = torch::rand({2, 1, 28, 28});
  auto rgb = fit_batch(x, 3, 28, 28);
  CHECK(rgb.sizes() == torch::IntArrayRef({2, 3, 28, 28}));
  CHECK(torch::equal(rgb[0][1], x[0][0]));
  auto gray = fit_batch(rgb, 1, 28, 28);
  CHECK(torch::allclose(gray, x, 1e-5, 1e-5));  // luma weights sum to 1
  auto small = fit_batch(x, 1, 14, 14);
  CHECK(small.sizes() == torch::IntArrayRef({2, 1, 14, 14}));
  CHECK(small.min().item<float>() >= 0.0f);
  CHECK(small.max().item<float>() <= 1.0f);
  CHECK(fit_batch(x, 1, 28, 28).data_ptr() == x.data_ptr());  // no copy when it fits
}

TEST_CASE("check_image_batch rejects what is not an image batch", "[image_tensor][errors]") {
  CHECK_NOTHROW(check_image_batch(torch::rand({1, 1, 2, 2}), "x"));
  CHECK_THROWS_AS(check_image_batch(torch::rand({1, 2, 2}), "x"), InputError);
  CHECK_THROWS_AS(check_image_batch(torch::rand({1, 1, 2, 2}) + 1.0, "x"), InputError);
  CHECK_THROWS_AS(check_image_batch(torch::full({1, 1, 2, 2}, NAN), "x"), InputError);
}
