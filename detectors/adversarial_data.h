// detectors/adversarial_data.h — the training data of an adversarial-example detector (Metzen et
// al., ICLR 2017): every image clean (class "real") and attacked by each attack (class "fake"),
// split by image so that no image is in training and validation both; and, once trained, its
// detection rate per attack.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <vector>

#include "attacks/attack.h"

namespace mirage {

class Detector;
class Model;

struct AdversarialDetectorData {
  at::Tensor fake_train, fake_val;  // attack a's rows are a block of train_idx / val_idx size each
  int64_t n_val = 0;                // validation images per attack
  std::vector<std::string> attacks;  // the specs as written, in block order
  // spec -> {"attack", "params", "n_val", "attack_success_rate_val"[, "detection_rate"]}
  nlohmann::json per_attack = nlohmann::json::object();
  nlohmann::json sources = nlohmann::json::array();  // {"name": spec, "kind": "attack", "n"}
};

// Attacks `images` [N, C, S, S] (CPU, the detector's input) with true `labels` by each of
// `attacks` against `classifier` (its own input shape; images are fitted to it and back), 256
// at a time, each attack seeded derive_seed(seed, "attack-" + spec text), and splits the
// results by `train_idx` / `val_idx`. Labels < 0 are a UsageError.
AdversarialDetectorData attack_for_detector(Model& classifier, const at::Tensor& images, const at::Tensor& labels,
                                            const std::vector<int64_t>& train_idx, const std::vector<int64_t>& val_idx,
                                            const std::vector<AttackSpec>& attacks, uint64_t seed, c10::Device device);

// Sets per_attack[spec]["detection_rate"]: the share of that attack's validation examples that
// `detector` flags at its threshold.
void add_detection_rates(Detector& detector, AdversarialDetectorData& data);

}  // namespace mirage
