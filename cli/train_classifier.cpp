// mirage train-classifier — a baseline classifier to audit, saved as TorchScript + metadata.
#include <filesystem>

#include "cli/common.h"
#include "lib/image/open_data.h"
#include "lib/atomic_file.h"
#include "lib/classifier.h"
#include "lib/error.h"
#include "lib/log.h"

namespace mirage::cli {

int train_classifier_main(const std::vector<std::string>& args) {
  CommonFlags common;
  std::string data, labels, val_data, val_labels, out, report, resize, schedule;
  int64_t size = 0, channels = 0;
  double val_fraction = 0;
  ClassifierTrainOptions train;
  SmallCnnOptions net_options;
  po::options_description options("options");
  options.add_options()
    ("data", po::value(&data)->default_value("fashion-mnist:train"), "training data (fashion-mnist[:train|test], image folder, IDX file, or file list)")
    ("labels", po::value(&labels), "IDX label file for IDX --data (default: found beside it)")
    ("val-data", po::value(&val_data), "validation data, evaluated after each epoch")
    ("val-labels", po::value(&val_labels), "IDX label file for --val-data")
    ("val-fraction", po::value(&val_fraction)->default_value(0.0), "hold out this fraction of --data for validation instead")
    ("out,o", po::value(&out)->required(), "where to write the TorchScript model (.pt)")
    ("report", po::value(&report), "training report JSON (default: <out>.json)")
    ("epochs", po::value(&train.epochs)->default_value(3), "passes over the training data")
    ("batch-size", po::value(&train.batch_size)->default_value(128), "images per step")
    ("lr", po::value(&train.lr)->default_value(1e-3), "Adam learning rate")
    ("lr-schedule", po::value(&schedule)->default_value("cosine"), "cosine (decay to 0 over the run) or constant")
    ("weight-decay", po::value(&train.weight_decay)->default_value(0.0), "L2 weight decay")
    ("filters", po::value(&net_options.filters)->default_value(32), "filters of the first conv block (the second has twice as many)")
    ("hidden", po::value(&net_options.hidden)->default_value(128), "units of the hidden layer")
    ("dropout", po::value(&net_options.dropout)->default_value(0.25), "dropout before the last layer")
    ("size", po::value(&size)->default_value(0), "input height = width (multiple of 4; default: the data's)")
    ("in-channels", po::value(&channels)->default_value(0), "input channels, 1 or 3 (default: the data's)")
    ("resize", po::value(&resize)->default_value("crop"), "how image files are fitted: crop (shorter side, centre crop) or stretch")
    ("limit", po::value(&train.limit)->default_value(0), "train on the first N shuffled samples only (0 = all)");
  add_common_options(options, common);
  po::variables_map vm;
  if (!parse_command("train-classifier", "--out MODEL.pt [options]",
                     "Trains mirage's small CNN (2 conv blocks + MLP) with Adam and saves it as TorchScript with\n"
                     "its input spec in mirage.json, so 'mirage eval', the attacks and PyTorch's torch.jit.load\n"
                     "can all use it. Progress goes to stderr; the training report (per-epoch loss and accuracy)\n"
                     "to --report.",
                     "  mirage train-classifier --out fmnist.pt\n"
                     "  mirage train-classifier --data photos/ --size 64 --in-channels 3 --epochs 10 --out photos.pt\n",
                     args, options, {}, vm, describe_data_specs())) {
    return kExitOk;
  }
  if (val_fraction > 0 && !val_data.empty()) throw UsageError("--val-data and --val-fraction exclude each other");
  if (schedule != "cosine" && schedule != "constant") throw UsageError("--lr-schedule must be cosine or constant");
  train.cosine = schedule == "cosine";
  if (report.empty()) report = std::filesystem::path(out).replace_extension(".json").string();
  if (report == out) throw UsageError("--report must differ from --out");
  check_output_path(out);
  check_output_path(report);
  Runtime runtime = start_runtime(common);
  train.seed = runtime.seed;

  auto train_data = open_data(data, labels, resize, channels, size, size);
  std::shared_ptr<Dataset> validation;
  if (!val_data.empty()) {
    validation = open_data(val_data, val_labels, resize, channels, size, size);
  } else if (val_fraction > 0) {
    auto [train_idx, val_idx] = split_indices(train_data->size(), val_fraction, runtime.seed);
    validation = std::make_shared<SubsetDataset>(train_data, val_idx, "val");
    train_data = std::make_shared<SubsetDataset>(train_data, train_idx, "train");
  }
  const DatasetInfo& info = train_data->info();
  net_options.channels = channels > 0 ? channels : info.channels;
  net_options.height = size > 0 ? size : info.height;
  net_options.width = size > 0 ? size : info.width;
  net_options.num_classes = info.num_classes;
  if (net_options.num_classes < 2) throw UsageError(info.name + ": training data needs labels of at least 2 classes");
  if (net_options.height % 4 || net_options.width % 4) {
    throw UsageError("--size: the data's " + std::to_string(net_options.height) + "x" +
                     std::to_string(net_options.width) + " images are not a multiple of 4; give --size");
  }
  SmallCnn net(net_options);
  log_info("training on " + info.name + " (" + std::to_string(train_data->size()) + " images, " +
           std::to_string(info.num_classes) + " classes) on " + runtime.device.str());
  std::string started = utc_now();
  auto history = train_classifier(net, *train_data, validation.get(), train, runtime.device, [&](const EpochStats& s) {
    char line[160];
    std::snprintf(line, sizeof(line), "epoch %lld: loss %.4f, train accuracy %.4f%s, %.0f img/s",
                  static_cast<long long>(s.epoch), s.loss, s.train_accuracy,
                  s.val_accuracy >= 0 ? (", validation accuracy " + std::to_string(s.val_accuracy).substr(0, 6)).c_str() : "",
                  s.images_per_second);
    log_info(line);
  });
  net->to(torch::kCPU);
  export_small_cnn(net, info.class_names, out);
  ModelSpec spec = small_cnn_spec(net, info.class_names);

  nlohmann::json epochs = nlohmann::json::array();
  for (const auto& s : history) {
    nlohmann::json e = {{"epoch", s.epoch}, {"loss", s.loss}, {"train_accuracy", s.train_accuracy},
                        {"seconds", s.seconds}, {"images_per_second", s.images_per_second}};
    if (s.val_accuracy >= 0) e["val_accuracy"] = s.val_accuracy;
    epochs.push_back(e);
  }
  nlohmann::json j = run_header("train-classifier", runtime, started);
  j.update({
      {"config", {{"epochs", train.epochs}, {"batch_size", train.batch_size}, {"lr", train.lr}, {"lr_schedule", schedule},
                  {"weight_decay", train.weight_decay}, {"limit", train.limit}, {"val_fraction", val_fraction},
                  {"resize", resize}, {"net", spec.extra}}},
      {"data", {{"train", info.name}, {"n", train_data->size()},
                {"validation", validation ? nlohmann::json(validation->info().name) : nlohmann::json(nullptr)}}},
      {"history", epochs},
      {"model", model_file_json(out, spec)},
  });
  write_json(report, j);
  log_info("wrote model " + out + " and report " + report);
  return kExitOk;
}

}  // namespace mirage::cli
