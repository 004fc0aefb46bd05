#include "reports/detector_inputs.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>

#include "detectors/adversarial_data.h"
#include "detectors/detector.h"
#include "detectors/evaluate.h"
#include "lib/dataset.h"
#include "lib/error.h"
#include "lib/image/open_data.h"
#include "lib/image_tensor.h"
#include "lib/log.h"
#include "lib/runtime.h"

namespace mirage {
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
  ImageShape target;
  target.channels = channels;
  target.height = size;
  target.width = size;
  source.data = open_dataset(source.spec, target, parse_resize_policy(resize));
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
  const std::vector<int64_t> order = seeded_subset(data.size(), limit, seed);
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
  SourceImages out;
  std::vector<at::Tensor> images, labels;
  for (int64_t start = 0; start < n; start += 256) {
    const int64_t k = std::min<int64_t>(256, n - start);
    const auto seeds = fake_seeds(seed, k, start);
    const auto classes = fake_classes(g.num_classes(), k, start);
    images.push_back(fit_batch(generate_fakes(g, seeds, classes), channels, size, size));
    labels.push_back(classes.empty() ? torch::full({k}, -1, torch::kInt64) : torch::tensor(classes, torch::kInt64));
    for (uint64_t s : seeds) out.ids.push_back(source.name + ":seed:" + std::to_string(s));
  }
  out.images = torch::cat(images);
  out.labels = torch::cat(labels);
  return out;
}

BlindSpotInputs load_blind_spot_inputs(const std::vector<std::string>& fakes, const std::string& real, int64_t n_fakes,
                                       int64_t limit, uint64_t seed, int64_t channels, int64_t size,
                                       const std::string& policy, c10::Device device) {
  BlindSpotInputs in;
  BlindSpotData& data = in.data;
  std::vector<at::Tensor> fake_sets, fake_classes_of, latents;
  bool all_gan = true;
  for (size_t k = 0; k < fakes.size(); ++k) {
    ImageSource s = open_image_source(fakes[k], channels, size, policy, device);
    if (s.is_gan()) {
      GeneratorModel& g = *s.generator;
      if (g.output_channels() != channels || g.spec().height != size || g.spec().width != size) {
        throw UsageError(s.spec + ": the GAN makes " + std::to_string(g.output_channels()) + "x" + std::to_string(g.spec().height) + "x" +
                         std::to_string(g.spec().width) + " images but the detector takes " + std::to_string(channels) + "x" +
                         std::to_string(size) + "x" + std::to_string(size));
      }
      if (!data.gan) {
        data.gan = s.generator;
        data.gan_spec = s.spec;
        data.gan_seed = seed;
      }
      const auto seeds = fake_seeds(seed, n_fakes);
      const auto cls = fake_classes(g.num_classes(), n_fakes);
      fake_sets.push_back(generate_fakes(g, seeds, cls, 0, /*one_per_pass=*/true));
      fake_classes_of.push_back(cls.empty() ? torch::full({n_fakes}, -1, torch::kInt64) : torch::tensor(cls, torch::kInt64));
      latents.push_back(latents_for_seeds(seeds, g.z_dim()));
      for (uint64_t fs : seeds) {
        data.fake_seeds.push_back(fs);
        data.fake_ids.push_back(s.name + ":seed:" + std::to_string(fs));
        data.fake_sources.push_back(s.name);
      }
      in.sources.push_back({{"name", s.name}, {"spec", s.spec}, {"kind", "gan"}, {"n", n_fakes}, {"classes", g.num_classes()}});
    } else {
      all_gan = false;
      SourceImages f = load_source(s, limit, derive_seed(seed, "fake-sample-" + std::to_string(k)), channels, size);
      if (f.images.size(0) == 0) throw UsageError(s.spec + ": no images");
      fake_sets.push_back(f.images);
      fake_classes_of.push_back(torch::full({f.images.size(0)}, -1, torch::kInt64));
      for (const auto& id : f.ids) {
        data.fake_ids.push_back(id);
        data.fake_seeds.push_back(std::nullopt);
        data.fake_sources.push_back(s.name);
      }
      in.sources.push_back({{"name", s.name}, {"spec", s.spec}, {"kind", "images"}, {"n", f.images.size(0)}});
    }
  }
  data.fakes = torch::cat(fake_sets);
  data.fake_classes = torch::cat(fake_classes_of);
  // Latent clusters need a code for every fake (and one latent space): one GAN source only.
  if (all_gan && latents.size() == 1) data.fake_latents = latents[0];
  if (real != "none") {
    ImageSource r = open_image_source(real, channels, size, policy, device);
    if (r.is_gan()) throw UsageError("--real must be image data, not a GAN");
    data.class_names = r.data->info().class_names;
    SourceImages reals = load_source(r, limit, derive_seed(seed, "real-sample"), channels, size);
    data.reals = reals.images;
    data.real_classes = reals.labels;
    data.real_ids = reals.ids;
    in.sources.push_back({{"name", "real"}, {"spec", real}, {"kind", "images"}, {"n", reals.images.size(0)}});
  }
  if (data.class_names.empty() && data.gan) data.class_names = data.gan->spec().class_names;
  return in;
}

