#include "gan/data.h"

#include <torch/torch.h>

#include <algorithm>
#include <vector>

#include "lib/error.h"
#include "lib/image_tensor.h"
#include "lib/log.h"

namespace mirage {

std::shared_ptr<Dataset> mapped_dataset(Dataset& data, const std::function<at::Tensor(const at::Tensor&)>& map,
                                        int64_t channels, const std::string& name) {
  const int64_t n = data.size();
  const DatasetInfo& info = data.info();
  at::Tensor images = torch::empty({n, channels, info.height, info.width}, torch::kUInt8);
  Progress progress(name, n);
  for (int64_t start = 0; start < n; start += 1000) {
    std::vector<int64_t> idx;
    for (int64_t i = start; i < std::min(n, start + 1000); ++i) idx.push_back(i);
    at::Tensor mapped = map(data.get(idx).images);
    const auto want = std::vector<int64_t>{static_cast<int64_t>(idx.size()), channels, info.height, info.width};
    if (mapped.sizes() != at::IntArrayRef(want)) {
      throw InternalError(name + " of " + info.name + ": map gave " + shape_text(mapped.sizes()) + ", expected " +
                          shape_text(want));
    }
    images.slice(0, start, start + static_cast<int64_t>(idx.size())).copy_(mapped.mul(255).round().to(torch::kUInt8));
    progress.advance(static_cast<int64_t>(idx.size()));
  }
  progress.finish();
  DatasetInfo mapped_info = info;
  mapped_info.name = name + "(" + info.name + ")";
  mapped_info.channels = channels;
  mapped_info.num_classes = 0;
  mapped_info.class_names.clear();
  return std::make_shared<TensorDataset>(images, torch::full({n}, -1, torch::kLong), mapped_info);
}

}  // namespace mirage
