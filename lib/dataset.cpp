#include "lib/dataset.h"

#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>

#include "lib/error.h"
#include "lib/idx.h"
#include "lib/image_tensor.h"
#include "lib/runtime.h"

namespace fs = std::filesystem;

namespace mirage {

TensorDataset::TensorDataset(at::Tensor images, at::Tensor labels, DatasetInfo info)
    : images_(std::move(images)), labels_(std::move(labels)), info_(std::move(info)) {
  if (images_.dim() == 3) images_ = images_.unsqueeze(1);  // [N,H,W] -> [N,1,H,W]
  if (images_.dim() != 4) {
    throw InputError(info_.name + ": images must be [N,H,W] or [N,C,H,W], got " +
                     std::to_string(images_.dim()) + " dimensions");
  }
  if (labels_.defined()) {
    if (labels_.dim() != 1 || labels_.size(0) != images_.size(0)) {
      throw InputError(info_.name + ": " + std::to_string(images_.size(0)) + " images but " +
                       std::to_string(labels_.numel()) + " labels");
    }
    labels_ = labels_.to(torch::kLong);
    int64_t seen = labels_.numel() > 0 ? labels_.max().item<int64_t>() + 1 : 0;
    if (info_.num_classes > 0 && seen > info_.num_classes) {
      throw InputError(info_.name + ": label " + std::to_string(seen - 1) + " out of range for " +
                       std::to_string(info_.num_classes) + " classes");
    }
    info_.num_classes = std::max(info_.num_classes, seen);
  }
  info_.channels = images_.size(1);
  info_.height = images_.size(2);
  info_.width = images_.size(3);
}

int64_t TensorDataset::size() const { return images_.size(0); }

Batch TensorDataset::get(const std::vector<int64_t>& indices) {
  auto index = torch::tensor(indices, torch::kLong);
  Batch batch;
  batch.images = to_unit_float(images_.index_select(0, index));
  batch.labels = labels_.defined() ? labels_.index_select(0, index)
                                   : torch::full({static_cast<int64_t>(indices.size())}, -1, torch::kLong);
  batch.ids.reserve(indices.size());
  for (int64_t i : indices) batch.ids.push_back(info_.name + ":" + std::to_string(i));
  return batch;
}

SubsetDataset::SubsetDataset(std::shared_ptr<Dataset> base, std::vector<int64_t> indices,
                             std::string suffix)
    : base_(std::move(base)), indices_(std::move(indices)), info_(base_->info()) {
  for (int64_t i : indices_) {
    if (i < 0 || i >= base_->size()) throw InternalError("subset index out of range");
  }
  if (!suffix.empty()) info_.name += "[" + suffix + "]";
}

Batch SubsetDataset::get(const std::vector<int64_t>& indices) {
  std::vector<int64_t> mapped;
  mapped.reserve(indices.size());
  for (int64_t i : indices) mapped.push_back(indices_.at(static_cast<size_t>(i)));
  return base_->get(mapped);
}

std::shared_ptr<Dataset> open_idx_dataset(const std::string& images_path,
                                          const std::string& labels_path,
                                          const std::string& name,
                                          const std::vector<std::string>& class_names) {
  at::Tensor images = read_idx(images_path);
  if (images.scalar_type() != torch::kByte && !images.is_floating_point()) {
    throw InputError(images_path + ": image IDX files must hold u8 or float pixels");
  }
  if (images.dim() != 3 && images.dim() != 4) {
    throw InputError(images_path + ": image IDX files must be [N,H,W] or [N,C,H,W], got " +
                     std::to_string(images.dim()) + " dimensions");
  }
  if (images.is_floating_point()) {
    double lo = images.min().item<double>(), hi = images.max().item<double>();
    if (lo < 0 || hi > 1) throw InputError(images_path + ": float pixels must be in [0,1]");
  }
  at::Tensor labels;
  if (!labels_path.empty()) {
    labels = read_idx(labels_path);
    if (labels.dim() != 1) throw InputError(labels_path + ": label IDX files must be one-dimensional");
    if (labels.is_floating_point()) throw InputError(labels_path + ": labels must be integers");
    if (labels.size(0) != images.size(0)) {
      throw InputError(labels_path + ": " + std::to_string(labels.size(0)) + " labels for " +
                       std::to_string(images.size(0)) + " images in " + images_path);
    }
    if (labels.numel() > 0 && labels.min().item<int64_t>() < 0) {
      throw InputError(labels_path + ": negative labels");
    }
  }
  DatasetInfo info;
  info.name = name.empty() ? images_path : name;
  info.class_names = class_names;
  info.num_classes = static_cast<int64_t>(class_names.size());
  return std::make_shared<TensorDataset>(images, labels, info);
}

std::string fashion_mnist_dir() {
  if (const char* env = std::getenv("MIRAGE_FASHION_MNIST_DIR"); env && *env) return env;
  return "/usr/share/datasets/fashion-mnist";
}

const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                                 "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

namespace {

// <dir>/<prefix>-<what>-<idxN>-ubyte.gz, or the same without .gz; "" when neither exists.
std::string idx_file(const fs::path& dir, const std::string& prefix, const std::string& what) {
  const std::string base = prefix + "-" + what + (what == "images" ? "-idx3-ubyte" : "-idx1-ubyte");
  for (const std::string& name : {base + ".gz", base}) {
    std::error_code ec;
    if (fs::is_regular_file(dir / name, ec)) return (dir / name).string();
  }
  return "";
}

}  // namespace

std::shared_ptr<Dataset> open_idx_dir(const std::string& dir, const std::string& split, const std::string& name,
                                      const std::vector<std::string>& class_names) {
  if (idx_file(dir, "train", "images").empty() && idx_file(dir, "t10k", "images").empty()) return nullptr;
  if (split != "train" && split != "test") throw UsageError(dir + ": unknown split '" + split + "' (train or test)");
  const std::string prefix = split == "train" ? "train" : "t10k";
  const std::string images = idx_file(dir, prefix, "images");
  if (images.empty()) throw InputError(dir + ": no " + prefix + "-images-idx3-ubyte[.gz] for the " + split + " split");
  return open_idx_dataset(images, idx_file(dir, prefix, "labels"), name, class_names);
}

std::shared_ptr<Dataset> open_fashion_mnist(const std::string& split) {
  if (split != "train" && split != "test") throw UsageError("fashion-mnist: unknown split '" + split + "' (train or test)");
  const std::string dir = fashion_mnist_dir();
  auto data = open_idx_dir(dir, split, "fashion-mnist:" + split, fashion_mnist_classes());
  if (!data) {
    throw InputError((fs::path(dir) / (std::string(split == "train" ? "train" : "t10k") + "-images-idx3-ubyte.gz")).string() +
                     ": Fashion-MNIST not found (install the Debian package dataset-fashion-mnist, "
                     "run scripts/setup.sh, or set MIRAGE_FASHION_MNIST_DIR)");
  }
  return data;
}

std::vector<int64_t> shuffled_indices(int64_t n, uint64_t seed) {
  auto gen = make_generator(seed);
  at::Tensor perm = torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kLong));
  return std::vector<int64_t>(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + n);
}

