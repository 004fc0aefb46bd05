// lib/image/open_data.cpp
#include "lib/image/open_data.h"

#include <torch/torch.h>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <utility>

#include "lib/cifar.h"
#include "lib/error.h"
#include "lib/image/folder_dataset.h"
#include "lib/image_tensor.h"

namespace mirage {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string replace_first(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

// Cuts the centre of a batch to the target's aspect ratio, so that fit_batch's resize after it
// matches fit_mat's shorter-side-then-crop (up to rounding).
at::Tensor crop_to_aspect(const at::Tensor& x, int64_t height, int64_t width) {
  const int64_t src_h = x.size(2), src_w = x.size(3);
  if (width * src_h > height * src_w) {
    const int64_t crop_h = std::max<int64_t>(1, src_w * height / width);
    return x.narrow(2, (src_h - crop_h) / 2, crop_h);
  }
  if (width * src_h < height * src_w) {
    const int64_t crop_w = std::max<int64_t>(1, src_h * width / height);
    return x.narrow(3, (src_w - crop_w) / 2, crop_w);
  }
  return x;
}

// A tensor-backed set (IDX) seen at another shape; image-file sets fit themselves per image.
class FittedDataset final : public Dataset {
 public:
  FittedDataset(std::shared_ptr<Dataset> base, ImageShape shape, ResizePolicy policy)
      : base_(std::move(base)), shape_(shape), policy_(policy), info_(base_->info()) {
    info_.channels = shape.channels;
    info_.height = shape.height;
    info_.width = shape.width;
  }
  int64_t size() const override { return base_->size(); }
  const DatasetInfo& info() const override { return info_; }
  Batch get(const std::vector<int64_t>& indices) override {
    Batch batch = base_->get(indices);
    if (batch.size() == 0) {
      batch.images = torch::empty({0, shape_.channels, shape_.height, shape_.width}, torch::kFloat);
      return batch;
    }
    at::Tensor x = batch.images;
    if (policy_ != ResizePolicy::kStretch) x = crop_to_aspect(x, shape_.height, shape_.width);
    if (policy_ == ResizePolicy::kImageNet) {
      // The centre 224/256 of each side, then the resize: Resize(256) + CenterCrop(224) up to rounding.
      const int64_t ch = std::max<int64_t>(1, std::llround(x.size(2) * kImageNetCropFraction));
      const int64_t cw = std::max<int64_t>(1, std::llround(x.size(3) * kImageNetCropFraction));
      x = x.narrow(2, (x.size(2) - ch) / 2, ch).narrow(3, (x.size(3) - cw) / 2, cw);
    }
    batch.images = fit_batch(x, shape_.channels, shape_.height, shape_.width).contiguous();
    return batch;
  }

 private:
  std::shared_ptr<Dataset> base_;
  ImageShape shape_;
  ResizePolicy policy_;
  DatasetInfo info_;
};

std::shared_ptr<Dataset> fitted(std::shared_ptr<Dataset> data, const ImageShape& target,
                                ResizePolicy policy) {
  if (target.channels < 0 || target.height < 0 || target.width < 0) {
    throw UsageError("target image shape must not be negative");
  }
  const DatasetInfo& info = data->info();
  const ImageShape shape{target.channels ? target.channels : info.channels,
                         target.height ? target.height : info.height,
                         target.width ? target.width : info.width};
  if (shape.channels == info.channels && shape.height == info.height && shape.width == info.width) {
    return data;
  }
  if (shape.channels != 1 && shape.channels != 3) {
    throw UsageError("target channels " + std::to_string(shape.channels) + ": expected 1 or 3");
  }
  return std::make_shared<FittedDataset>(std::move(data), shape, policy);
}

// "fashion-mnist" / "fmnist", optionally ":<split>"; nullopt for anything else.
std::optional<std::string> fashion_mnist_split(const std::string& spec) {
  const std::string s = lower(spec);
  for (const std::string prefix : {"fashion-mnist", "fmnist"}) {
    if (s == prefix) return std::string("test");
    if (s.rfind(prefix + ":", 0) == 0) return s.substr(prefix.size() + 1);
  }
  return std::nullopt;
}

bool is_idx_name(const std::string& file_name) {
  const std::string name = lower(file_name);
  return ends_with(name, ".idx") || ends_with(name, ".gz") ||
         name.find("-ubyte") != std::string::npos;
}

// t10k-images-idx3-ubyte.gz -> t10k-labels-idx1-ubyte.gz, images.idx -> labels.idx.
std::string sibling_labels(const fs::path& images) {
  const std::string name = images.filename().string();
  if (name.find("images") == std::string::npos) return "";
  const std::string renamed = replace_first(name, "images", "labels");
  for (const std::string& candidate : {replace_first(renamed, "idx3", "idx1"), renamed}) {
    const fs::path path = images.parent_path() / candidate;
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) return path.string();
  }
  return "";
}

// "DIR:train" / "DIR:test" for an existing folder: {DIR, split}; else {spec, ""}.
std::pair<std::string, std::string> split_suffix(const std::string& spec) {
  for (const std::string split : {"train", "test"}) {
    const std::string suffix = ":" + split;
    if (!ends_with(spec, suffix)) continue;
    const std::string dir = spec.substr(0, spec.size() - suffix.size());
    std::error_code ec;
    if (fs::is_directory(dir, ec)) return {dir, split};
  }
  return {spec, ""};
}

// A folder of CIFAR batch files or of MNIST-style IDX files, opened at `split` (default test);
// nullptr for any other folder.
std::shared_ptr<Dataset> open_archive_dir(const std::string& dir, const std::string& split) {
  const std::string s = split.empty() ? "test" : split;
  if (auto cifar = open_cifar_dir(dir, s)) return cifar;
  return open_idx_dir(dir, s, dir + ":" + s);
}

}  // namespace

