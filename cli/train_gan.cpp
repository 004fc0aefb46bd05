// mirage train-gan — trains any of mirage's GANs with the one trainer (gan/trainer.h): resumable
// checkpoints, sample grids, per-step metrics, divergence checks.
#include <torch/torch.h>

#include <filesystem>

#include "cli/common.h"
#include "gan/trainer.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/image/open_data.h"
#include "lib/json_io.h"
#include "lib/log.h"
#include "reports/gan_training_run.h"

namespace mirage::cli {

namespace {

namespace fs = std::filesystem;

// Flags that set a GanConfig field: given on the command line, they win over --config and (for
// the resumable fields) over a resumed checkpoint's config.
FieldFlags config_flags() {
  return FieldFlags({
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
  });
}

}  // namespace

int train_gan_main(const std::vector<std::string>& args) {
  CommonFlags common;
  std::string out, arch = "dcgan", data, labels, source, val_data, config_file, resize;
  int64_t epochs = 0, limit = 0;
  bool resume = false, overwrite = false, spectral_norm = false;
  FieldFlags field_flags = config_flags();
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
  field_flags.add_to(options);
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
  GanConfig config = GanConfig::from_json(j, config_file.empty() ? "flags" : config_file);
  field_flags.apply(config, GanConfig::fields(), vm);
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
  GanTrainingData training_data = open_gan_training_data(config, resume || vm.count("channels"), resume || vm.count("size"),
                                                         epochs, val_data, runtime.device);
  GanTrainer trainer(config, *training_data.stream, runtime.device);
  if (resume) trainer.resume(checkpoint);
  // Only now, with data, config and trainer good, does an --overwrite remove the earlier run.
  if (!resume && overwrite) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) throw InputError(out + ": cannot remove the earlier run (" + ec.message() + ")");
  }
  const GanConfig& c = trainer.config();
  log_info("training " + c.arch + (c.conditional ? " (conditional)" : "") + " with " + c.loss + " loss on " +
           training_data.stream->name() + " for " + std::to_string(c.steps) + " steps on " + runtime.device.str());
  nlohmann::json summary = run_header("train-gan", runtime, started);
  summary.update(run_gan_training(trainer, training_data, out, resume));
  write_json((dir / "train.json").string(), summary);
  log_info("wrote " + checkpoint + ", " + std::to_string(summary["samples"].size()) + " sample grid(s) and " +
           (dir / "train.json").string());
  return kExitOk;
}

}  // namespace mirage::cli
