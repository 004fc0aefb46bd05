#include "reports/gan_training_run.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "gan/data.h"
#include "gan/metrics.h"
#include "gan/run.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/image/convert.h"
#include "lib/image/edges.h"
#include "lib/image/grid.h"
#include "lib/image/io.h"
#include "lib/image/open_data.h"
#include "lib/log.h"
#include "lib/runtime.h"

namespace mirage {

namespace fs = std::filesystem;

namespace {

// Canny edge maps of every image of `data`, as a data set aligned with it (pix2pix pairs).
std::shared_ptr<Dataset> edges_of(Dataset& data) {
  return mapped_dataset(data, [](const at::Tensor& images) { return canny_edges(images); }, 1, "edges");
}

std::shared_ptr<Dataset> open_images(const std::string& spec, const std::string& labels, const GanConfig& config,
                                     int64_t channels, int64_t size) {
  ImageShape target;
  target.channels = channels;
  target.height = target.width = size;
  return open_dataset(spec, target, parse_resize_policy(config.resize), labels);
}

bool is_fashion_mnist(const std::string& spec) { return spec.rfind("fashion-mnist", 0) == 0 || spec.rfind("fmnist", 0) == 0; }

}  // namespace

GanTrainingData open_gan_training_data(GanConfig& config, bool keep_channels, bool keep_size, int64_t epochs, std::string val_data,
                                       c10::Device device) {
  GanTrainingData d;
  if (config.arch == "toy") {
    config.finalize();
    d.stream = toy_source(config.mixture, config.seed, device);
    return d;
  }
  const int64_t want_channels = keep_channels ? config.channels : 0;
  const int64_t want_size = keep_size ? config.size : 0;
  d.train = open_images(config.data, config.labels, config, want_channels, want_size);
  d.train = limit_dataset(d.train, config.limit, derive_seed(config.seed, "limit"));
  const DatasetInfo& info = d.train->info();
  config.channels = info.channels;
  config.size = info.height;
  if (info.height != info.width) throw UsageError(config.data + ": images must be square for a GAN (use --size)");
  if (config.conditional) config.num_classes = info.num_classes;
  const bool translation = config.arch == "pix2pix" || config.arch == "cyclegan";
  auto open_source = [&](Dataset& target) -> std::shared_ptr<Dataset> {
    if (config.source == "edges") return edges_of(target);
    return open_images(config.source, "", config, 0, config.size);
  };
  if (translation) {
    d.source = open_source(*d.train);
    config.source_channels = d.source->info().channels;
  }
  config.finalize();
  if (epochs > 0) config.steps = std::max<int64_t>(1, epochs * (d.train->size() / config.batch_size) / config.n_critic);
  d.stream = dataset_source(d.train, d.source, config.arch == "cyclegan", config.channels, config.size,
                            config.source_channels, config.seed, device);
  if (val_data.empty() && is_fashion_mnist(config.data)) val_data = "fashion-mnist:test";
  if (!config.noise_to_image() && !val_data.empty()) {
    d.val = open_images(val_data, "", config, config.channels, config.size);
    if (translation) d.val_source = open_source(*d.val);
    d.val_stream = dataset_source(d.val, d.val_source, false, config.channels, config.size, config.source_channels,
                                  config.seed, device);
  }
  return d;
}

nlohmann::json run_gan_training(GanTrainer& trainer, const GanTrainingData& data, const std::string& dir_name,
                                bool resume) {
  const fs::path dir(dir_name);
  const std::string checkpoint = (dir / "checkpoint").string();
  ensure_directory((dir / "samples").string());
  const GanConfig& c = trainer.config();

  // metrics.jsonl: a resumed run drops the lines past its checkpoint, then appends.
  std::ofstream metrics = open_metrics_log((dir / "metrics.jsonl").string(), resume, trainer.step());
  int64_t last_checkpoint = resume ? trainer.step() : 0;
  std::vector<std::string> sample_files;
  GanStepMetrics last;
  double ips_sum = 0;
  int64_t ips_n = 0;
  GanTrainHooks hooks;
  hooks.on_metrics = [&](const GanStepMetrics& m) {
    metrics << m.to_json().dump() << "\n";
    metrics.flush();
    last = m;
    ips_sum += m.images_per_second;
    ++ips_n;
  };
  hooks.on_samples = [&](int64_t step, const at::Tensor& images) {
    char name[64];
    std::snprintf(name, sizeof(name), "samples/step-%06lld.png", static_cast<long long>(step));
    if (c.arch == "toy") write_image((dir / name).string(), toy_scatter_image(images, toy_mixture(c.mixture)));
    else write_grid((dir / name).string(), images, 8);
    sample_files.push_back(name);
  };
  hooks.on_checkpoint = [&](int64_t step, const std::string&) { last_checkpoint = step; };
  try {
    trainer.run(hooks, checkpoint);
  } catch (const DivergedError& e) {
    throw DivergedError(std::string(e.what()) + "; " +
                        (last_checkpoint > 0 ? "the last good checkpoint (step " + std::to_string(last_checkpoint) +
                                                   ") is kept in " + checkpoint
                                             : std::string("no checkpoint had been written yet")));
  }
  metrics.close();

  nlohmann::json summary;
  summary["config"] = c.to_json();
  summary["data"] = {{"train", data.stream->name()}, {"n", data.train ? data.train->size() : 0},
                     {"validation", data.val ? nlohmann::json(data.val->info().name) : nlohmann::json(nullptr)}};
  summary["steps"] = trainer.step();
  summary["resumed"] = resume;
  summary["final"] = last.to_json();
  summary["mean_images_per_second"] = ips_n ? ips_sum / static_cast<double>(ips_n) : 0.0;
  if (data.val_stream) {
    nlohmann::json v = nlohmann::json::object();
    const int64_t n = std::min<int64_t>(256, data.val->size());
    for (const auto& [k, value] : trainer.model().validate(data.val_stream->batch(0, n))) v[k] = value;
    summary["validation"] = v;
  }
  if (c.arch == "toy") {
    at::Generator gen = make_generator(derive_seed(c.seed, "toy-eval"));
    ToyMixture mixture = toy_mixture(c.mixture);
    ModeCoverage mc = mode_coverage(mixture, trainer.model().samples(trainer.fixed_batch(), 2500, gen));
    summary["mode_coverage"] = mode_coverage_json(mc, c.mixture, 2500);
    log_info("modes covered " + std::to_string(mc.modes_covered) + "/" + std::to_string(mc.modes) +
             ", high-quality samples " + std::to_string(mc.high_quality_fraction));
  }
  summary["checkpoint"] = checkpoint;
  summary["generator"] = checkpoint_generator_path(checkpoint);
  summary["samples"] = sample_files;
  return summary;
}

}  // namespace mirage