std::shared_ptr<Dataset> open_dataset(const std::string& spec, const ImageShape& target,
                                      ResizePolicy policy, const std::string& labels_path) {
  if (spec.empty()) {
    throw UsageError("no data given (a folder, an IDX file, an image list or fashion-mnist)");
  }
  auto no_labels_file = [&](const std::string& kind) {
    if (!labels_path.empty()) {
      throw UsageError(labels_path + ": a labels file applies only to IDX images, not to " + kind);
    }
  };
  if (const auto split = fashion_mnist_split(spec)) {
    no_labels_file("fashion-mnist");
    return fitted(open_fashion_mnist(*split), target, policy);
  }
  const auto [dir, split] = split_suffix(spec);
  std::error_code ec;
  const fs::file_status status = fs::status(dir, ec);
  if (!fs::exists(status)) throw InputError(spec + ": no such file or directory");
  if (fs::is_directory(status)) {
    if (auto archive = open_archive_dir(dir, split)) {
      if (!labels_path.empty()) throw UsageError(labels_path + ": " + dir + " holds its own labels");
      return fitted(archive, target, policy);
    }
    if (!split.empty()) throw UsageError(spec + ": ':" + split + "' applies to a CIFAR or IDX folder, not to an image folder");
    no_labels_file("an image folder");
    return std::make_shared<ImageFolderDataset>(spec, target, policy);
  }
  const fs::path path(spec);
  if (is_idx_name(path.filename().string())) {
    const std::string labels = labels_path.empty() ? sibling_labels(path) : labels_path;
    return fitted(open_idx_dataset(spec, labels, spec), target, policy);
  }
  const std::string ext = lower(path.extension().string());
  if (ext == ".txt" || ext == ".lst" || ext == ".csv") {
    no_labels_file("an image list");
    return std::make_shared<FileListDataset>(spec, target, policy);
  }
  throw UsageError(spec + ": not a data set (expected an image folder, an IDX file, a " +
                   ".txt/.lst/.csv image list, or fashion-mnist[:train|test])");
}

std::string describe_data_specs() {
  return "data sets (--data):\n"
         "  fashion-mnist[:train|test]   the embedded Fashion-MNIST (default split: test)\n"
         "  DIR                          DIR/<class>/<image> (label = sorted class index),\n"
         "                               or images directly in DIR (unlabelled)\n"
         "  DIR[:train|test]             a folder of CIFAR-10/100 binary batches\n"
         "                               (test_batch.bin, data_batch_*.bin; test.bin, train.bin)\n"
         "                               or of MNIST-style IDX files (t10k-*, train-*);\n"
         "                               default split: test\n"
         "  FILE.idx, FILE.gz, *-ubyte*  IDX images; labels from the sibling file named\n"
         "                               with 'labels' for 'images', if there is one\n"
         "  LIST.txt, LIST.lst, LIST.csv one image per line: 'path [label]', relative to\n"
         "                               the list's folder; '#' starts a comment\n";
}

}  // namespace mirage
