#include "gan/config.h"

#include <cmath>
#include <set>

#include "lib/error.h"

namespace mirage {

namespace {

void require(bool ok, const std::string& field, const std::string& what) {
  if (!ok) throw UsageError("gan config: " + field + " " + what);
}

}  // namespace

void GanConfig::finalize() {
  static const std::set<std::string> arches{"dcgan", "pix2pix", "cyclegan", "srgan", "toy"};
  require(arches.count(arch) > 0, "arch", "must be dcgan, pix2pix, cyclegan, srgan or toy, got '" + arch + "'");
  require(!conditional || arch == "dcgan", "conditional", "applies to dcgan only");
  if (loss == "auto") loss = arch == "cyclegan" ? "lsgan" : "ns";
  static const std::set<std::string> losses{"ns", "wgan-gp", "hinge", "lsgan"};
  require(losses.count(loss) > 0, "loss", "must be ns, wgan-gp, hinge or lsgan, got '" + loss + "'");
  const bool wgan = loss == "wgan-gp";
  if (d_norm == "auto") {
    // WGAN-GP's penalty is per sample, which batch norm breaks (Gulrajani et al. use layer
    // norm); spectral norm already bounds D, so it goes without; image-to-image D's use
    // instance norm as pix2pix / CycleGAN.
    if (arch == "pix2pix" || arch == "cyclegan") d_norm = wgan ? "none" : "instance";
    else if (wgan) d_norm = "layer";
    else if (spectral_norm) d_norm = "none";
    else d_norm = "batch";
  }
  static const std::set<std::string> norms{"batch", "layer", "instance", "none"};
  require(norms.count(d_norm) > 0, "d_norm", "must be batch, layer, instance or none, got '" + d_norm + "'");
  require(!(wgan && d_norm == "batch"), "d_norm", "batch cannot go with wgan-gp (the gradient penalty is per sample)");
  if (z_dim < 0) z_dim = arch == "toy" ? 2 : 100;
  if (gp_weight < 0) gp_weight = wgan ? 10.0 : 0.0;
  if (adv_weight < 0) adv_weight = arch == "srgan" ? 1e-3 : 1.0;
  if (lr_g < 0) lr_g = wgan ? 1e-4 : 2e-4;
  if (lr_d < 0) lr_d = lr_g;
  if (beta1 < 0) beta1 = wgan ? 0.0 : 0.5;
  if (beta2 < 0) beta2 = wgan ? 0.9 : 0.999;
  if (n_critic < 0) n_critic = wgan ? 5 : 1;
  require(lr_g > 0 && std::isfinite(lr_g), "lr_g", "must be positive");
  require(lr_d > 0 && std::isfinite(lr_d), "lr_d", "must be positive");
  require(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "beta1/beta2", "must be in [0, 1)");
  require(n_critic >= 1, "n_critic", "must be at least 1");
  require(batch_size >= 2, "batch_size", "must be at least 2");
  require(steps >= 1, "steps", "must be at least 1");
  require(ema_decay >= 0 && ema_decay < 1, "ema_decay", "must be in [0, 1)");
  require(ema_start >= 0, "ema_start", "must be >= 0");
  require(log_every >= 1, "log_every", "must be at least 1");
  require(sample_every >= 0 && checkpoint_every >= 0, "sample_every/checkpoint_every", "must be >= 0");
  require(channels == 1 || channels == 3, "channels", "must be 1 or 3");
  require(source_channels == 1 || source_channels == 3, "source_channels", "must be 1 or 3");
  require(z_dim >= 1 && g_width >= 1 && d_width >= 1, "z_dim/g_width/d_width", "must be positive");
  require(gp_weight >= 0 && l1_weight >= 0 && cycle_weight >= 0 && identity_weight >= 0 && content_weight >= 0 &&
              adv_weight >= 0,
          "loss weights", "must be >= 0");
  require(pool_size >= 0, "pool_size", "must be >= 0");
  require(limit >= 0, "limit", "must be >= 0");
  require(resize == "crop" || resize == "stretch", "resize", "must be crop or stretch");
  if (arch == "dcgan") {
    require(size == 28 || size == 32 || size == 64, "size", "must be 28, 32 or 64 for dcgan, got " + std::to_string(size));
    require(!conditional || num_classes >= 2, "num_classes", "a conditional GAN needs labelled data of at least 2 classes");
  } else {
    num_classes = 0;
  }
  if (arch == "srgan") {
    require(sr_scale == 2 || sr_scale == 4, "sr_scale", "must be 2 or 4");
    require(size % sr_scale == 0, "size", "must be a multiple of sr_scale");
  }
  if (arch == "toy") {
    require(mixture == "ring8" || mixture == "grid25", "mixture", "must be ring8 or grid25");
    require(pack >= 1 && batch_size % pack == 0, "pack", "must be >= 1 and divide batch_size");
    channels = 1;
  }
  if (arch == "cyclegan" && source_channels != channels) identity_weight = 0;  // G(b) ~ b needs equal channels
}

const OptionFields<GanConfig>& GanConfig::fields() {
  static const OptionFields<GanConfig> f = OptionFields<GanConfig>()
      .add("arch", &GanConfig::arch).add("conditional", &GanConfig::conditional)
      .add("loss", &GanConfig::loss).add("channels", &GanConfig::channels)
      .add("source_channels", &GanConfig::source_channels).add("size", &GanConfig::size)
      .add("num_classes", &GanConfig::num_classes).add("z_dim", &GanConfig::z_dim)
      .add("g_width", &GanConfig::g_width).add("d_width", &GanConfig::d_width)
      .add("d_norm", &GanConfig::d_norm).add("spectral_norm", &GanConfig::spectral_norm)
      .add("unet_depth", &GanConfig::unet_depth).add("resnet_blocks", &GanConfig::resnet_blocks)
      .add("sr_blocks", &GanConfig::sr_blocks).add("sr_scale", &GanConfig::sr_scale)
      .add("mixture", &GanConfig::mixture).add("toy_hidden", &GanConfig::toy_hidden)
      .add("pack", &GanConfig::pack).add("gp_weight", &GanConfig::gp_weight)
      .add("l1_weight", &GanConfig::l1_weight).add("cycle_weight", &GanConfig::cycle_weight)
      .add("identity_weight", &GanConfig::identity_weight).add("pool_size", &GanConfig::pool_size)
      .add("content_weight", &GanConfig::content_weight).add("adv_weight", &GanConfig::adv_weight)
      .add("batch_size", &GanConfig::batch_size).add("steps", &GanConfig::steps)
      .add("lr_g", &GanConfig::lr_g).add("lr_d", &GanConfig::lr_d)
      .add("beta1", &GanConfig::beta1).add("beta2", &GanConfig::beta2)
      .add("n_critic", &GanConfig::n_critic).add("ema_decay", &GanConfig::ema_decay)
      .add("ema_start", &GanConfig::ema_start).add("log_every", &GanConfig::log_every)
      .add("sample_every", &GanConfig::sample_every).add("checkpoint_every", &GanConfig::checkpoint_every)
      .add("seed", &GanConfig::seed).add("data", &GanConfig::data)
      .add("source", &GanConfig::source).add("labels", &GanConfig::labels)
      .add("resize", &GanConfig::resize).add("limit", &GanConfig::limit);
  return f;
}

nlohmann::json GanConfig::to_json() const { return fields().to_json(*this); }

GanConfig GanConfig::from_json(const nlohmann::json& j, const std::string& source_name) {
  GanConfig c;
  fields().from_json(c, j, source_name);
  return c;
}

}  // namespace mirage
