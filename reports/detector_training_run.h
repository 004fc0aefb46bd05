// reports/detector_training_run.h — `mirage train-detector` as a library call: open the real and
// fake sources (reports/detector_inputs.h), split the reals, build the training data (fakes from
// the sources, or a classifier's adversarial examples), then train and calibrate a detector
// (detectors/train.h) or threshold an ensemble of saved ones, and write it as a detector file;
// the report's body comes back as JSON.
#pragma once
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "attacks/attack.h"
#include "detectors/detector_net.h"
#include "detectors/train.h"
#include "lib/model.h"

namespace mirage {

struct DetectorTrainingConfig {
  std::string kind = "cnn";  // cnn | spectral | discriminator | adversarial | ensemble
  std::string real = "fashion-mnist:train";  // image data
  std::vector<std::string> fakes;  // "[name=]spec": data specs, GAN checkpoint folders or generator .pt
  std::string gan;      // discriminator: the checkpoint whose D becomes the detector ("": the one GAN fake)
  std::string model;    // adversarial: the classifier attacked
  std::string members;  // ensemble: comma-separated detector files
  std::vector<AttackSpec> attacks;  // adversarial: the attacks whose outputs are the "fakes"
  int64_t limit = 0;       // real images (a seeded sample; 0 = all), and as many per image source
  int64_t fake_count = 0;  // fakes per GAN source (0 = as many as real images)
  int64_t size = 0, channels = 0;  // detector input (0 = the data's, or the GAN's size)
  double val_fraction = 0.2;
  std::string threshold = "eer";  // "eer" | "fpr:<f>"
  std::string resize = "crop";    // crop | stretch | imagenet
  // epochs, lr, weight_decay < 0: the kind's default (5 epochs, 0 for discriminator and ensemble;
  // lr 2e-4, spectral 1e-2; weight decay 0, spectral 1e-3). threshold, seed and codec are set by
  // the run.
  DetectorTrainOptions train;
  DetectorNetOptions net;  // width, features, hidden; kind and shape are set by the run
};

// UsageError for a value out of range, a kind without what it needs, or an attack or key that
// does not exist: before anything is opened.
void check_detector_training_config(const DetectorTrainingConfig& config);

struct DetectorTrainingResult {
  // kind, config, data, history, validation, threshold: the report without its header and
  // without the detector file's entry, which the caller makes from `spec`.
  nlohmann::json report;
  ModelSpec spec;  // of the written detector
};

// Trains (or, for an ensemble, thresholds) the detector and writes it to `out`, atomically.
// Every random choice derives from `seed`. Logs the data, each epoch and the validation result.
DetectorTrainingResult train_detector_run(DetectorTrainingConfig config, const std::string& out, uint64_t seed,
                                          c10::Device device);

}  // namespace mirage
