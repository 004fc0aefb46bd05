// lib/dataset.h — data sets stream batches of images in [0,1] with labels and ids.
#pragma once
#include <ATen/core/Tensor.h>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mirage {

struct Batch {
  at::Tensor images;             // [N, C, H, W] float32 in [0,1], CPU
  at::Tensor labels;             // [N] int64; -1 where a sample has no label
  std::vector<std::string> ids;  // file path or "name:index"
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

struct DatasetInfo {
  std::string name;  // e.g. "fashion-mnist:test", a folder path
  int64_t channels = 0;
  int64_t height = 0;
  int64_t width = 0;
  int64_t num_classes = 0;  // 0 when unlabelled
  std::vector<std::string> class_names;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual const DatasetInfo& info() const = 0;
  // The samples at `indices`, in that order. Reads only what it returns.
  virtual Batch get(const std::vector<int64_t>& indices) = 0;
};

// Images held in memory as uint8 [N, C, H, W] (converted to float per batch) or float.
class TensorDataset final : public Dataset {
 public:
  TensorDataset(at::Tensor images, at::Tensor labels, DatasetInfo info);
  int64_t size() const override;
  const DatasetInfo& info() const override { return info_; }
  Batch get(const std::vector<int64_t>& indices) override;

 private:
  at::Tensor images_;
  at::Tensor labels_;
  DatasetInfo info_;
};

// A view on some samples of another data set (train/validation split, shards, --limit).
class SubsetDataset final : public Dataset {
 public:
  SubsetDataset(std::shared_ptr<Dataset> base, std::vector<int64_t> indices, std::string suffix);
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  const DatasetInfo& info() const override { return info_; }
  Batch get(const std::vector<int64_t>& indices) override;

 private:
  std::shared_ptr<Dataset> base_;
  std::vector<int64_t> indices_;
  DatasetInfo info_;
};

// IDX image file ([N,H,W] or [N,C,H,W] u8) with an optional IDX label file ([N]).
std::shared_ptr<Dataset> open_idx_dataset(const std::string& images_path,
                                          const std::string& labels_path,
                                          const std::string& name,
                                          const std::vector<std::string>& class_names = {});

// A folder of IDX files as MNIST-style archives name them: split "train" is
// train-images-idx3-ubyte[.gz] (+ train-labels-idx1-ubyte[.gz]), "test" the t10k- files.
// nullptr when the folder holds neither split's images; the other split missing is an InputError.
std::shared_ptr<Dataset> open_idx_dir(const std::string& dir, const std::string& split, const std::string& name,
                                      const std::vector<std::string>& class_names = {});

// Fashion-MNIST from the dataset-fashion-mnist package (or $MIRAGE_FASHION_MNIST_DIR);
// split is "train" (60k) or "test" (10k).
std::string fashion_mnist_dir();
std::shared_ptr<Dataset> open_fashion_mnist(const std::string& split);
const std::vector<std::string>& fashion_mnist_classes();

// A permutation of 0..n-1 that depends only on `seed`.
std::vector<int64_t> shuffled_indices(int64_t n, uint64_t seed);

// A data set item that could not be read (corrupt or unreadable image file).
struct BadItem {
  int64_t index;
  std::string id;
  std::string error;
};
// dataset.get(indices), except that an item that fails with an InputError is left out and
// appended to `bad` (the batch is retried one item at a time), so batch commands go on.
Batch get_batch_skipping_bad(Dataset& dataset, const std::vector<int64_t>& indices, std::vector<BadItem>& bad);

// The seeded random subset every --limit takes: the first k of shuffled_indices(n, seed); all of
// 0..n-1 in order when k <= 0 or k >= n (no limit).
std::vector<int64_t> seeded_subset(int64_t n, int64_t k, uint64_t seed);
// `data` limited to seeded_subset(size, limit, seed) (a SubsetDataset named "<name>[limit]"), or
// `data` itself when the limit takes everything.
std::shared_ptr<Dataset> limit_dataset(std::shared_ptr<Dataset> data, int64_t limit, uint64_t seed);

// Splits 0..n-1 into (train, validation) by a seeded shuffle; `validation_fraction` in [0,1).
std::pair<std::vector<int64_t>, std::vector<int64_t>> split_indices(int64_t n,
                                                                   double validation_fraction,
                                                                   uint64_t seed);

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = false;
  uint64_t seed = 0;
  int64_t limit = 0;  // 0 = all; else the first `limit` samples (after shuffling, if any)
  bool drop_last = false;
};

// Streams batches; memory is bounded by one batch (plus what the data set itself holds).
// Each epoch with shuffle on draws a new order from derive_seed(seed, "epoch-<k>").
class BatchLoader {
 public:
  BatchLoader(Dataset& dataset, LoaderOptions options);
  void start_epoch(int64_t epoch);
  bool next(Batch& batch);
  int64_t num_samples() const { return static_cast<int64_t>(order_.size()); }
  int64_t num_batches() const;

 private:
  Dataset& dataset_;
  LoaderOptions options_;
  std::vector<int64_t> order_;
  size_t cursor_ = 0;
};

}  // namespace mirage
