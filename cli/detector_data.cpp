#include "cli/detector_data.h"

#include <torch/torch.h>

#include <filesystem>

#include "lib/error.h"
#include "lib/image/open_data.h"
#include "lib/image_tensor.h"
#include "lib/log.h"

namespace mirage::cli {
namespace fs = std::filesystem;

ImageSource open_image_source(const std::string& arg, int64_t channels, int64_t size, const std::string& resize,
                              c10::Device device) {
  ImageSource source;
  source.spec = arg;
  const auto eq = arg.find('=');
  // A "name=" prefix, unless the '=' belongs to a path.
  if (eq != std::string::npos && eq > 0 && arg.find('/') > eq) {
    source.name = arg.substr(0, eq);
    source.spec = arg.substr(eq + 1);
  }
  if (source.name.empty()) source.name = source.spec;
  std::error_code ec;
  const bool checkpoint = fs::is_directory(source.spec, ec) && fs::exists(fs::path(source.spec) / "config.json", ec);
  if (checkpoint || fs::path(source.spec).extension() == ".pt") {
    source.generator = GeneratorModel::load(source.spec, device);
    if (!source.generator->takes_noise()) {
      throw UsageError(source.spec + ": a " + source.generator->arch() + " generator translates images; sample its outputs with 'mirage generate' and pass the folder");
    }
    return source;
  }
  source.data = open_data(source.spec, "", resize, channels, size, size);
  return source;
}

int64_t source_size(const ImageSource& source) {
  if (source.is_gan()) return source.generator->spec().height;
  const auto& info = source.data->info();
  return info.height == info.width ? info.height : 0;
}

int64_t source_channels(const ImageSource& source) {
  return source.is_gan() ? source.generator->output_channels() : source.data->info().channels;
}

SourceImages load_source(ImageSource& source, int64_t limit, uint64_t seed, int64_t channels, int64_t size) {
  Dataset& data = *source.data;
  std::vector<int64_t> order;
  if (limit > 0 && limit < data.size()) {
    order = shuffled_indices(data.size(), seed);
    order.resize(static_cast<size_t>(limit));
  } else {
    for (int64_t i = 0; i < data.size(); ++i) order.push_back(i);
  }
  SourceImages out;
  std::vector<at::Tensor> images, labels;
  std::vector<BadItem> bad;
  Progress progress("load " + source.name, static_cast<int64_t>(order.size()));
  for (size_t start = 0; start < order.size(); start += 512) {
    std::vector<int64_t> idx(order.begin() + static_cast<std::ptrdiff_t>(start),
                             order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), start + 512)));
    Batch b = get_batch_skipping_bad(data, idx, bad);
    progress.advance(static_cast<int64_t>(idx.size()));
    if (b.size() == 0) continue;
    images.push_back(fit_batch(b.images, channels, size, size));
    labels.push_back(b.labels);
    out.ids.insert(out.ids.end(), b.ids.begin(), b.ids.end());
  }
  progress.finish();
  for (const auto& item : bad) log_warn("skipped " + item.error);
  if (images.empty()) throw InputError(source.spec + ": no readable images");
  out.images = torch::cat(images);
  out.labels = torch::cat(labels);
  return out;
}

SourceImages sample_source(ImageSource& source, int64_t n, uint64_t seed, int64_t channels, int64_t size) {
  GeneratorModel& g = *source.generator;
  torch::NoGradGuard no_grad;
  at::Generator gen = make_generator(seed);
  SourceImages out;
  std::vector<at::Tensor> images, labels;
  for (int64_t start = 0; start < n; start += 256) {
    const int64_t k = std::min<int64_t>(256, n - start);
    const auto z = torch::randn({k, g.z_dim()}, gen).to(g.device());
    at::Tensor y;
    if (g.num_classes() > 0) y = (torch::arange(start, start + k, torch::kInt64) % g.num_classes()).to(g.device());
    images.push_back(fit_batch(g.generate(z, y).to(torch::kCPU), channels, size, size));
    labels.push_back(y.defined() ? y.to(torch::kCPU) : torch::full({k}, -1, torch::kInt64));
    for (int64_t i = 0; i < k; ++i) out.ids.push_back(source.name + ":" + std::to_string(start + i));
  }
  out.images = torch::cat(images);
  out.labels = torch::cat(labels);
  return out;
}

}  // namespace mirage::cli
