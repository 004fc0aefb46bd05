#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "lib/classifier.h"
#include "lib/dataset.h"
#include "lib/error.h"
#include "lib/runtime.h"
#include "tests/test_util.h"

using namespace mirage;

namespace {

// 4 classes told apart by which image quadrant is bright: learnable in one short epoch.
std::shared_ptr<Dataset> quadrants(int64_t n, uint64_t seed, bool shuffle_labels = false) {
  auto gen = make_generator(seed);
  auto labels = torch::randint(0, 4, {n}, gen, torch::TensorOptions().dtype(torch::kLong));
  auto images = torch::rand({n, 1, 8, 8}, gen, torch::TensorOptions()) * 0.3;
  for (int64_t i = 0; i < n; ++i) {
    int64_t q = labels[i].item<int64_t>();
    images[i].slice(1, (q / 2) * 4, (q / 2) * 4 + 4).slice(2, (q % 2) * 4, (q % 2) * 4 + 4) += 0.6;
  }
  if (shuffle_labels) labels = labels.index_select(0, torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kLong)));
  DatasetInfo info;
  info.name = "quadrants";
  info.class_names = {"tl", "tr", "bl", "br"};
  info.num_classes = 4;
  return std::make_shared<TensorDataset>(images.clamp(0, 1), labels, info);
}

SmallCnn quadrant_net() {
  SmallCnnOptions o;
  o.height = o.width = 8;
  o.num_classes = 4;
  o.filters = 8;
  o.hidden = 16;
  return SmallCnn(o);
}

double train_and_eval(std::shared_ptr<Dataset> train, std::shared_ptr<Dataset> test, uint64_t seed) {
  torch::manual_seed(seed);
  auto net = quadrant_net();
  ClassifierTrainOptions o;
  o.epochs = 3;
  o.batch_size = 32;
  o.lr = 3e-3;
  o.seed = seed;
  train_classifier(net, *train, nullptr, o, torch::kCPU);
  auto model = as_model(net, {}, torch::kCPU);
  return evaluate_classifier(*model, *test, EvalOptions{}).accuracy;
}

}  // namespace

TEST_CASE("training learns real labels and cannot learn shuffled ones", "[classifier]") {
  torch::set_num_threads(1);
  auto test_set = quadrants(400, 99);
  double real = train_and_eval(quadrants(1200, 1), test_set, 1);
  double shuffled = train_and_eval(quadrants(1200, 1, /*shuffle_labels=*/true), test_set, 1);
  CHECK(real > 0.95);
  CHECK(shuffled < 0.45);
}

TEST_CASE("training with the same seed gives identical weights on CPU", "[classifier][determinism]") {
  auto data = quadrants(256, 4);
  auto train_once = [&](uint64_t seed) {
    torch::manual_seed(seed);
    auto net = quadrant_net();
    ClassifierTrainOptions o;
    o.epochs = 1;
    o.batch_size = 32;
    o.seed = seed;
    train_classifier(net, *data, nullptr, o, torch::kCPU);
    return torch::cat({net->parameters()[0].flatten(), net->parameters().back().flatten()});
  };
  auto a = train_once(7), b = train_once(7), c = train_once(8);
  CHECK(torch::equal(a, b));
  CHECK_FALSE(torch::equal(a, c));
}

TEST_CASE("evaluation's confusion matrix, per-class and overall accuracy agree", "[classifier][eval]") {
  auto data = quadrants(200, 5);
  ModelSpec spec;
  spec.channels = 1;
  spec.height = spec.width = 8;
  spec.num_classes = 4;
  // Always answers class 2: accuracy is exactly the share of class 2.
  FunctionModel always_two(
      [](const at::Tensor& x) {
        auto out = torch::zeros({x.size(0), 4});
        out.select(1, 2).fill_(1.0);
        return out;
      },
      spec, torch::kCPU);
  auto r = evaluate_classifier(always_two, *data, EvalOptions{64, 0});
  REQUIRE(r.n == 200);
  int64_t share = 0;
  for (int64_t c = 0; c < 4; ++c) {
    int64_t row = 0;
    for (int64_t v : r.confusion[c]) row += v;
    CHECK(row == r.per_class_n[c]);
    CHECK(r.confusion[c][2] == r.per_class_n[c]);
  }
  share = r.per_class_n[2];
  CHECK(r.accuracy == Approx(static_cast<double>(share) / 200));
  CHECK(r.per_class_accuracy[2] == 1.0);
  CHECK(r.per_class_accuracy[0] == 0.0);
}

TEST_CASE("evaluating unlabelled data is a UsageError", "[classifier][errors]") {
  auto images = torch::rand({4, 1, 8, 8});
  DatasetInfo info;
  info.name = "nolabels";
  TensorDataset unlabelled(images, at::Tensor(), info);
  auto net = quadrant_net();
  auto model = as_model(net, {}, torch::kCPU);
  CHECK_THROWS_AS(evaluate_classifier(*model, unlabelled, EvalOptions{}), UsageError);
}

TEST_CASE("a NaN loss stops training with an error naming the data", "[classifier][errors]") {
  auto images = torch::rand({64, 1, 8, 8});
  images[10][0][3][3] = NAN;
  DatasetInfo info;
  info.name = "poisoned";
  info.num_classes = 4;
  TensorDataset data(images, torch::randint(0, 4, {64}), info);
  auto net = quadrant_net();
  ClassifierTrainOptions o;
  o.epochs = 1;
  CHECK_THROWS_WITH(train_classifier(net, data, nullptr, o, torch::kCPU),
                    Catch::Contains("NaN") && Catch::Contains("poisoned"));
}
