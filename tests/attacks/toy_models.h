// tests/attacks/toy_models.h — small models the attack suites share.
#pragma once
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <memory>

#include "attacks/attack.h"
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

// logits = [0, w . x + b]: class 1 iff w . x + b > 0. The boundary is a hyperplane, so FGSM
// steps and minimal perturbations have closed forms. Images are [N, 1, 1, numel(w)] unless
// `spec` gives another shape with as many pixels.
inline FunctionModel linear_two_class(const torch::Tensor& w, double b, ModelSpec spec = {}) {
  if (spec.num_classes == 0) spec = toy_spec(1, 1, w.numel(), 2);
  return FunctionModel(
      [w, b](const at::Tensor& x) {
        auto z = (x.flatten(1) * w).sum(1, true) + b;
        return torch::cat({torch::zeros_like(z), z}, 1);
      },
      spec, torch::kCPU);
}

// 16 random 1x8x8 images labelled with what the toy conv net (6 filters) predicts, so every
// sample starts correctly classified.
struct CorrectToyBatch {
  std::unique_ptr<FunctionModel> model;
  torch::Tensor x, y;
  CorrectToyBatch() {
    torch::manual_seed(0);
    model = toy_conv_model(6);
    x = torch::rand({16, 1, 8, 8});
    torch::NoGradGuard g;
    y = model->logits(x).argmax(1);
  }
};

// The bounds every eps-bounded attack must keep: pixels in [0,1]; Linf <= eps + 1e-6, or L2 <=
// eps * (1 + 1e-5) (`norm` "linf" or "l2").
inline void check_box_and_ball(const AttackResult& r, const std::string& norm, double eps) {
  CHECK(r.adversarial.min().item<float>() >= 0.0f);
  CHECK(r.adversarial.max().item<float>() <= 1.0f);
  if (norm == "linf") {
    CHECK(r.linf.max().item<double>() <= eps + 1e-6);
  } else {
    CHECK(r.l2.max().item<double>() <= eps * (1 + 1e-5));
  }
}

// Wraps a model so that any forward pass with grad mode on, or on an input that requires grad,
// is recorded; its outputs are detached, so a backward through them would throw.
struct GradFreeModel {
  std::shared_ptr<int64_t> violations = std::make_shared<int64_t>(0);
  FunctionModel model;
  explicit GradFreeModel(Model& inner)
      : model(
            [&inner, v = violations](const at::Tensor& x) {
              if (torch::GradMode::is_enabled() || x.requires_grad()) ++*v;
              return inner.logits(x).detach();
            },
            inner.spec(), inner.device()) {}
};

}  // namespace mirage::test
