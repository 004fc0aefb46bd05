#include "lib/classifier.h"

#include <torch/torch.h>

#include <chrono>

#include "lib/error.h"
#include "lib/export.h"
#include "lib/image_tensor.h"
#include "lib/log.h"
#include "lib/metrics.h"

namespace mirage {
namespace F = torch::nn::functional;

SmallCnnImpl::SmallCnnImpl(SmallCnnOptions options) : options_(options) {
  if (options_.height % 4 != 0 || options_.width % 4 != 0 || options_.height <= 0 || options_.width <= 0) {
    throw UsageError("small CNN input height and width must be positive multiples of 4, got " +
                     std::to_string(options_.height) + "x" + std::to_string(options_.width));
  }
  if (options_.channels <= 0 || options_.num_classes < 2) {
    throw UsageError("small CNN needs at least 1 channel and 2 classes");
  }
  const int64_t f = options_.filters;
  conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(options_.channels, f, 3).padding(1)));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(f));
  conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(f, 2 * f, 3).padding(1)));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(2 * f));
  const int64_t flat = 2 * f * (options_.height / 4) * (options_.width / 4);
  fc1 = register_module("fc1", torch::nn::Linear(flat, options_.hidden));
  fc2 = register_module("fc2", torch::nn::Linear(options_.hidden, options_.num_classes));
}

torch::Tensor SmallCnnImpl::features(torch::Tensor x) {
  x = F::max_pool2d(torch::relu(bn1(conv1(x))), F::MaxPool2dFuncOptions(2));
  x = F::max_pool2d(torch::relu(bn2(conv2(x))), F::MaxPool2dFuncOptions(2));
  return torch::relu(fc1(x.flatten(1)));
}

torch::Tensor SmallCnnImpl::forward(torch::Tensor x) {
  return fc2(F::dropout(features(x), F::DropoutFuncOptions().p(options_.dropout).training(is_training())));
}

std::string SmallCnnImpl::torchscript_source() const {
  return R"(
def features(self, x):
    x = torch.conv2d(x, self.conv1_weight, self.conv1_bias, [1, 1], [1, 1])
    x = torch.batch_norm(x, self.bn1_weight, self.bn1_bias, self.bn1_running_mean, self.bn1_running_var, False, 0.1, 1e-05, False)
    x = torch.max_pool2d(torch.relu(x), [2, 2])
    x = torch.conv2d(x, self.conv2_weight, self.conv2_bias, [1, 1], [1, 1])
    x = torch.batch_norm(x, self.bn2_weight, self.bn2_bias, self.bn2_running_mean, self.bn2_running_var, False, 0.1, 1e-05, False)
    x = torch.max_pool2d(torch.relu(x), [2, 2])
    return torch.relu(torch.linear(torch.flatten(x, 1), self.fc1_weight, self.fc1_bias))

def forward(self, x):
    return torch.linear(self.features(x), self.fc2_weight, self.fc2_bias)
)";
}

double classifier_train_step(SmallCnn& net, torch::optim::Optimizer& optimizer, const torch::Tensor& x,
                             const torch::Tensor& y, int64_t* correct) {
  optimizer.zero_grad();
  torch::Tensor logits = net->forward(x);
  torch::Tensor loss = F::cross_entropy(logits, y);
  loss.backward();
  optimizer.step();
  if (correct) *correct += logits.argmax(1).eq(y).sum().item<int64_t>();
  return loss.item<double>();
}

std::vector<EpochStats> train_classifier(SmallCnn& net, Dataset& train, Dataset* validation,
                                         const ClassifierTrainOptions& options, c10::Device device,
                                         const std::function<void(const EpochStats&)>& on_epoch) {
  if (options.epochs <= 0) throw UsageError("--epochs must be positive");
  if (options.lr <= 0) throw UsageError("--lr must be positive");
  if (train.info().num_classes == 0) throw UsageError(train.info().name + ": training data has no labels");
  const auto& o = net->options();
  net->to(device);
  torch::optim::Adam optimizer(net->parameters(),
                               torch::optim::AdamOptions(options.lr).weight_decay(options.weight_decay));
  LoaderOptions lo;
  lo.batch_size = options.batch_size;
  lo.shuffle = true;
  lo.seed = options.seed;
  lo.limit = options.limit;
  BatchLoader loader(train, lo);
  std::vector<EpochStats> history;
  const double total_steps = static_cast<double>(options.epochs * std::max<int64_t>(loader.num_batches(), 1));
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    net->train();
    loader.start_epoch(epoch);
    Progress progress("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(options.epochs),
                      loader.num_samples());
    double loss_sum = 0;
    int64_t seen = 0, correct = 0;
    Batch batch;
    while (loader.next(batch)) {
      torch::Tensor x = fit_batch(batch.images, o.channels, o.height, o.width).to(device);
      torch::Tensor y = batch.labels.to(device);
      if ((y < 0).any().item<bool>()) throw InputError(train.info().name + ": unlabelled samples in training data");
      if (options.cosine) {
        double lr = options.lr * 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(step) / total_steps));
        for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
      }
      ++step;
      double loss = classifier_train_step(net, optimizer, x, y, &correct);
      if (!std::isfinite(loss)) {
        throw InputError(train.info().name + ": training loss became NaN/Inf at epoch " +
                         std::to_string(epoch + 1) + " (try a smaller --lr)");
      }
      loss_sum += loss * static_cast<double>(batch.size());
      seen += batch.size();
      char status[64];
      std::snprintf(status, sizeof(status), "loss %.4f", loss_sum / static_cast<double>(seen));
      progress.advance(batch.size(), status);
    }
    EpochStats stats;
    stats.epoch = epoch + 1;
    stats.loss = loss_sum / static_cast<double>(std::max<int64_t>(seen, 1));
    stats.train_accuracy = static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(seen, 1));
    stats.seconds = progress.seconds();
    stats.images_per_second = static_cast<double>(seen) / std::max(stats.seconds, 1e-9);
    progress.finish();
    if (validation) {
      net->eval();
      FunctionModel model([&](const at::Tensor& x) { return net->forward(x); },
                          small_cnn_spec(net, train.info().class_names), device);
      stats.val_accuracy = evaluate_classifier(model, *validation, EvalOptions{}).accuracy;
    }
    history.push_back(stats);
    if (on_epoch) on_epoch(stats);
  }
  net->eval();
  return history;
}

