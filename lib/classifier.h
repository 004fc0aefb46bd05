// lib/classifier.h — mirage's own image classifier: a small CNN that users get as a baseline
// (`mirage train-classifier`), that the demo audits, and whose features later serve as the
// domain feature extractor for GAN metrics.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/optim/optimizer.h>

#include <functional>
#include <string>
#include <vector>

#include "lib/dataset.h"
#include "lib/model.h"

namespace mirage {

struct SmallCnnOptions {
  int64_t channels = 1;
  int64_t height = 28;
  int64_t width = 28;
  int64_t num_classes = 10;
  int64_t filters = 32;  // first block; the second has twice as many
  int64_t hidden = 128;
  double dropout = 0.25;
};

// conv3x3(f)-BN-ReLU-maxpool, conv3x3(2f)-BN-ReLU-maxpool, linear(hidden)-ReLU-dropout, linear.
// Height and width must be multiples of 4.
class SmallCnnImpl : public torch::nn::Module {
 public:
  explicit SmallCnnImpl(SmallCnnOptions options);
  torch::Tensor forward(torch::Tensor x);
  // Penultimate activations [N, hidden]: the feature space of domain metrics.
  torch::Tensor features(torch::Tensor x);
  const SmallCnnOptions& options() const { return options_; }
  // The same computation in TorchScript (eval mode) over export_name()'d parameters.
  std::string torchscript_source() const;

 private:
  SmallCnnOptions options_;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(SmallCnn);

struct ClassifierTrainOptions {
  int64_t epochs = 3;
  int64_t batch_size = 128;
  double lr = 1e-3;  // Adam
  double weight_decay = 0.0;
  bool cosine = true;  // decay lr to 0 over the run along a half cosine (per step)
  uint64_t seed = 0;  // shuffling
  int64_t limit = 0;  // 0 = every training sample
};

struct EpochStats {
  int64_t epoch = 0;
  double loss = 0;
  double train_accuracy = 0;
  double val_accuracy = -1;  // -1 without validation data
  double seconds = 0;
  double images_per_second = 0;
};

// One optimisation step on a batch already on the net's device; returns the loss and adds the
// number of correct predictions to `correct`. The benchmark times exactly this.
double classifier_train_step(SmallCnn& net, torch::optim::Optimizer& optimizer, const torch::Tensor& x,
                             const torch::Tensor& y, int64_t* correct = nullptr);

// Trains `net` in place with Adam and cross-entropy; batches are fitted to the net's input
// (fit_batch). Calls `on_epoch` after each epoch. Throws InputError on a NaN loss.
std::vector<EpochStats> train_classifier(SmallCnn& net, Dataset& train, Dataset* validation,
                                         const ClassifierTrainOptions& options, c10::Device device,
                                         const std::function<void(const EpochStats&)>& on_epoch = {});

// The net as a Model (eval mode), for evaluation and attacks without a round trip to disk.
std::unique_ptr<Model> as_model(SmallCnn net, const std::vector<std::string>& class_names, c10::Device device);

// Exports the net as TorchScript with its ModelSpec in mirage.json.
ModelSpec small_cnn_spec(const SmallCnn& net, const std::vector<std::string>& class_names);
void export_small_cnn(SmallCnn& net, const std::vector<std::string>& class_names, const std::string& path);

struct EvalOptions {
  int64_t batch_size = 256;
  int64_t limit = 0;  // 0 = every sample
};

struct EvalResult {
  int64_t n = 0;
  int64_t correct = 0;
  double accuracy = 0;
  std::vector<std::string> class_names;
  std::vector<int64_t> per_class_n;
  std::vector<double> per_class_accuracy;     // -1 for a class without samples
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
  double seconds = 0;
  double images_per_second = 0;
};

// Accuracy, per-class accuracy and confusion of `model` on labelled `data` (fitted to the
// model's input). Unlabelled data is a UsageError.
EvalResult evaluate_classifier(Model& model, Dataset& data, const EvalOptions& options);

}  // namespace mirage
