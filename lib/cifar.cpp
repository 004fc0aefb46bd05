#include "lib/cifar.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "lib/atomic_file.h"
#include "lib/error.h"

namespace mirage {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kPixels = 3 * 32 * 32;

int64_t label_bytes(CifarKind kind) { return kind == CifarKind::kCifar10 ? 1 : 2; }
int64_t classes_of(CifarKind kind) { return kind == CifarKind::kCifar10 ? 10 : 100; }
const char* kind_name(CifarKind kind) { return kind == CifarKind::kCifar10 ? "CIFAR-10" : "CIFAR-100"; }

std::vector<std::string> read_names(const fs::path& file) {
  std::vector<std::string> names;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  return names;
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

}  // namespace

std::shared_ptr<Dataset> open_cifar_files(const std::vector<std::string>& files, CifarKind kind, const std::string& name,
                                          std::vector<std::string> class_names) {
  if (files.empty()) throw UsageError(name + ": no CIFAR files given");
  const int64_t record = label_bytes(kind) + kPixels;
  std::vector<at::Tensor> images, labels;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw InputError(file + ": cannot read");
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto n_bytes = static_cast<int64_t>(bytes.size());
    if (n_bytes == 0 || n_bytes % record != 0) {
      throw InputError(file + ": " + std::to_string(n_bytes) + " bytes is not a whole number of " + kind_name(kind) +
                       " records (" + std::to_string(record) + " bytes each)");
    }
    const int64_t n = n_bytes / record;
    at::Tensor raw = torch::from_blob(bytes.data(), {n, record}, torch::kUInt8).clone();
    at::Tensor label = raw.select(1, label_bytes(kind) - 1).to(torch::kLong);
    const int64_t top = label.max().item<int64_t>();
    if (top >= classes_of(kind)) {
      const int64_t at = label.ge(classes_of(kind)).nonzero().select(1, 0)[0].item<int64_t>();
      throw InputError(file + ": record " + std::to_string(at) + " has label " + std::to_string(label[at].item<int64_t>()) +
                       ", beyond the " + std::to_string(classes_of(kind)) + " classes of " + kind_name(kind));
    }
    labels.push_back(label);
    images.push_back(raw.narrow(1, label_bytes(kind), kPixels).reshape({n, 3, 32, 32}));
  }
  DatasetInfo info;
  info.name = name;
  info.channels = 3;
  info.height = info.width = 32;
  info.num_classes = classes_of(kind);
  if (static_cast<int64_t>(class_names.size()) == info.num_classes) info.class_names = std::move(class_names);
  return std::make_shared<TensorDataset>(torch::cat(images).contiguous(), torch::cat(labels), info);
}

std::shared_ptr<Dataset> open_cifar_dir(const std::string& dir_name, const std::string& split) {
  const fs::path dir(dir_name);
  const bool cifar10 = is_file(dir / "test_batch.bin") || is_file(dir / "data_batch_1.bin");
  const bool cifar100 = !cifar10 && (is_file(dir / "test.bin") || is_file(dir / "train.bin")) &&
                        (is_file(dir / "fine_label_names.txt") || is_file(dir / "coarse_label_names.txt"));
  if (!cifar10 && !cifar100) return nullptr;
  if (split != "train" && split != "test") throw UsageError(dir_name + ": unknown split '" + split + "' (train or test)");
  const CifarKind kind = cifar10 ? CifarKind::kCifar10 : CifarKind::kCifar100;
  std::vector<std::string> files;
  if (cifar10 && split == "train") {
    for (int i = 1; is_file(dir / ("data_batch_" + std::to_string(i) + ".bin")); ++i) {
      files.push_back((dir / ("data_batch_" + std::to_string(i) + ".bin")).string());
    }
  } else {
    const fs::path f = dir / (cifar10 ? "test_batch.bin" : split + ".bin");
    if (is_file(f)) files.push_back(f.string());
  }
  if (files.empty()) {
    throw InputError(dir_name + ": no " + std::string(kind_name(kind)) + " " + split + " files (" +
                     (cifar10 ? (split == "train" ? "data_batch_1.bin ..." : "test_batch.bin") : split + ".bin") + ")");
  }
  const fs::path names = dir / (cifar10 ? "batches.meta.txt" : "fine_label_names.txt");
  return open_cifar_files(files, kind, dir_name + ":" + split, is_file(names) ? read_names(names) : std::vector<std::string>{});
}

void write_cifar_file(const std::string& path, const at::Tensor& images, const at::Tensor& labels, CifarKind kind) {
  if (images.dim() != 4 || images.size(1) != 3 || images.size(2) != 32 || images.size(3) != 32 ||
      images.scalar_type() != torch::kUInt8) {
    throw UsageError("CIFAR images must be [N, 3, 32, 32] uint8");
  }
  const int64_t n = images.size(0);
  if (labels.dim() != 1 || labels.size(0) != n) throw UsageError("CIFAR labels must be [N]");
  at::Tensor l = labels.to(torch::kUInt8).view({n, 1});
  at::Tensor head = kind == CifarKind::kCifar10 ? l : torch::cat({l, l}, 1);
  at::Tensor rows = torch::cat({head, images.reshape({n, kPixels})}, 1).contiguous();
  AtomicFile file(path);
  file.stream().write(reinterpret_cast<const char*>(rows.data_ptr<uint8_t>()), rows.numel());
  file.commit();
}

}  // namespace mirage
