// tests/reports/toy_audit.h — a classifier whose robustness is known in closed form, and its
// data, for the robustness audit's tests (test_robustness_audit.cpp, test_merge.cpp).
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lib/dataset.h"
#include "lib/hash.h"
#include "lib/model.h"
#include "reports/report_json.h"

namespace mirage::test {

// 1x4x4 images; the model says class 1 iff the image's mean is above 0.5 (logits +-20 (m - 0.5)).
// Sample i sits at distance d_i from 0.5 (its label's side), on a zero-mean checkerboard of
// +-0.05, so an Linf attack of radius eps moves the mean by at most eps: it breaks exactly the
// samples with d_i < eps, and the optimum is reachable (no pixel meets the [0,1] box).
inline constexpr int64_t kN = 64;

inline double distance(int64_t i) { return 0.005 + 0.2 * static_cast<double>(i / 2) / 31.0; }

inline std::shared_ptr<mirage::Dataset> toy_data(std::vector<std::string> class_names = {"dark", "light"}) {
  auto images = torch::empty({kN, 1, 4, 4});
  auto labels = torch::empty({kN}, torch::kLong);
  auto checker = torch::tensor({1.0f, -1.0f, 1.0f, -1.0f, -1.0f, 1.0f, -1.0f, 1.0f, 1.0f, -1.0f, 1.0f, -1.0f, -1.0f,
                                1.0f, -1.0f, 1.0f}).view({1, 4, 4}) * 0.05f;
  for (int64_t i = 0; i < kN; ++i) {
    const double side = i % 2 ? 1.0 : -1.0;
    images[i] = checker + static_cast<float>(0.5 + side * distance(i));
    labels[i] = i % 2;
  }
  mirage::DatasetInfo info;
  info.name = "toy";
  info.channels = 1;
  info.height = info.width = 4;
  info.num_classes = 2;
  info.class_names = std::move(class_names);
  return std::make_shared<mirage::TensorDataset>(images, labels, info);
}

inline mirage::FunctionModel toy_model() {
  mirage::ModelSpec spec;
  spec.channels = 1;
  spec.height = spec.width = 4;
  spec.num_classes = 2;
  return mirage::FunctionModel(
      [](const at::Tensor& x) {
        auto m = x.mean({1, 2, 3}) - 0.5;
        return torch::stack({-20 * m, 20 * m}, 1);
      },
      spec, c10::Device(c10::kCPU));
}

inline mirage::ReportMetadata toy_meta() {
  mirage::ReportMetadata meta;
  meta.command = {"test"};
  meta.model_path = "toy";
  meta.model_sha256 = mirage::sha256_hex(std::string("toy"));
  meta.data_name = "toy";
  return meta;
}

}  // namespace mirage::test
