// detectors/detector.h — the Detector interface: images in [0,1] -> probability that each is fake
// (or adversarial), with a calibrated threshold stored beside the weights.
//
// A saved detector is a TorchScript file whose mirage.json has kind "detector" (docs/formats.md):
// forward(x) -> logits [N, 2] over (real, fake), so PyTorch, `mirage eval` and every attack see
// a 2-class model; p_fake(x) -> [N]; metadata in spec.extra["detector"]: detector kind, threshold
// and the rule that chose it, the input policy and a training summary.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "lib/model.h"

namespace mirage {

class DetectorNetImpl;

// What a detector file says about itself (spec.extra["detector"]).
struct DetectorInfo {
  std::string kind;             // cnn | spectral | discriminator | adversarial | ensemble
  double threshold = 0.5;       // verdict "fake" iff p_fake >= threshold
  std::string threshold_rule;   // "eer" or "fpr:<f>", chosen on validation data
  std::string input_policy = "crop";  // how other-sized images are fitted (crop | stretch | imagenet)
  nlohmann::json validation = nlohmann::json::object();  // metrics on the validation split
  nlohmann::json training = nlohmann::json::object();    // data summary, options, epochs
  nlohmann::json to_json() const;
  static DetectorInfo from_json(const nlohmann::json& j, const std::string& source);
};

class Detector {
 public:
  virtual ~Detector() = default;
  // p_fake [N] in [0,1] for x [N, C, S, S] in [0,1] on device().
  virtual at::Tensor p_fake(const at::Tensor& x) = 0;
  // The calibrated logit [N] (sigmoid = p_fake); differentiable with respect to x.
  virtual at::Tensor logit(const at::Tensor& x) = 0;
  virtual const DetectorInfo& info() const = 0;
  // Input shape (channels, height, width), num_classes 2, classes (real, fake).
  virtual const ModelSpec& spec() const = 0;
  virtual c10::Device device() const = 0;
  // The detector as a 2-class Model (class 1 = fake), for the attack suite: evasion is a
  // targeted attack toward class 0.
  virtual Model& model() = 0;
  double threshold() const { return info().threshold; }
};

// The detector as a 2-class Model whose argmax is its verdict at the stored threshold (class 1
// "fake" iff p_fake >= threshold): what evasion attacks and searches target (toward class 0).
// Keeps a reference to `detector`, which must outlive it.
std::unique_ptr<Model> verdict_model(Detector& detector);

// A detector file. Not a mirage detector (no metadata, or another kind): UsageError naming the
// file; unreadable or truncated: InputError.
std::unique_ptr<Detector> load_detector(const std::string& path, c10::Device device);

// A native net as a Detector (no round trip to disk), for training, evaluation and tests.
std::unique_ptr<Detector> as_detector(std::shared_ptr<DetectorNetImpl> net, DetectorInfo info, c10::Device device);

// Writes `net` (eval mode, calibrated) with `info` as a detector file, atomically.
void export_detector(DetectorNetImpl& net, const DetectorInfo& info, const std::string& path);

// An ensemble of saved detectors: p_fake is the mean of the members' calibrated p_fake. All
// members must take the same input shape. `info.threshold` applies to the mean.
void export_ensemble(const std::vector<std::string>& members, const DetectorInfo& info, const std::string& path);
// The same ensemble in memory, without a file (train-detector thresholds it before saving):
// its p_fake is what the exported file computes.
std::unique_ptr<Detector> load_ensemble(const std::vector<std::string>& members, DetectorInfo info, c10::Device device);

// The spec every detector file carries: kind "detector", 2 classes (real, fake).
ModelSpec detector_spec(int64_t channels, int64_t size, const DetectorInfo& info);

}  // namespace mirage
