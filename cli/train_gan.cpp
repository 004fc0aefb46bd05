// mirage train-gan — trains any of mirage's GANs with the one trainer (gan/trainer.h): resumable
// checkpoints, sample grids, per-step metrics, divergence checks.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli/common.h"
#include "gan/data.h"
#include "gan/metrics.h"
#include "gan/run.h"
#include "gan/trainer.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/image/edges.h"
#include "lib/image/grid.h"
#include "lib/image/io.h"
#include "lib/image/open_data.h"
#include "lib/json_io.h"
#include "lib/log.h"
#include "lib/parse.h"

namespace mirage::cli {

namespace {

namespace fs = std::filesystem;

// Flags that set a GanConfig field: given on the command line, they win over --config and (for
// the resumable fields) over a resumed checkpoint's config.
struct ConfigFlag {
  const char* flag;
  const char* key;
  const char* help;
};
const std::vector<ConfigFlag>& config_flags() {
  static const std::vector<ConfigFlag> flags = {
      {"loss", "loss", "ns | wgan-gp | hinge | lsgan (default: ns; cyclegan: lsgan)"},
      {"steps", "steps", "generator steps (default 2000)"},
      {"batch-size", "batch_size", "images per step (default 64)"},
      {"lr-g", "lr_g", "generator Adam learning rate (default 2e-4; wgan-gp 1e-4)"},
      {"lr-d", "lr_d", "discriminator learning rate (default: --lr-g; TTUR: set it apart)"},
      {"beta1", "beta1", "Adam beta1 (default 0.5; wgan-gp 0)"},
      {"beta2", "beta2", "Adam beta2 (default 0.999; wgan-gp 0.9)"},
      {"n-critic", "n_critic", "discriminator steps per generator step (default 1; wgan-gp 5)"},
      {"gp-weight", "gp_weight", "gradient-penalty weight (default 10 for wgan-gp, else 0)"},
      {"ema-decay", "ema_decay", "generator EMA decay, 0 = off (default 0.99; 0.999 for runs of 10k+ steps)"},
      {"ema-start", "ema_start", "steps before the EMA starts averaging (default 100)"},
      {"z-dim", "z_dim", "latent size (default 100; toy 2)"},
      {"g-width", "g_width", "generator feature maps (default 64)"},
      {"d-width", "d_width", "discriminator feature maps (default 64)"},
      {"d-norm", "d_norm", "batch | layer | instance | none (default: by loss and arch)"},
      {"size", "size", "image size: 28, 32 or 64 for dcgan (default: the data's)"},
      {"channels", "channels", "image channels, 1 or 3 (default: the data's)"},
      {"unet-depth", "unet_depth", "pix2pix U-Net levels (default 2)"},
      {"resnet-blocks", "resnet_blocks", "cyclegan residual blocks (default 6)"},
      {"sr-blocks", "sr_blocks", "srgan residual blocks (default 8)"},
      {"sr-scale", "sr_scale", "srgan upscaling, 2 or 4 (default 2)"},
      {"mixture", "mixture", "toy: ring8 | grid25"},
      {"pack", "pack", "toy: PacGAN packing of D's input (default 1)"},
      {"l1-weight", "l1_weight", "pix2pix L1 weight (default 100)"},
      {"cycle-weight", "cycle_weight", "cyclegan cycle-consistency weight (default 10)"},
      {"identity-weight", "identity_weight", "cyclegan identity weight, times --cycle-weight (default 0.5)"},
      {"adv-weight", "adv_weight", "generator adversarial-loss weight (default 1; srgan 1e-3)"},
      {"log-every", "log_every", "steps between metrics.jsonl lines (default 10)"},
      {"sample-every", "sample_every", "steps between sample grids, 0 = end only (default 500)"},
      {"checkpoint-every", "checkpoint_every", "steps between checkpoints, 0 = end only (default 500)"},
  };
  return flags;
}

// Values from flags into the config JSON, typed as the config's field is.
void apply_flags(nlohmann::json& j, const po::variables_map& vm, const std::vector<std::string>& texts) {
  const nlohmann::json defaults = GanConfig().to_json();
  const auto& flags = config_flags();
  for (size_t i = 0; i < flags.size(); ++i) {
    if (!vm.count(flags[i].flag)) continue;
    const std::string& text = texts[i];
    const std::string what = std::string("--") + flags[i].flag;
    const auto& ref = defaults[flags[i].key];
    if (ref.is_string()) {
      j[flags[i].key] = text;
    } else if (ref.is_number_integer()) {
      double v = parse_number(text, what);
      if (v != std::floor(v)) throw UsageError(what + ": expected a whole number, got '" + text + "'");
      j[flags[i].key] = static_cast<int64_t>(v);
    } else {
      j[flags[i].key] = parse_number(text, what);
    }
  }
}

// Canny edge maps of every image of `data`, as a data set aligned with it (pix2pix pairs).
std::shared_ptr<Dataset> edges_of(Dataset& data) {
  return mapped_dataset(data, [](const at::Tensor& images) { return canny_edges(images); }, 1, "edges");
}

}  // namespace

int train_gan_main(const std::vector<std::string>& args) {
  CommonFlags common;
  std::string out, arch = "dcgan", data, labels, source, val_data, config_file, resize;
  int64_t epochs = 0, limit = 0;
  bool resume = false, overwrite = false, spectral_norm = false;
  std::vector<std::string> texts(config_flags().size());
  po::options_description options("options");
  options.add_options()
    ("out,o", po::value(&out)->required(), "run folder: checkpoint/, samples/, metrics.jsonl, train.json")
    ("arch", po::value(&arch)->default_value("dcgan"), "dcgan | conditional | pix2pix | cyclegan | srgan | toy")
    ("data", po::value(&data)->default_value("fashion-mnist:train"), "training images (target domain for pix2pix/cyclegan)")
    ("labels", po::value(&labels), "IDX label file for IDX --data")
    ("source", po::value(&source)->default_value("edges"), "pix2pix/cyclegan source domain: 'edges' (Canny maps of --data) or a data spec")
    ("val-data", po::value(&val_data), "held-out images for pix2pix/cyclegan/srgan figures (default: fashion-mnist:test for Fashion-MNIST)")
    ("config", po::value(&config_file), "GAN config JSON (gan/config.h fields); flags override it")
    ("epochs", po::value(&epochs)->default_value(0), "train for this many passes over --data instead of --steps")
    ("spectral-norm", po::bool_switch(&spectral_norm), "spectral normalisation on the discriminator")
    ("limit", po::value(&limit)->default_value(0), "train on a seeded random subset of N images (0 = all)")
    ("resize", po::value(&resize)->default_value("crop"), "how image files are fitted: crop or stretch")
    ("resume", po::bool_switch(&resume), "continue the run in --out from its checkpoint")
    ("overwrite", po::bool_switch(&overwrite), "start over in an --out that holds an earlier run");
  for (size_t i = 0; i < config_flags().size(); ++i) {
    options.add_options()(config_flags()[i].flag, po::value(&texts[i]), config_flags()[i].help);
  }
  add_common_options(options, common);
  po::variables_map vm;
  if (!parse_command("train-gan", "--out DIR [options]",
                     "Trains a GAN: dcgan (Radford et al. 2016) and its class-conditional form (projection D),\n"
                     "pix2pix, cyclegan, srgan, or the 2-D toy of the mode-collapse benchmark, all with one\n"
                     "trainer. Losses ns / wgan-gp / hinge / lsgan, spectral norm, generator EMA, TTUR.\n"
                     "DIR gets checkpoint/ (config.json, state.pt, generator.pt: TorchScript, loads in PyTorch),\n"
                     "samples/step-*.png, metrics.jsonl (losses, D scores, gradient norms, img/s) and train.json.\n"
                     "A killed run continues with --resume and ends where an uninterrupted one would (CPU).\n"
                     "Exit 1 when training diverges (NaN/Inf loss); the last good checkpoint is kept.",
                     "  mirage train-gan --out runs/dcgan --steps 3000\n"
                     "  mirage train-gan --arch conditional --loss hinge --spectral-norm --out runs/cgan\n"
                     "  mirage train-gan --loss wgan-gp --out runs/wgan --steps 2000\n"
                     "  mirage train-gan --arch pix2pix --source edges --out runs/p2p\n"
                     "  mirage train-gan --arch toy --mixture grid25 --steps 5000 --out runs/toy\n"
                     "  mirage train-gan --out runs/dcgan --resume --steps 6000\n",
                     args, options, {}, vm, describe_data_specs())) {
    return kExitOk;
  }
  const fs::path dir(out);
  const std::string checkpoint = (dir / "checkpoint").string();

  // The config: a resumed run's own, else --config, else defaults; flags on top. On --resume a
  // flag that contradicts the checkpoint (another --arch, --data, --limit, ...) is refused by
  // GanTrainer::resume, naming the field.
  auto given = [&](const char* flag) { return vm.count(flag) && !vm[flag].defaulted(); };
  nlohmann::json j = GanConfig().to_json();
  if (resume) {
    if (vm.count("config")) throw UsageError("--config: a resumed run keeps its own config");
    if (!fs::exists(fs::path(checkpoint) / "config.json")) {
      throw UsageError("--resume: " + out + " holds no checkpoint (no " + checkpoint + "/config.json)");
    }
    j = read_checkpoint_config(checkpoint).to_json();
  } else if (!config_file.empty()) {
    j.update(read_json_file(config_file, "--config"));
  }
  if (!resume || given("arch")) {
    j["arch"] = arch == "conditional" ? "dcgan" : arch;
    if (arch == "conditional") j["conditional"] = true;
  }
  if (spectral_norm) j["spectral_norm"] = true;
  if (!resume || given("data")) j["data"] = j["arch"] == "toy" ? "" : data;
  if ((!resume || given("source")) && (j["arch"] == "pix2pix" || j["arch"] == "cyclegan")) j["source"] = source;
  if (!resume || given("labels")) j["labels"] = labels;
  if (!resume || given("resize")) j["resize"] = resize;
  if (!resume || given("limit")) j["limit"] = limit;
  if (resume && given("seed")) j["seed"] = common.runtime.seed;
  apply_flags(j, vm, texts);
  GanConfig config = GanConfig::from_json(j, config_file.empty() ? "flags" : config_file);
  if (epochs < 0 || limit < 0) throw UsageError("--epochs and --limit must be >= 0");
  if (!resume && !overwrite) {
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
      throw UsageError(out + ": holds an earlier run; --resume continues it, --overwrite starts over");
    }
  }
  Runtime runtime = start_runtime(common);
  if (!resume) config.seed = runtime.seed;
  const std::string started = utc_now();

