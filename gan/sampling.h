// gan/sampling.h — drawing fakes from a trained generator, exactly reproducibly: fake i of a run
// with seed s has the latent z = latent_for_seed(fake_seed(s, i), ...), so its seed alone (kept
// in the manifest) regenerates it. Works on a checkpoint folder or its exported generator.pt, so
// anything that loads the TorchScript export (PyTorch included) can do the same.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lib/model.h"

namespace mirage {

class GeneratorModel {
 public:
  // `path` is a checkpoint folder (its generator.pt) or a generator TorchScript file. A file
  // that is not a mirage generator (no metadata of kind "generator") is a UsageError; an
  // unreadable or truncated one an InputError.
  static std::unique_ptr<GeneratorModel> load(const std::string& path, c10::Device device);
  const ModelSpec& spec() const { return model_->spec(); }
  const std::string& arch() const { return arch_; }
  // Noise models (dcgan) take z [N, z_dim] (and y [N]); translators (pix2pix, cyclegan, srgan)
  // take images [N, spec().channels, H, W].
  bool takes_noise() const { return z_dim_ > 0; }
  int64_t z_dim() const { return z_dim_; }
  int64_t num_classes() const { return num_classes_; }
  int64_t output_channels() const { return output_channels_; }
  // Images in [0,1] on device(); differentiable with respect to z (latent search uses it).
  at::Tensor generate(const at::Tensor& z, const at::Tensor& y = {});
  at::Tensor translate(const at::Tensor& x);
  c10::Device device() const { return model_->device(); }
  const std::string& path() const { return path_; }

 private:
  std::unique_ptr<TorchScriptModel> model_;
  std::string arch_, path_;
  int64_t z_dim_ = 0, num_classes_ = 0, output_channels_ = 0;
};

// The seed of fake `index` of a run seeded `seed`.
uint64_t fake_seed(uint64_t seed, int64_t index);
// z ~ N(0, I) of size z_dim from `seed` alone; with truncation t > 0, entries with |z| > t are
// redrawn until inside (the truncation trick of Brock et al., ICLR 2019). t <= 0: no truncation.
at::Tensor latent_for_seed(uint64_t seed, int64_t z_dim, double truncation = 0);

// The seeds of fakes first, ..., first + n - 1 of a run seeded `seed`.
std::vector<uint64_t> fake_seeds(uint64_t seed, int64_t n, int64_t first = 0);
// [seeds.size(), z_dim]: row i is latent_for_seed(seeds[i], z_dim, truncation).
at::Tensor latents_for_seeds(const std::vector<uint64_t>& seeds, int64_t z_dim, double truncation = 0);
// The classes of fakes first, ..., first + n - 1 of a generator with `num_classes` classes:
// `klass` for every fake when >= 0, else the classes in turn (index mod num_classes). Empty for
// an unconditional generator (num_classes 0).
std::vector<int64_t> fake_classes(int64_t num_classes, int64_t n, int64_t first = 0, int64_t klass = -1);

// The fakes of `seeds` (with `classes`, one per seed, for a conditional generator) as CPU images,
// without gradients. `one_per_pass` runs one fake per forward pass: kernels may round differently
// for another batch size, and a fake regenerated alone from its seed must then be the same bits.
at::Tensor generate_fakes(GeneratorModel& g, const std::vector<uint64_t>& seeds, const std::vector<int64_t>& classes,
                          double truncation = 0, bool one_per_pass = false);

}  // namespace mirage
