// lib/image/edges.cpp
#include "lib/image/edges.h"

#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <sstream>

#include "lib/error.h"
#include "lib/image/convert.h"

namespace mirage {

at::Tensor canny_edges(const at::Tensor& images, double low, double high) {
  if (images.dim() != 4 || (images.size(1) != 1 && images.size(1) != 3)) {
    std::ostringstream shape;
    shape << images.sizes();
    throw UsageError("Canny edges of images of shape " + shape.str() + ": expected [N, C, H, W] with C = 1 or 3");
  }
  if (low < 0 || high < low) {
    throw UsageError("Canny thresholds " + std::to_string(low) + ", " + std::to_string(high) +
                     ": expected 0 <= low <= high");
  }
  std::vector<at::Tensor> maps;
  for (int64_t i = 0; i < images.size(0); ++i) {
    // tensor_to_mat rounds to 8 bits, the scale cv::Canny's thresholds are given in.
    cv::Mat gray = tensor_to_mat(images[i]), edges;
    if (gray.channels() == 3) cv::cvtColor(gray, gray, cv::COLOR_BGR2GRAY);
    cv::Canny(gray, edges, low, high);
    // Canny marks edges 255; gt(0) copies out of the Mat's buffer.
    maps.push_back(torch::from_blob(edges.data, {1, edges.rows, edges.cols}, torch::kByte).gt(0).to(torch::kFloat));
  }
  if (maps.empty()) return torch::zeros({0, 1, images.size(2), images.size(3)}, images.options().dtype(torch::kFloat));
  return torch::stack(maps).to(images.device());
}

}  // namespace mirage
