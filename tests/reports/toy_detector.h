// tests/reports/toy_detector.h — a detector whose blind spot is known by construction, for the
// suites that need a real detector audit (its numbers, its report, its renderings).
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "detectors/blind_spots.h"
#include "detectors/detector.h"
#include "lib/hash.h"
#include "lib/model.h"
#include "reports/detector_audit.h"
#include "tests/detectors/function_detector.h"

namespace mirage::test {

// Brightness is the detector's only cue: logit 20 (mean - 0.5), threshold 0.5.
class BrightnessDetector final : public FunctionDetector {
 public:
  BrightnessDetector() : FunctionDetector([](const at::Tensor& x) { return 20 * (x.mean({1, 2, 3}) - 0.5); }, 1, 8) {}
};

// 200 fakes of classes 0..3 (bright at 0.7, except class 3 at 0.3: called real), 200 dark reals.
inline mirage::BlindSpotData toy_detector_data() {
  torch::manual_seed(5);
  mirage::BlindSpotData d;
  auto classes = torch::arange(200, torch::kInt64).remainder(4);
  auto level = torch::where(classes == 3, torch::full({200}, 0.3), torch::full({200}, 0.7));
  d.fakes = (level.view({200, 1, 1, 1}) + 0.04 * (torch::rand({200, 1, 8, 8}) - 0.5)).to(torch::kFloat32);
  d.fake_classes = classes;
  // Seeds as fake_seed makes them: anywhere in 64 bits, beyond int64 (the schema must take them).
  for (int64_t i = 0; i < 200; ++i) {
    const uint64_t seed = 18000000000000000000ULL + static_cast<uint64_t>(i);
    d.fake_ids.push_back("gan:seed:" + std::to_string(seed));
    d.fake_sources.push_back("gan");
    d.fake_seeds.push_back(seed);
  }
  d.reals = (0.3 + 0.04 * (torch::rand({200, 1, 8, 8}) - 0.5)).to(torch::kFloat32);
  d.real_classes = torch::arange(200, torch::kInt64).remainder(4);
  for (int64_t i = 0; i < 200; ++i) d.real_ids.push_back("real/" + std::to_string(i) + ".png");
  d.class_names = {"a", "b", "c", "d"};
  return d;
}

// The run's inputs as `mirage audit detector` would record them: one GAN source, one real folder.
inline mirage::DetectorReportMetadata toy_detector_meta() {
  mirage::DetectorReportMetadata meta;
  meta.command = {"test"};
  meta.detector_path = "toy.pt";
  meta.detector_sha256 = mirage::sha256_hex(std::string("toy"));
  meta.seed = 7;
  meta.sources = nlohmann::json::parse(R"([{"name": "gan", "spec": "runs/gan", "kind": "gan", "n": 200, "classes": 4},
                                           {"name": "real", "spec": "reals/", "kind": "images", "n": 200}])");
  return meta;
}

}  // namespace mirage::test
