// tests/detectors/function_detector.h — a detector given by its logit function (threshold 0.5),
// for suites that need a detector whose blind spots are known by construction.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <utility>

#include "detectors/detector.h"
#include "lib/model.h"

namespace mirage::test {

class FunctionDetector : public mirage::Detector {
 public:
  FunctionDetector(std::function<at::Tensor(const at::Tensor&)> logit, int64_t channels, int64_t size)
      : logit_(std::move(logit)),
        spec_(mirage::detector_spec(channels, size, info_)),
        model_([this](const at::Tensor& x) {
          auto z = logit_(x);
          return torch::stack({-0.5 * z, 0.5 * z}, 1);
        }, spec_, torch::kCPU) {
    info_.kind = "cnn";
    info_.threshold = 0.5;
  }
  at::Tensor p_fake(const at::Tensor& x) override { return torch::sigmoid(logit_(x)); }
  at::Tensor logit(const at::Tensor& x) override { return logit_(x); }
  const mirage::DetectorInfo& info() const override { return info_; }
  const mirage::ModelSpec& spec() const override { return spec_; }
  c10::Device device() const override { return torch::kCPU; }
  mirage::Model& model() override { return model_; }

 private:
  std::function<at::Tensor(const at::Tensor&)> logit_;
  mirage::DetectorInfo info_;
  mirage::ModelSpec spec_;
  mirage::FunctionModel model_;
};

}  // namespace mirage::test