ModelSpec small_cnn_spec(const SmallCnn& net, const std::vector<std::string>& class_names) {
  const auto& o = net->options();
  ModelSpec spec;
  spec.channels = o.channels;
  spec.height = o.height;
  spec.width = o.width;
  spec.num_classes = o.num_classes;
  if (static_cast<int64_t>(class_names.size()) == o.num_classes) spec.class_names = class_names;
  spec.kind = "classifier";
  spec.name = "mirage-small-cnn";
  spec.extra = {{"architecture", "small_cnn"},
                {"filters", o.filters},
                {"hidden", o.hidden},
                {"dropout", o.dropout}};
  return spec;
}

std::unique_ptr<Model> as_model(SmallCnn net, const std::vector<std::string>& class_names, c10::Device device) {
  net->to(device);
  net->eval();
  return std::make_unique<FunctionModel>([net](const at::Tensor& x) mutable { return net->forward(x); },
                                         small_cnn_spec(net, class_names), device);
}

void export_small_cnn(SmallCnn& net, const std::vector<std::string>& class_names, const std::string& path) {
  torch::jit::Module module = to_torchscript(*net, "SmallCnn", net->torchscript_source());
  save_torchscript(module, small_cnn_spec(net, class_names), path);
}

EvalResult evaluate_classifier(Model& model, Dataset& data, const EvalOptions& options) {
  const ModelSpec& spec = model.spec();
  if (data.info().num_classes == 0) throw UsageError(data.info().name + ": data has no labels to evaluate against");
  const int64_t k = spec.num_classes;
  if (data.info().num_classes > k) {
    throw InputError(data.info().name + ": labels go up to " + std::to_string(data.info().num_classes - 1) +
                     " but the model has " + std::to_string(k) + " classes");
  }
  torch::NoGradGuard no_grad;
  LoaderOptions lo;
  lo.batch_size = options.batch_size;
  lo.limit = options.limit;
  BatchLoader loader(data, lo);
  Progress progress("eval", loader.num_samples());
  std::vector<int64_t> labels, predictions;
  Batch batch;
  while (loader.next(batch)) {
    torch::Tensor x = fit_batch(batch.images, spec.channels, spec.height, spec.width).to(model.device());
    torch::Tensor pred = model.logits(x).argmax(1).to(torch::kCPU);
    for (int64_t i = 0; i < batch.size(); ++i) {
      int64_t label = batch.labels[i].item<int64_t>();
      if (label < 0) throw InputError(batch.ids[static_cast<size_t>(i)] + ": has no label");
      labels.push_back(label);
      predictions.push_back(pred[i].item<int64_t>());
    }
    progress.advance(batch.size());
  }
  progress.finish();
  EvalResult r;
  r.n = static_cast<int64_t>(labels.size());
  r.confusion = confusion_matrix(labels, predictions, k);
  r.per_class_n.assign(static_cast<size_t>(k), 0);
  r.per_class_accuracy.assign(static_cast<size_t>(k), -1.0);
  for (int64_t c = 0; c < k; ++c) {
    int64_t n_c = 0;
    for (int64_t v : r.confusion[static_cast<size_t>(c)]) n_c += v;
    int64_t hit = r.confusion[static_cast<size_t>(c)][static_cast<size_t>(c)];
    r.per_class_n[static_cast<size_t>(c)] = n_c;
    if (n_c > 0) r.per_class_accuracy[static_cast<size_t>(c)] = static_cast<double>(hit) / static_cast<double>(n_c);
    r.correct += hit;
  }
  r.accuracy = r.n > 0 ? static_cast<double>(r.correct) / static_cast<double>(r.n) : 0.0;
  r.class_names = spec.class_names.empty() ? data.info().class_names : spec.class_names;
  r.seconds = progress.seconds();
  r.images_per_second = static_cast<double>(r.n) / std::max(r.seconds, 1e-9);
  return r;
}

}  // namespace mirage
