// gan/config.h — every choice of a GAN run as one value: architecture, loss, regularisers,
// optimiser and schedule. Built from flags or JSON, completed once (defaults that depend on the
// loss or the data), stored in a checkpoint's config.json, printed back into reports.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "lib/options.h"

namespace mirage {

struct GanConfig {
  // --- model ---------------------------------------------------------------------------------
  std::string arch = "dcgan";   // dcgan | pix2pix | cyclegan | srgan | toy
  bool conditional = false;     // dcgan: class-conditional G, projection D
  std::string loss = "auto";    // ns (non-saturating) | wgan-gp | hinge | lsgan; auto: per arch
  int64_t channels = 1;         // image channels (target domain)
  int64_t source_channels = 1;  // pix2pix / cyclegan: channels of the source domain A
  int64_t size = 28;            // image height = width (srgan: the high-resolution size)
  int64_t num_classes = 0;      // conditional: from the data
  int64_t z_dim = -1;           // latent size; -1: 100 for dcgan, 2 for toy
  int64_t g_width = 64;         // generator feature maps
  int64_t d_width = 64;         // discriminator feature maps
  std::string d_norm = "auto";  // batch | layer | instance | none; auto: per loss
  bool spectral_norm = false;   // on D
  int64_t unet_depth = 2;       // pix2pix
  int64_t resnet_blocks = 6;    // cyclegan
  int64_t sr_blocks = 8;        // srgan
  int64_t sr_scale = 2;         // srgan: 2 or 4
  std::string mixture = "ring8";  // toy: ring8 | grid25
  int64_t toy_hidden = 128;     // toy MLP width
  int64_t pack = 1;             // toy: PacGAN packing of D's input
  // --- objective -----------------------------------------------------------------------------
  double gp_weight = -1;        // WGAN-GP penalty weight; -1: 10 for wgan-gp, else 0
  double l1_weight = 100;       // pix2pix: L1 to the target
  double cycle_weight = 10;     // cyclegan: F(G(a)) ~ a, G(F(b)) ~ b
  double identity_weight = 0.5; // cyclegan: times cycle_weight, G(b) ~ b
  int64_t pool_size = 50;       // cyclegan: image pool of past fakes for D (0 = off)
  double content_weight = 1;    // srgan: pixel MSE
  double adv_weight = -1;       // weight of G's adversarial loss; -1: 1e-3 for srgan, else 1
  // --- optimisation --------------------------------------------------------------------------
  int64_t batch_size = 64;
  int64_t steps = 2000;         // generator steps
  double lr_g = -1;             // Adam; -1: 1e-4 for wgan-gp, 2e-4 otherwise (TTUR: set lr_d apart)
  double lr_d = -1;
  double beta1 = -1;            // -1: 0.0 for wgan-gp (Gulrajani et al.), 0.5 otherwise (Radford et al.)
  double beta2 = -1;            // -1: 0.9 for wgan-gp, 0.999 otherwise
  int64_t n_critic = -1;        // D steps per G step; -1: 5 for wgan-gp, else 1
  double ema_decay = 0.99;      // generator EMA (0 = off); 0.999 suits runs of 10k+ steps
  int64_t ema_start = 100;      // steps before the EMA starts averaging (it copies until then)
  // --- bookkeeping ---------------------------------------------------------------------------
  int64_t log_every = 10;
  int64_t sample_every = 500;   // 0 = only at the end
  int64_t checkpoint_every = 500;  // 0 = only at the end
  uint64_t seed = 0;
  std::string data;             // data spec (informative; the command opens the data)
  std::string source;           // pix2pix / cyclegan: what domain A is ("edges" or a data spec)
  std::string labels;           // IDX label file of `data`, when not found beside it
  std::string resize = "crop";  // how image files are fitted (crop | stretch)
  int64_t limit = 0;            // train on a seeded random subset of this many images (0 = all)

  // Resolves every "auto"/-1 from the arch and loss and checks ranges; a bad value is a
  // UsageError naming the field. Idempotent.
  void finalize();
  // The one field list (every field above, by its own name): JSON both ways, flags as text.
  static const OptionFields<GanConfig>& fields();
  nlohmann::json to_json() const;
  // Unknown keys and wrong types are UsageErrors naming `source` and the key; numbers may be
  // written as text ("1e-4", "8/255").
  static GanConfig from_json(const nlohmann::json& j, const std::string& source);
  // Whether the generator maps noise (dcgan, toy) rather than images (pix2pix, cyclegan, srgan).
  bool noise_to_image() const { return arch == "dcgan" || arch == "toy"; }
};

}  // namespace mirage