  // Data: the config's own spec on resume, so a resumed run trains on the same images.
  std::shared_ptr<Dataset> train_data, source_data, val, val_source;
  std::unique_ptr<GanDataSource> source_stream, val_stream;
  if (config.arch == "toy") {
    config.finalize();
    source_stream = toy_source(config.mixture, config.seed, runtime.device);
  } else {
    const int64_t want_channels = vm.count("channels") || resume ? config.channels : 0;
    const int64_t want_size = vm.count("size") || resume ? config.size : 0;
    train_data = open_data(config.data, config.labels, config.resize, want_channels, want_size, want_size);
    train_data = limit_dataset(train_data, config.limit, derive_seed(config.seed, "limit"));
    const DatasetInfo& info = train_data->info();
    config.channels = info.channels;
    config.size = info.height;
    if (info.height != info.width) throw UsageError(config.data + ": images must be square for a GAN (use --size)");
    if (config.conditional) config.num_classes = info.num_classes;
    const bool translation = config.arch == "pix2pix" || config.arch == "cyclegan";
    auto open_source = [&](Dataset& target) -> std::shared_ptr<Dataset> {
      if (config.source == "edges") return edges_of(target);
      return open_data(config.source, "", config.resize, 0, config.size, config.size);
    };
    if (translation) {
      source_data = open_source(*train_data);
      config.source_channels = source_data->info().channels;
    }
    config.finalize();
    if (epochs > 0) config.steps = std::max<int64_t>(1, epochs * (train_data->size() / config.batch_size) / config.n_critic);
    source_stream = dataset_source(train_data, source_data, config.arch == "cyclegan", config.channels, config.size,
                                   config.source_channels, config.seed, runtime.device);
    if (val_data.empty() && (config.data.rfind("fashion-mnist", 0) == 0 || config.data.rfind("fmnist", 0) == 0)) {
      val_data = "fashion-mnist:test";
    }
    if (!config.noise_to_image() && !val_data.empty()) {
      val = open_data(val_data, "", config.resize, config.channels, config.size, config.size);
      if (translation) val_source = config.source == "edges" ? edges_of(*val) : open_source(*val);
      val_stream = dataset_source(val, val_source, false, config.channels, config.size, config.source_channels,
                                  config.seed, runtime.device);
    }
  }

