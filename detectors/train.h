// detectors/train.h — training, calibration and threshold choice for the trainable detectors.
//
// One loop for every kind: balanced batches (half real, half fake), binary cross-entropy on the
// raw logit, Adam; the CNNDetection augmentation (Wang et al., CVPR 2020: Gaussian blur and JPEG
// re-compression, each with its own probability) and optionally adversarial training (PGD on the
// detector's input, Madry et al. 2018) so that a small perturbation cannot turn a fake into
// "real". Validation AUC after every epoch picks the best epoch (early stopping with patience);
// then Platt scaling (a * logit + b by maximum likelihood on validation) calibrates the output and
// the threshold is chosen on the calibrated validation scores (target FPR or equal error rate).
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "detectors/detector_net.h"
#include "lib/options.h"
#include "lib/transforms.h"

namespace mirage {

struct DetectorTrainOptions {
  int64_t epochs = 10;        // 0: no training, only calibration (a GAN's discriminator as is)
  int64_t batch_size = 64;    // half real, half fake
  double lr = 2e-4;           // Adam(lr, 0.9, 0.999)
  double weight_decay = 0.0;  // L2 (spectral logistic regression: 1e-3 is a good start)
  int64_t patience = 3;       // stop after this many epochs without a better validation AUC
  // Augmentation of training images (both classes), each applied independently per image.
  double blur_prob = 0.1;
  double blur_sigma_min = 0.1, blur_sigma_max = 1.5;  // sigma ~ U[min, max] in pixels
  double jpeg_prob = 0.1;
  int64_t jpeg_quality_min = 30, jpeg_quality_max = 100;  // quality ~ U{min..max}
  // The JPEG codec (lib/image's opencv_codec()); needed when jpeg_prob > 0, as the compute
  // libraries cannot encode JPEG themselves.
  ImageCodec codec;
  // Adversarial training: each training batch is replaced by PGD-Linf examples (eps, steps,
  // step 2.5 * eps / steps, random start) that maximise the loss for the true label.
  double adv_eps = 0.0;
  int64_t adv_steps = 5;
  // Threshold rule: "eer" or "fpr:<f>" with f in (0, 1) (at most f of validation reals flagged).
  std::string threshold = "eer";
  uint64_t seed = 0;
  int64_t log_every = 0;  // steps between progress lines (0 = per epoch only)

  // The field list (every field but codec and log_every; the ranges as [min, max]).
  static const OptionFields<DetectorTrainOptions>& fields();
  nlohmann::json to_json() const;
  // UsageError for a value out of range, naming the field.
  void check() const;
};

// Training data, already fitted to the detector's input and split. Fakes either come as images
// (fake_train) or are drawn fresh for every batch from `sample_fakes(n, seed)`.
struct DetectorTrainData {
  at::Tensor real_train, fake_train;  // [N, C, S, S] in [0,1] on CPU
  at::Tensor real_val, fake_val;
  std::function<at::Tensor(int64_t n, uint64_t seed)> sample_fakes;
};

struct DetectorEpoch {
  int64_t epoch = 0;
  double loss = 0, train_accuracy = 0;
  double val_auc = 0, val_loss = 0;
  double seconds = 0, images_per_second = 0;
  nlohmann::json to_json() const;
};

struct DetectorTrainResult {
  std::vector<DetectorEpoch> epochs;
  int64_t best_epoch = 0;  // 0 = the untrained (or given) weights
  bool stopped_early = false;
  double calibration_a = 1, calibration_b = 0;
  double threshold = 0.5;
  nlohmann::json validation;  // auc, ap, eer, fpr/tpr at threshold, ece before/after calibration
};

// Trains `net` in place (the best epoch's weights), calibrates it and picks the threshold.
// Throws UsageError on an empty split or a bad threshold rule, InputError on a NaN loss.
DetectorTrainResult train_detector(DetectorNetImpl& net, const DetectorTrainData& data,
                                   const DetectorTrainOptions& options, c10::Device device,
                                   const std::function<void(const DetectorEpoch&)>& on_epoch = {});

// Platt scaling: (a, b) maximising the likelihood of labels (1 = fake) under sigmoid(a z + b),
// by Newton's method with a small ridge (Platt 1999 uses smoothed targets; plain labels here).
std::pair<double, double> fit_platt(const std::vector<double>& logits, const std::vector<int>& labels);

// The threshold on scores (higher = fake) that `rule` ("eer" | "fpr:<f>") picks on labelled
// validation scores; UsageError on a bad rule or f outside (0, 1).
double choose_threshold(const std::vector<double>& scores, const std::vector<int>& labels, const std::string& rule);
// "eer" | "fpr:<f>" checked, as the CLI's --threshold takes it.
void check_threshold_rule(const std::string& rule);

}  // namespace mirage