Batch get_batch_skipping_bad(Dataset& dataset, const std::vector<int64_t>& indices, std::vector<BadItem>& bad) {
  try {
    return dataset.get(indices);
  } catch (const InputError&) {
    // Find the bad items one by one; the good ones form the batch.
  }
  std::vector<at::Tensor> images, labels;
  Batch out;
  for (int64_t index : indices) {
    try {
      Batch one = dataset.get({index});
      images.push_back(one.images);
      labels.push_back(one.labels);
      out.ids.push_back(one.ids.at(0));
    } catch (const InputError& e) {
      bad.push_back({index, dataset.info().name + ":" + std::to_string(index), one_line(e)});
    }
  }
  if (!images.empty()) {
    out.images = torch::cat(images);
    out.labels = torch::cat(labels);
  }
  return out;
}

std::vector<int64_t> seeded_subset(int64_t n, int64_t k, uint64_t seed) {
  if (k <= 0 || k >= n) {
    std::vector<int64_t> all(static_cast<size_t>(std::max<int64_t>(n, 0)));
    for (int64_t i = 0; i < n; ++i) all[static_cast<size_t>(i)] = i;
    return all;
  }
  auto order = shuffled_indices(n, seed);
  order.resize(static_cast<size_t>(k));
  return order;
}

std::shared_ptr<Dataset> limit_dataset(std::shared_ptr<Dataset> data, int64_t limit, uint64_t seed) {
  if (limit <= 0 || limit >= data->size()) return data;
  auto order = seeded_subset(data->size(), limit, seed);
  return std::make_shared<SubsetDataset>(std::move(data), std::move(order), "limit");
}

std::pair<std::vector<int64_t>, std::vector<int64_t>> split_indices(int64_t n,
                                                                   double validation_fraction,
                                                                   uint64_t seed) {
  if (validation_fraction < 0 || validation_fraction >= 1) {
    throw UsageError("validation fraction must be in [0,1), got " + std::to_string(validation_fraction));
  }
  auto order = shuffled_indices(n, derive_seed(seed, "split"));
  auto n_val = static_cast<int64_t>(std::llround(validation_fraction * static_cast<double>(n)));
  std::vector<int64_t> val(order.begin(), order.begin() + n_val);
  std::vector<int64_t> train(order.begin() + n_val, order.end());
  return {train, val};
}

BatchLoader::BatchLoader(Dataset& dataset, LoaderOptions options)
    : dataset_(dataset), options_(options) {
  if (options_.batch_size <= 0) throw UsageError("--batch-size must be positive");
  if (options_.limit < 0) throw UsageError("--limit must be >= 0");
  start_epoch(0);
}

void BatchLoader::start_epoch(int64_t epoch) {
  int64_t n = dataset_.size();
  if (options_.shuffle) {
    order_ = shuffled_indices(n, derive_seed(options_.seed, "epoch-" + std::to_string(epoch)));
  } else {
    order_.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order_[static_cast<size_t>(i)] = i;
  }
  if (options_.limit > 0 && options_.limit < n) order_.resize(static_cast<size_t>(options_.limit));
  cursor_ = 0;
}

int64_t BatchLoader::num_batches() const {
  int64_t n = num_samples(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

bool BatchLoader::next(Batch& batch) {
  size_t remaining = order_.size() - cursor_;
  size_t take = std::min<size_t>(remaining, static_cast<size_t>(options_.batch_size));
  if (take == 0 || (options_.drop_last && take < static_cast<size_t>(options_.batch_size))) return false;
  std::vector<int64_t> indices(order_.begin() + static_cast<std::ptrdiff_t>(cursor_),
                               order_.begin() + static_cast<std::ptrdiff_t>(cursor_ + take));
  cursor_ += take;
  batch = dataset_.get(indices);
  return true;
}

}  // namespace mirage