  GanTrainer trainer(config, *source_stream, runtime.device);
  if (resume) trainer.resume(checkpoint);
  // Only now, with data, config and trainer good, does an --overwrite remove the earlier run.
  if (!resume && overwrite) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) throw InputError(out + ": cannot remove the earlier run (" + ec.message() + ")");
  }
  ensure_directory((dir / "samples").string());
  const GanConfig& c = trainer.config();
  log_info("training " + c.arch + (c.conditional ? " (conditional)" : "") + " with " + c.loss + " loss on " +
           source_stream->name() + " for " + std::to_string(c.steps) + " steps on " + runtime.device.str());

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

  nlohmann::json summary = run_header("train-gan", runtime, started);
  summary["config"] = c.to_json();
  summary["data"] = {{"train", source_stream->name()}, {"n", train_data ? train_data->size() : 0},
                     {"validation", val ? nlohmann::json(val->info().name) : nlohmann::json(nullptr)}};
  summary["steps"] = trainer.step();
  summary["resumed"] = resume;
  summary["final"] = last.to_json();
  summary["mean_images_per_second"] = ips_n ? ips_sum / static_cast<double>(ips_n) : 0.0;
  if (val_stream) {
    nlohmann::json v = nlohmann::json::object();
    for (const auto& [k, value] : trainer.model().validate(val_stream->batch(0, std::min<int64_t>(256, val->size())))) v[k] = value;
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
  write_json((dir / "train.json").string(), summary);
  log_info("wrote " + checkpoint + ", " + std::to_string(sample_files.size()) + " sample grid(s) and " +
           (dir / "train.json").string());
  return kExitOk;
}

}  // namespace mirage::cli