nlohmann::json add_training_fakes(std::vector<ImageSource>& sources, int64_t n_val_real, int64_t per_source,
                                  int64_t fake_count, int64_t limit, double val_fraction, bool on_the_fly,
                                  uint64_t seed, int64_t channels, int64_t size, DetectorTrainData& data) {
  nlohmann::json out = nlohmann::json::array();
  std::vector<at::Tensor> fake_train, fake_val;
  const bool all_gans = std::all_of(sources.begin(), sources.end(), [](const ImageSource& s) { return s.is_gan(); });
  const int64_t n_val_fakes = std::max<int64_t>(1, n_val_real / static_cast<int64_t>(sources.size()));
  for (size_t k = 0; k < sources.size(); ++k) {
    ImageSource& s = sources[k];
    const std::string key = std::to_string(k);
    if (s.is_gan()) {
      const int64_t n_val = fake_count > 0 ? std::max<int64_t>(1, static_cast<int64_t>(fake_count * val_fraction)) : n_val_fakes;
      fake_val.push_back(sample_source(s, n_val, derive_seed(seed, "val-fakes-" + key), channels, size).images);
      if (!all_gans) fake_train.push_back(sample_source(s, per_source, derive_seed(seed, "train-fakes-" + key), channels, size).images);
      out.push_back({{"name", s.name}, {"kind", "gan"}, {"path", s.spec}, {"arch", s.generator->arch()}, {"on_the_fly", all_gans}});
    } else {
      SourceImages f = load_source(s, limit, derive_seed(seed, "fake-sample-" + key), channels, size);
      auto [ti, vi] = split_indices(f.images.size(0), val_fraction, derive_seed(seed, "split-" + key));
      if (ti.empty() || vi.empty()) throw UsageError(s.spec + ": too few images for a train/validation split");
      fake_train.push_back(select_rows(f.images, ti));
      fake_val.push_back(select_rows(f.images, vi));
      out.push_back({{"name", s.name}, {"kind", "images"}, {"spec", s.spec}, {"n", f.images.size(0)}});
    }
  }
  if (!fake_train.empty()) data.fake_train = torch::cat(fake_train);
  data.fake_val = torch::cat(fake_val);
  if (all_gans && on_the_fly) {
    auto gans = std::make_shared<std::vector<ImageSource>>(sources);
    data.sample_fakes = [gans, channels, size](int64_t n, uint64_t batch_seed) {
      std::vector<at::Tensor> parts;
      const auto m = static_cast<int64_t>(gans->size());
      for (int64_t k = 0; k < m; ++k) {
        const int64_t share = n / m + (k < n % m ? 1 : 0);
        if (share > 0) parts.push_back(sample_source((*gans)[static_cast<size_t>(k)], share, derive_seed(batch_seed, std::to_string(k)), channels, size).images);
      }
      return torch::cat(parts);
    };
  }
  return out;
}

}  // namespace mirage
