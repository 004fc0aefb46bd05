#include "gan/sampling.h"

#include <torch/torch.h>

#include <filesystem>

#include "lib/error.h"
#include "lib/runtime.h"

namespace mirage {

std::unique_ptr<GeneratorModel> GeneratorModel::load(const std::string& path, c10::Device device) {
  std::string file = path;
  if (std::filesystem::is_directory(path)) file = (std::filesystem::path(path) / "generator.pt").string();
  auto g = std::unique_ptr<GeneratorModel>(new GeneratorModel());
  g->model_ = TorchScriptModel::load(file, device);
  g->path_ = file;
  const ModelSpec& spec = g->model_->spec();
  if (!g->model_->had_metadata() || spec.kind != "generator") {
    throw UsageError(file + ": not a mirage generator (its metadata kind is '" +
                     (g->model_->had_metadata() ? spec.kind : std::string("none")) + "')");
  }
  const auto& extra = spec.extra;
  g->arch_ = extra.value("arch", std::string());
  g->z_dim_ = extra.value("z_dim", int64_t{0});
  g->num_classes_ = spec.num_classes;
  g->output_channels_ = extra.value("output_channels", spec.channels);
  return g;
}

at::Tensor GeneratorModel::generate(const at::Tensor& z, const at::Tensor& y) {
  if (!takes_noise()) throw UsageError(path_ + ": a " + arch_ + " generator translates images; it takes no z");
  if (z.dim() != 2 || z.size(1) != z_dim_) {
    throw InputError(path_ + ": z must be [N, " + std::to_string(z_dim_) + "]");
  }
  std::vector<torch::jit::IValue> inputs{z.to(device())};
  if (num_classes_ > 0) {
    if (!y.defined()) throw UsageError(path_ + ": a conditional generator needs a class");
    inputs.emplace_back(y.to(device()));
  }
  return model_->module().forward(inputs).toTensor();
}

at::Tensor GeneratorModel::translate(const at::Tensor& x) {
  if (takes_noise()) throw UsageError(path_ + ": a " + arch_ + " generator maps noise; it takes no images");
  return model_->module().forward({x.to(device())}).toTensor();
}

uint64_t fake_seed(uint64_t seed, int64_t index) { return derive_seed(seed, "fake-" + std::to_string(index)); }

at::Tensor latent_for_seed(uint64_t seed, int64_t z_dim, double truncation) {
  at::Generator gen = make_generator(seed);
  at::Tensor z = torch::randn({z_dim}, gen);
  if (truncation > 0) {
    // Redraws only the offending entries, always from the same generator: deterministic.
    for (int round = 0; round < 1000; ++round) {
      at::Tensor outside = z.abs() > truncation;
      if (!outside.any().item<bool>()) break;
      z = torch::where(outside, torch::randn({z_dim}, gen), z);
    }
    z = z.clamp(-truncation, truncation);  // after 1000 rounds only for absurdly small t
  }
  return z;
}

std::vector<uint64_t> fake_seeds(uint64_t seed, int64_t n, int64_t first) {
  std::vector<uint64_t> seeds;
  for (int64_t i = first; i < first + n; ++i) seeds.push_back(fake_seed(seed, i));
  return seeds;
}

at::Tensor latents_for_seeds(const std::vector<uint64_t>& seeds, int64_t z_dim, double truncation) {
  if (seeds.empty()) return torch::empty({0, z_dim});
  std::vector<at::Tensor> z;
  for (uint64_t s : seeds) z.push_back(latent_for_seed(s, z_dim, truncation));
  return torch::stack(z);
}

std::vector<int64_t> fake_classes(int64_t num_classes, int64_t n, int64_t first, int64_t klass) {
  std::vector<int64_t> classes;
  if (num_classes <= 0) return classes;
  for (int64_t i = first; i < first + n; ++i) classes.push_back(klass >= 0 ? klass : i % num_classes);
  return classes;
}

at::Tensor generate_fakes(GeneratorModel& g, const std::vector<uint64_t>& seeds, const std::vector<int64_t>& classes,
                          double truncation, bool one_per_pass) {
  if (!classes.empty() && classes.size() != seeds.size()) {
    throw InternalError("generate_fakes: " + std::to_string(classes.size()) + " classes for " +
                        std::to_string(seeds.size()) + " seeds");
  }
  torch::NoGradGuard no_grad;
  at::Tensor z = latents_for_seeds(seeds, g.z_dim(), truncation);
  if (!one_per_pass || seeds.empty()) {
    at::Tensor y = classes.empty() ? at::Tensor() : torch::tensor(classes, torch::kLong);
    return g.generate(z, y).to(torch::kCPU);
  }
  std::vector<at::Tensor> out;
  for (size_t k = 0; k < seeds.size(); ++k) {
    at::Tensor y = classes.empty() ? at::Tensor() : torch::tensor({classes[k]}, torch::kLong);
    out.push_back(g.generate(z[static_cast<int64_t>(k)].unsqueeze(0), y).to(torch::kCPU));
  }
  return torch::cat(out, 0);
}

}  // namespace mirage
