#include "gan/run.h"

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "lib/atomic_file.h"
#include "lib/error.h"

namespace mirage {

std::ofstream open_metrics_log(const std::string& path, bool resume, int64_t step) {
  std::string kept;
  if (resume) {
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      try {
        if (nlohmann::json::parse(line).value("step", int64_t{0}) <= step) kept += line + "\n";
      } catch (const std::exception&) {
        break;  // a line cut short by the kill
      }
    }
  }
  write_text_atomic(path, kept);
  std::ofstream log(path, std::ios::app);
  if (!log) throw InputError(path + ": cannot write");
  return log;
}

at::Tensor toy_scatter_image(const at::Tensor& points, const ToyMixture& mixture, int64_t size) {
  const int64_t s = size;
  const double extent = mixture.centers.abs().max().item<double>() + 1.5;
  at::Tensor img = torch::zeros({1, s, s});
  auto plot = [&](const at::Tensor& p, float value) {
    at::Tensor ij = ((p + extent) / (2 * extent) * (s - 1)).round().to(torch::kLong);
    auto a = ij.accessor<int64_t, 2>();
    auto pixels = img.accessor<float, 3>();
    for (int64_t i = 0; i < ij.size(0); ++i) {
      const int64_t x = a[i][0], y = s - 1 - a[i][1];
      if (x >= 0 && x < s && y >= 0 && y < s) pixels[0][y][x] = value;
    }
  };
  plot(points.to(torch::kCPU).to(torch::kFloat), 1.0f);
  plot(mixture.centers, 0.5f);
  return img;
}

}  // namespace mirage
