// tests/attacks/toy_models.h — small models the attack suites share.
#pragma once
#include <torch/torch.h>

#include "lib/model.h"

namespace mirage::test {

inline ModelSpec toy_spec(int64_t c, int64_t h, int64_t w, int64_t k) {
  ModelSpec s;
  s.channels = c;
  s.height = h;
  s.width = w;
  s.num_classes = k;
  s.name = "toy";
  return s;
}

// conv3x3(filters)-ReLU-linear(5) on 1x8x8 images.
struct ToyConvNet : torch::nn::Module {
  torch::nn::Conv2d conv{nullptr};
  torch::nn::Linear fc{nullptr};
  explicit ToyConvNet(int64_t filters) {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, filters, 3).padding(1)));
    fc = register_module("fc", torch::nn::Linear(filters * 8 * 8, 5));
  }
  torch::Tensor forward(const torch::Tensor& x) { return fc(torch::relu(conv(x)).flatten(1)); }
};

inline std::unique_ptr<FunctionModel> toy_conv_model(int64_t filters) {
  auto net = std::make_shared<ToyConvNet>(filters);
  return std::make_unique<FunctionModel>([net](const at::Tensor& x) { return net->forward(x); },
                                         toy_spec(1, 8, 8, 5), torch::kCPU);
}

}  // namespace mirage::test
