// The adversarial-example detector's data (detectors/adversarial_data.h): each attack's outputs
// split by image like the reals, and its per-attack figures.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "detectors/adversarial_data.h"
#include "lib/error.h"
#include "lib/image_tensor.h"
#include "lib/model.h"
#include "lib/runtime.h"

using namespace mirage;

TEST_CASE("adversarial detector data: each attack's examples split by image, in attack order", "[detectors][adversarial]") {
  ModelSpec spec;
  spec.channels = 1;
  spec.height = 4;
  spec.width = 4;
  spec.num_classes = 2;
  const auto w = torch::linspace(-1, 1, 16);
  FunctionModel model([w](const at::Tensor& x) {
    const auto z = (x.flatten(1) * w).sum(1);
    return torch::stack({-z, z}, 1);
  }, spec, torch::kCPU);
  at::Generator gen = make_generator(4);
  const auto images = torch::rand({10, 1, 4, 4}, gen);
  at::Tensor labels;
  {
    torch::NoGradGuard no_grad;
    labels = model.logits(images).argmax(1);
  }
  const std::vector<int64_t> train_idx{0, 1, 2, 3, 4, 5, 6, 7}, val_idx{8, 9};
  const std::vector<AttackSpec> specs{parse_attack_spec("fgsm:eps=0.1"), parse_attack_spec("fgsm:eps=0.3")};
  auto d = attack_for_detector(model, images, labels, train_idx, val_idx, specs, 1, torch::kCPU);
  CHECK(d.n_val == 2);
  CHECK(d.attacks == std::vector<std::string>{"fgsm:eps=0.1", "fgsm:eps=0.3"});
  REQUIRE(d.fake_train.size(0) == 16);
  REQUIRE(d.fake_val.size(0) == 4);
  // Block 1 of validation is FGSM at 0.3 of images 8 and 9, as the attack gives it directly.
  const auto direct = make_attack("fgsm", {{"eps", "0.3"}})
                          ->run(model, images.slice(0, 8, 10), labels.slice(0, 8, 10), Goal::untargeted())
                          .adversarial;
  CHECK(torch::allclose(d.fake_val.slice(0, 2, 4), direct, 1e-6, 1e-6));
  // Block 0 of training is within 0.1 of the training images, in their order.
  CHECK((d.fake_train.slice(0, 0, 8) - select_rows(images, train_idx)).abs().max().item<double>() <= 0.1 + 1e-6);
  CHECK((d.fake_train.slice(0, 8, 16) - select_rows(images, train_idx)).abs().max().item<double>() > 0.1);
  for (const auto& a : d.attacks) {
    CHECK(d.per_attack[a]["n_val"] == 2);
    const double rate = d.per_attack[a]["attack_success_rate_val"].get<double>();
    CHECK((rate >= 0 && rate <= 1));
  }
  CHECK(d.sources.size() == 2);
  CHECK_THROWS_AS(attack_for_detector(model, images, torch::full({10}, -1, torch::kLong), train_idx, val_idx, specs, 1,
                                      torch::kCPU),
                  UsageError);
}
