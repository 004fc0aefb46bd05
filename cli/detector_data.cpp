#include "cli/detector_data.h"

#include <torch/torch.h>

#include <filesystem>

#include "attacks/latent_search.h"
#include "detectors/detector.h"
#include "detectors/evaluate.h"
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

BlindSpotInputs load_blind_spot_inputs(const std::vector<std::string>& fakes, const std::string& real, int64_t n_fakes,
                                       int64_t limit, uint64_t seed, int64_t channels, int64_t size,
                                       const std::string& policy, c10::Device device) {
  BlindSpotInputs in;
  BlindSpotData& data = in.data;
  std::vector<at::Tensor> fake_sets, fake_classes, latents;
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
      if (!in.search_gan) {
        in.search_gan = s.generator;
        in.search_gan_spec = s.spec;
      }
      torch::NoGradGuard no_grad;
      std::vector<at::Tensor> images, z;
      std::vector<int64_t> cls;
      for (int64_t i = 0; i < n_fakes; ++i) {
        const uint64_t fs = fake_seed(seed, i);
        z.push_back(latent_for_seed(fs, g.z_dim()));
        at::Tensor y;
        int64_t c = -1;
        if (g.num_classes() > 0) {
          c = i % g.num_classes();
          y = torch::tensor({c}, torch::kLong).to(g.device());
        }
        images.push_back(g.generate(z.back().unsqueeze(0).to(g.device()), y).to(torch::kCPU));
        cls.push_back(c);
        data.fake_seeds.push_back(fs);
        data.fake_ids.push_back(s.name + ":seed:" + std::to_string(fs));
        data.fake_sources.push_back(s.name);
      }
      fake_sets.push_back(torch::cat(images));
      fake_classes.push_back(torch::tensor(cls, torch::kInt64));
      latents.push_back(torch::stack(z));
      in.sources.push_back({{"name", s.name}, {"spec", s.spec}, {"kind", "gan"}, {"n", n_fakes}, {"classes", g.num_classes()}});
    } else {
      all_gan = false;
      SourceImages f = load_source(s, limit, derive_seed(seed, "fake-sample-" + std::to_string(k)), channels, size);
      if (f.images.size(0) == 0) throw UsageError(s.spec + ": no images");
      fake_sets.push_back(f.images);
      fake_classes.push_back(torch::full({f.images.size(0)}, -1, torch::kInt64));
      for (const auto& id : f.ids) {
        data.fake_ids.push_back(id);
        data.fake_seeds.push_back(std::nullopt);
        data.fake_sources.push_back(s.name);
      }
      in.sources.push_back({{"name", s.name}, {"spec", s.spec}, {"kind", "images"}, {"n", f.images.size(0)}});
    }
  }
  data.fakes = torch::cat(fake_sets);
  data.fake_classes = torch::cat(fake_classes);
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
  if (data.class_names.empty() && in.search_gan) data.class_names = in.search_gan->spec().class_names;
  return in;
}

at::Tensor add_latent_search_finding(Detector& detector, const BlindSpotInputs& inputs, const LatentSearchSlice& search,
                                     uint64_t seed, int64_t examples, int64_t batch_size, int64_t min_slice,
                                     BlindSpotReport& report) {
  const auto& gan = inputs.search_gan;
  if (!gan || search.n <= 0) return {};
  log_info("blind-spots: latent search over " + std::to_string(search.n) + " codes");
  auto verdict = verdict_model(detector);
  std::vector<uint64_t> seeds;
  std::vector<int64_t> cls;
  for (int64_t i = 0; i < search.n; ++i) {
    seeds.push_back(fake_seed(seed, i));
    cls.push_back(gan->num_classes() > 0 ? i % gan->num_classes() : -1);
  }
  LatentSearchOptions lo;
  lo.steps = search.steps;
  lo.gradient_free = search.gradient_free;
  lo.lambda_aux = 0;
  lo.lr = search.lr;
  lo.lambda_z = search.lambda_z;
  const auto classes = gan->num_classes() > 0 ? torch::tensor(cls, torch::kInt64) : at::Tensor();
  const auto labels = torch::ones({search.n}, torch::kInt64);
  const auto goal = Goal::targeted_to(torch::zeros({search.n}, torch::kInt64).to(detector.device()));
  const auto result = latent_search(LatentGenerator::from(*gan), *verdict, nullptr, seeds, classes,
                                    labels.to(detector.device()), goal, lo);
  const auto found_scores = score_images(detector, result.images, batch_size);
  Finding f = latent_search_finding(result, detector.threshold(), found_scores, examples);
  f.parameters = {{"gan", inputs.search_gan_spec}, {"steps", search.steps}, {"lr", search.lr}, {"lambda_z", search.lambda_z},
                  {"gradient_free", search.gradient_free}};
  f.details["queries_mean"] = result.queries.to(torch::kFloat64).mean().item<double>();
  report.findings.push_back(std::move(f));
  rank_findings(report.findings, min_slice);
  return result.images;
}

}  // namespace mirage::cli
