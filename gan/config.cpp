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

nlohmann::json GanConfig::to_json() const {
  return {{"arch", arch}, {"conditional", conditional}, {"loss", loss}, {"channels", channels},
          {"source_channels", source_channels}, {"size", size}, {"num_classes", num_classes}, {"z_dim", z_dim},
          {"g_width", g_width}, {"d_width", d_width}, {"d_norm", d_norm}, {"spectral_norm", spectral_norm},
          {"unet_depth", unet_depth}, {"resnet_blocks", resnet_blocks}, {"sr_blocks", sr_blocks},
          {"sr_scale", sr_scale}, {"mixture", mixture}, {"toy_hidden", toy_hidden}, {"pack", pack},
          {"gp_weight", gp_weight}, {"l1_weight", l1_weight}, {"cycle_weight", cycle_weight},
          {"identity_weight", identity_weight}, {"pool_size", pool_size}, {"content_weight", content_weight},
          {"adv_weight", adv_weight}, {"batch_size", batch_size}, {"steps", steps}, {"lr_g", lr_g}, {"lr_d", lr_d},
          {"beta1", beta1}, {"beta2", beta2}, {"n_critic", n_critic}, {"ema_decay", ema_decay},
          {"ema_start", ema_start}, {"log_every", log_every}, {"sample_every", sample_every},
          {"checkpoint_every", checkpoint_every}, {"seed", seed}, {"data", data}, {"source", source},
          {"labels", labels}, {"resize", resize}, {"limit", limit}};
}

GanConfig GanConfig::from_json(const nlohmann::json& j, const std::string& source_name) {
  if (!j.is_object()) throw UsageError(source_name + ": a GAN config must be a JSON object");
  GanConfig c;
  nlohmann::json known = c.to_json();
  for (const auto& [key, value] : j.items()) {
    if (!known.contains(key)) throw UsageError(source_name + ": unknown GAN config key '" + key + "'");
    const auto& ref = known[key];
    bool ok = (ref.is_string() && value.is_string()) || (ref.is_boolean() && value.is_boolean()) ||
              (ref.is_number() && value.is_number());
    if (!ok) throw UsageError(source_name + ": GAN config key '" + key + "' has the wrong type");
    known[key] = value;
  }
  c.arch = known["arch"];
  c.conditional = known["conditional"];
  c.loss = known["loss"];
  c.channels = known["channels"];
  c.source_channels = known["source_channels"];
  c.size = known["size"];
  c.num_classes = known["num_classes"];
  c.z_dim = known["z_dim"];
  c.g_width = known["g_width"];
  c.d_width = known["d_width"];
  c.d_norm = known["d_norm"];
  c.spectral_norm = known["spectral_norm"];
  c.unet_depth = known["unet_depth"];
  c.resnet_blocks = known["resnet_blocks"];
  c.sr_blocks = known["sr_blocks"];
  c.sr_scale = known["sr_scale"];
  c.mixture = known["mixture"];
  c.toy_hidden = known["toy_hidden"];
  c.pack = known["pack"];
  c.gp_weight = known["gp_weight"];
  c.l1_weight = known["l1_weight"];
  c.cycle_weight = known["cycle_weight"];
  c.identity_weight = known["identity_weight"];
  c.pool_size = known["pool_size"];
  c.content_weight = known["content_weight"];
  c.adv_weight = known["adv_weight"];
  c.batch_size = known["batch_size"];
  c.steps = known["steps"];
  c.lr_g = known["lr_g"];
  c.lr_d = known["lr_d"];
  c.beta1 = known["beta1"];
  c.beta2 = known["beta2"];
  c.n_critic = known["n_critic"];
  c.ema_decay = known["ema_decay"];
  c.ema_start = known["ema_start"];
  c.log_every = known["log_every"];
  c.sample_every = known["sample_every"];
  c.checkpoint_every = known["checkpoint_every"];
  c.seed = known["seed"];
  c.data = known["data"];
  c.source = known["source"];
  c.labels = known["labels"];
  c.resize = known["resize"];
  c.limit = known["limit"];
  return c;
}

}  // namespace mirage
