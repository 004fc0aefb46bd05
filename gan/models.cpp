// The GanModel of each architecture: its networks and what its discriminators compare. The
// training loop itself is in trainer.cpp, once for all of them.
#include <torch/torch.h>

#include <filesystem>

#include "gan/metrics.h"
#include "gan/networks.h"
#include "gan/trainer.h"
#include "gan/translation_nets.h"
#include "lib/error.h"
#include "lib/export.h"
#include "lib/model.h"
#include "lib/runtime.h"

namespace mirage {

namespace {

namespace F = torch::nn::functional;
namespace fs = std::filesystem;

template <class Holder>
std::shared_ptr<torch::nn::Module> as_net(const Holder& holder) {
  return holder.ptr();
}

// Metadata of an exported generator: what `mirage generate` and PyTorch users need.
ModelSpec generator_spec(const GanConfig& c, int64_t channels, int64_t size) {
  ModelSpec spec;
  spec.kind = "generator";
  spec.name = "mirage-" + c.arch + (c.conditional ? "-conditional" : "");
  spec.channels = channels;
  spec.height = size;
  spec.width = size;
  spec.num_classes = c.num_classes;
  spec.extra = {{"arch", c.arch}, {"conditional", c.conditional}, {"loss", c.loss}, {"config", c.to_json()}};
  return spec;
}

void export_net(const torch::nn::Module& net, const std::string& type, const std::string& source,
                const ModelSpec& spec, const std::string& path) {
  torch::jit::Module module = to_torchscript(net, type, source);
  save_torchscript(module, spec, path);
}

// Rows of `per_row` examples: each of `rows` (N <= per_row each) stacked under the others, gray
// images replicated to RGB when rows differ in channels. For source | output | target views.
at::Tensor stack_rows(std::vector<at::Tensor> rows, int64_t per_row) {
  int64_t channels = 1;
  for (const auto& r : rows) channels = std::max<int64_t>(channels, r.size(1));
  std::vector<at::Tensor> blocks;
  const int64_t n = rows.front().size(0);
  for (int64_t start = 0; start < n; start += per_row) {
    for (auto& r : rows) {
      at::Tensor part = r.slice(0, start, std::min(n, start + per_row)).to(torch::kCPU);
      if (part.size(1) != channels) part = part.expand({-1, channels, -1, -1});
      blocks.push_back(part);
    }
  }
  return torch::cat(blocks, 0);
}

// ---- noise -> sample: dcgan (unconditional and conditional) and the 2-D toy ------------------

// ---- the models with one generator (and its EMA copy) and one discriminator --------------------

template <class G, class D>
class OneGeneratorModel : public GanModel {
 public:
  const GanConfig& config() const override { return config_; }
  std::vector<NamedNet> generators() override { return {{"generator", as_net(g_)}}; }
  std::vector<NamedNet> discriminators() override { return {{"discriminator", as_net(d_)}}; }
  std::vector<NamedNet> ema_generators() override {
    if (ema_.is_empty()) return {};
    return {{"generator", as_net(ema_)}};
  }

 protected:
  OneGeneratorModel(GanConfig config, G g, G ema, D d, c10::Device device)
      : config_(std::move(config)), g_(std::move(g)), ema_(std::move(ema)), d_(std::move(d)), device_(device) {
    g_->to(device_);
    d_->to(device_);
    if (!ema_.is_empty()) {
      ema_->to(device_);
      copy_weights(*ema_, *g_);
    }
  }
  // The generator users see (the EMA one when on).
  G& shown() { return ema_.is_empty() ? g_ : ema_; }
  // A copy of shown() to sample from and export, leaving the trained nets untouched (a resumed
  // run must match an uninterrupted one bit for bit). Built without touching LibTorch's global
  // generator, which module initialisation would otherwise advance.
  G shown_copy() {
    at::Generator global = at::detail::getDefaultCPUGenerator();
    at::Tensor state = global.get_state();
    G copy(shown()->options());
    global.set_state(state);
    copy->to(device_);
    copy_weights(*copy, *shown());
    return copy;
  }
  // `f(shown())` in eval mode without a graph; the generator goes back to training mode.
  template <class F>
  auto evaluate(F f) {
    torch::NoGradGuard no_grad;
    G& g = shown();
    g->eval();
    auto out = f(g);
    g->train();
    return out;
  }
  GanConfig config_;
  G g_, ema_;
  D d_;
  c10::Device device_;
};

template <class G, class D>
class NoiseGan final : public OneGeneratorModel<G, D> {
  using Base = OneGeneratorModel<G, D>;
  using Base::config_;
  using Base::d_;
  using Base::device_;
  using Base::g_;

 public:
  NoiseGan(GanConfig config, G g, G ema, D d, c10::Device device)
      : Base(std::move(config), std::move(g), std::move(ema), std::move(d), device) {}
  GeneratorPass generate(const GanBatch& batch, at::Generator& gen) override {
    const int64_t n = batch.size();
    at::Tensor z = torch::randn({n, config_.z_dim}, gen).to(device_);
    at::Tensor y;
    if (config_.conditional) y = torch::randint(0, config_.num_classes, {n}, gen).to(device_);
    AdversarialTerm t;
    t.real = batch.x;
    t.fake = g_->forward(z, y);
    if (config_.conditional) {
      t.real_cond = batch.y;
      t.fake_cond = y;
    }
    GeneratorPass pass;
    pass.adversarial.push_back(std::move(t));
    return pass;
  }
  at::Tensor discriminate(size_t, const at::Tensor& x, const at::Tensor& cond) override { return d_->forward(x, cond); }
  at::Tensor samples(const GanBatch&, int64_t n, at::Generator& gen) override {
    // The 2-D toy shows a cloud of points, not images: 2500 of them whatever n asks.
    if (config_.arch == "toy") n = 2500;
    at::Tensor z = torch::randn({n, config_.z_dim}, gen).to(device_);
    at::Tensor y;
    if (config_.conditional) y = torch::arange(n, torch::TensorOptions().dtype(torch::kLong)).remainder(config_.num_classes).to(device_);
    G g = standing_copy();
    torch::NoGradGuard no_grad;
    return g->forward(z, y).to(torch::kCPU);
  }
  // shown_copy() with its batch-norm statistics re-estimated on 32 batches of fresh noise (the
  // DCGAN generator's BN statistics otherwise lag its weights), in eval mode: what samples and
  // the exported generator use.
  G standing_copy() {
    G g = this->shown_copy();
    at::Generator gen = make_generator(derive_seed(config_.seed, "standing-statistics"));
    int64_t k = 0;
    standing_statistics(*g, 32, [&] {
      at::Tensor z = torch::randn({64, config_.z_dim}, gen).to(device_);
      at::Tensor y;
      if (config_.conditional) y = (torch::arange(64, torch::kLong) + 64 * k++).remainder(config_.num_classes).to(device_);
      g->forward(z, y);
    });
    return g;
  }
  std::map<std::string, double> validate(const GanBatch&) override { return {}; }
  void export_generators(const std::string& dir) override;
};

template <>
void NoiseGan<DcganGenerator, DcganDiscriminator>::export_generators(const std::string& dir) {
  DcganGenerator g = standing_copy();
  ModelSpec spec = generator_spec(config_, config_.channels, config_.size);
  spec.extra["z_dim"] = config_.z_dim;
  spec.extra["input"] = config_.conditional ? "z, y" : "z";
  export_net(*g, "DcganGenerator", g->torchscript_source(), spec, (fs::path(dir) / "generator.pt").string());
}

template <>
void NoiseGan<MlpGenerator, MlpDiscriminator>::export_generators(const std::string& dir) {
  // z -> 2-D points (not images): gan-eval reads the mixture from the config and counts modes.
  MlpGenerator g = shown_copy();
  ModelSpec spec = generator_spec(config_, 1, 1);
  spec.extra["z_dim"] = config_.z_dim;
  spec.extra["input"] = "z";
  spec.extra["output"] = "points [N, 2]";
  export_net(*g, "MlpGenerator", g->torchscript_source(), spec, (fs::path(dir) / "generator.pt").string());
}

// ---- pix2pix: paired a -> x ------------------------------------------------------------------

UnetGenerator make_unet(const GanConfig& c) {
  UnetOptions u;
  u.in_channels = c.source_channels;
  u.out_channels = c.channels;
  u.width = c.g_width;
  u.depth = c.unet_depth;
  u.init_seed = derive_seed(c.seed, "init-g");
  return UnetGenerator(u);
}

PatchDiscriminator make_patch_discriminator(const GanConfig& c, int64_t in_channels, const std::string& role) {
  PatchDiscriminatorOptions p;
  p.init_seed = derive_seed(c.seed, "init-" + role);
  p.in_channels = in_channels;
  p.width = c.d_width;
  p.norm = c.d_norm;
  p.spectral_norm = c.spectral_norm;
  return PatchDiscriminator(p);
}

class Pix2Pix final : public OneGeneratorModel<UnetGenerator, PatchDiscriminator> {
 public:
  Pix2Pix(GanConfig config, c10::Device device)
      : OneGeneratorModel(config, make_unet(config), config.ema_decay > 0 ? make_unet(config) : UnetGenerator(nullptr),
                          make_patch_discriminator(config, config.source_channels + config.channels, "d"), device) {}
  GeneratorPass generate(const GanBatch& batch, at::Generator&) override {
    // pix2pix's D is conditional: it sees the input next to the real or generated output.
    at::Tensor fake = g_->forward(batch.a);
    AdversarialTerm t;
    t.real = torch::cat({batch.a, batch.x}, 1);
    t.fake = torch::cat({batch.a, fake}, 1);
    GeneratorPass pass;
    pass.adversarial.push_back(std::move(t));
    pass.losses.emplace_back("l1", config_.l1_weight * (fake - batch.x).abs().mean());
    return pass;
  }
  at::Tensor discriminate(size_t, const at::Tensor& x, const at::Tensor&) override { return d_->forward(x); }
  at::Tensor samples(const GanBatch& fixed, int64_t, at::Generator&) override {
    const int64_t k = std::min<int64_t>(fixed.size(), 16);
    at::Tensor a = fixed.a.slice(0, 0, k);
    return evaluate([&](UnetGenerator& g) { return stack_rows({a, g->forward(a), fixed.x.slice(0, 0, k)}, 8); });
  }
  std::map<std::string, double> validate(const GanBatch& batch) override {
    at::Tensor out = evaluate([&](UnetGenerator& g) { return g->forward(batch.a); });
    return {{"l1", (out - batch.x).abs().mean().item<double>()}, {"psnr", psnr(out, batch.x).mean().item<double>()}};
  }
  void export_generators(const std::string& dir) override {
    const UnetGenerator& g = shown();
    ModelSpec spec = generator_spec(config_, config_.source_channels, config_.size);
    spec.extra["input"] = "x";
    spec.extra["output_channels"] = config_.channels;
    export_net(*g, "UnetGenerator", g->torchscript_source(), spec, (fs::path(dir) / "generator.pt").string());
  }

};

// ---- cyclegan: unpaired a <-> x ----------------------------------------------------------------

// CycleGAN's image pool (Shrivastava et al. 2017): D trains on a mix of new fakes and fakes
// from earlier steps. Buffers, so a checkpoint holds it and a resumed run continues it.
class ImagePoolImpl : public torch::nn::Module {
 public:
  ImagePoolImpl(int64_t capacity, int64_t channels, int64_t size) : capacity_(capacity) {
    images_ = register_buffer("images", torch::zeros({std::max<int64_t>(capacity, 1), channels, size, size}));
    count_ = register_buffer("count", torch::zeros({}, torch::kLong));
  }
  // Per image: while the pool fills, store and return it; then with probability 1/2 return a
  // random stored image and store the new one in its place, else return the new one.
  at::Tensor query(const at::Tensor& fakes, at::Generator& gen) {
    if (capacity_ == 0) return fakes;
    torch::NoGradGuard no_grad;
    std::vector<at::Tensor> out;
    for (int64_t i = 0; i < fakes.size(0); ++i) {
      at::Tensor img = fakes[i];
      int64_t count = count_.item<int64_t>();
      if (count < capacity_) {
        images_[count].copy_(img);
        count_.add_(1);
        out.push_back(img);
      } else if (torch::rand({1}, gen).item<double>() < 0.5) {
        int64_t j = torch::randint(0, capacity_, {1}, gen).item<int64_t>();
        out.push_back(images_[j].clone());
        images_[j].copy_(img);
      } else {
        out.push_back(img);
      }
    }
    return torch::stack(out);
  }

 private:
  int64_t capacity_;
  at::Tensor images_, count_;
};
TORCH_MODULE(ImagePool);

class CycleGan final : public GanModel {
 public:
  CycleGan(GanConfig config, c10::Device device) : config_(std::move(config)), device_(device) {
    auto gen_options = [&](int64_t in, int64_t out, const char* role) {
      ResnetGeneratorOptions o;
      o.init_seed = derive_seed(config_.seed, role);
      o.in_channels = in;
      o.out_channels = out;
      o.width = config_.g_width;
      o.blocks = config_.resnet_blocks;
      return o;
    };
    const int64_t ca = config_.source_channels, cb = config_.channels;
    g_ab_ = ResnetGenerator(gen_options(ca, cb, "init-g-ab"));
    g_ba_ = ResnetGenerator(gen_options(cb, ca, "init-g-ba"));
    if (config_.ema_decay > 0) {
      ema_ab_ = ResnetGenerator(gen_options(ca, cb, "init-g-ab"));
      ema_ba_ = ResnetGenerator(gen_options(cb, ca, "init-g-ba"));
    }
    d_b_ = make_patch_discriminator(config_, cb, "d-b");
    d_a_ = make_patch_discriminator(config_, ca, "d-a");
    pool_b_ = ImagePool(config_.pool_size, cb, config_.size);
    pool_a_ = ImagePool(config_.pool_size, ca, config_.size);
    for (auto& [name, net] : all()) net->to(device_);
    if (!ema_ab_.is_empty()) {
      copy_weights(*ema_ab_, *g_ab_);
      copy_weights(*ema_ba_, *g_ba_);
    }
  }
  const GanConfig& config() const override { return config_; }
  std::vector<NamedNet> generators() override { return {{"g_ab", as_net(g_ab_)}, {"g_ba", as_net(g_ba_)}}; }
  // The pools ride along with the discriminators (no parameters; buffers only) so checkpoints
  // keep them.
  std::vector<NamedNet> discriminators() override {
    return {{"d_b", as_net(d_b_)}, {"d_a", as_net(d_a_)}, {"pool_b", as_net(pool_b_)}, {"pool_a", as_net(pool_a_)}};
  }
  std::vector<NamedNet> ema_generators() override {
    if (ema_ab_.is_empty()) return {};
    return {{"g_ab", as_net(ema_ab_)}, {"g_ba", as_net(ema_ba_)}};
  }
  GeneratorPass generate(const GanBatch& batch, at::Generator& gen) override {
    const at::Tensor& a = batch.a;
    const at::Tensor& b = batch.x;
    at::Tensor fake_b = g_ab_->forward(a), fake_a = g_ba_->forward(b);
    GeneratorPass pass;
    AdversarialTerm tb;
    tb.discriminator = 0;
    tb.real = b;
    tb.fake = fake_b;
    tb.fake_for_d = pool_b_->query(fake_b.detach(), gen);
    AdversarialTerm ta;
    ta.discriminator = 1;
    ta.real = a;
    ta.fake = fake_a;
    ta.fake_for_d = pool_a_->query(fake_a.detach(), gen);
    pass.adversarial.push_back(std::move(tb));
    pass.adversarial.push_back(std::move(ta));
    // Cycle consistency (Zhu et al. 2017, eq. 2) and the identity loss of their section 5.2.
    at::Tensor cycle = (g_ba_->forward(fake_b) - a).abs().mean() + (g_ab_->forward(fake_a) - b).abs().mean();
    pass.losses.emplace_back("cycle", config_.cycle_weight * cycle);
    if (config_.identity_weight > 0) {
      at::Tensor identity = (g_ab_->forward(b) - b).abs().mean() + (g_ba_->forward(a) - a).abs().mean();
      pass.losses.emplace_back("identity", config_.identity_weight * config_.cycle_weight * identity);
    }
    return pass;
  }
  at::Tensor discriminate(size_t k, const at::Tensor& x, const at::Tensor&) override {
    return k == 0 ? d_b_->forward(x) : d_a_->forward(x);
  }
  at::Tensor samples(const GanBatch& fixed, int64_t, at::Generator&) override {
    torch::NoGradGuard no_grad;
    ResnetGenerator& ab = ema_ab_.is_empty() ? g_ab_ : ema_ab_;
    ResnetGenerator& ba = ema_ab_.is_empty() ? g_ba_ : ema_ba_;
    ab->eval();
    ba->eval();
    const int64_t k = std::min<int64_t>(fixed.size(), 16);
    at::Tensor a = fixed.a.slice(0, 0, k), b = fixed.x.slice(0, 0, k);
    at::Tensor fake_b = ab->forward(a);
    at::Tensor out = stack_rows({a, fake_b, ba->forward(fake_b)}, 8);
    ab->train();
    ba->train();
    return out;
  }
  std::map<std::string, double> validate(const GanBatch& batch) override {
    torch::NoGradGuard no_grad;
    ResnetGenerator& ab = ema_ab_.is_empty() ? g_ab_ : ema_ab_;
    ResnetGenerator& ba = ema_ab_.is_empty() ? g_ba_ : ema_ba_;
    ab->eval();
    ba->eval();
    double cycle_a = (ba->forward(ab->forward(batch.a)) - batch.a).abs().mean().item<double>();
    double cycle_b = (ab->forward(ba->forward(batch.x)) - batch.x).abs().mean().item<double>();
    ab->train();
    ba->train();
    return {{"cycle_l1_a", cycle_a}, {"cycle_l1_b", cycle_b}};
  }
  void export_generators(const std::string& dir) override {
    const ResnetGenerator& ab = ema_ab_.is_empty() ? g_ab_ : ema_ab_;
    const ResnetGenerator& ba = ema_ab_.is_empty() ? g_ba_ : ema_ba_;
    ModelSpec spec = generator_spec(config_, config_.source_channels, config_.size);
    spec.extra["input"] = "x";
    spec.extra["direction"] = "a->b";
    spec.extra["output_channels"] = config_.channels;
    export_net(*ab, "ResnetGenerator", ab->torchscript_source(), spec, (fs::path(dir) / "generator.pt").string());
    spec = generator_spec(config_, config_.channels, config_.size);
    spec.extra["input"] = "x";
    spec.extra["direction"] = "b->a";
    spec.extra["output_channels"] = config_.source_channels;
    export_net(*ba, "ResnetGenerator", ba->torchscript_source(), spec, (fs::path(dir) / "generator_ba.pt").string());
  }

 private:
  std::vector<NamedNet> all() {
    std::vector<NamedNet> nets = generators();
    for (auto& n : discriminators()) nets.push_back(n);
    for (auto& n : ema_generators()) nets.push_back(n);
    return nets;
  }
  GanConfig config_;
  c10::Device device_;
  ResnetGenerator g_ab_{nullptr}, g_ba_{nullptr}, ema_ab_{nullptr}, ema_ba_{nullptr};
  PatchDiscriminator d_b_{nullptr}, d_a_{nullptr};
  ImagePool pool_b_{nullptr}, pool_a_{nullptr};
};

// ---- srgan: area-downsampled x -> x ------------------------------------------------------------

SrGenerator make_sr_generator(const GanConfig& c) {
  SrGeneratorOptions s;
  s.channels = c.channels;
  s.width = c.g_width;
  s.blocks = c.sr_blocks;
  s.scale = c.sr_scale;
  s.init_seed = derive_seed(c.seed, "init-g");
  return SrGenerator(s);
}

DcganDiscriminator make_dcgan_discriminator(const GanConfig& c, int64_t num_classes) {
  DcganDiscriminatorOptions d;
  d.init_seed = derive_seed(c.seed, "init-d");
  d.channels = c.channels;
  d.size = c.size;
  d.width = c.d_width;
  d.num_classes = num_classes;
  d.norm = c.d_norm;
  d.spectral_norm = c.spectral_norm;
  return DcganDiscriminator(d);
}

class Srgan final : public OneGeneratorModel<SrGenerator, DcganDiscriminator> {
 public:
  Srgan(GanConfig config, c10::Device device)
      : OneGeneratorModel(config, make_sr_generator(config),
                          config.ema_decay > 0 ? make_sr_generator(config) : SrGenerator(nullptr),
                          make_dcgan_discriminator(config, 0), device) {}
  GeneratorPass generate(const GanBatch& batch, at::Generator&) override {
    at::Tensor fake = g_->forward(area_downsample(batch.x, config_.sr_scale));
    AdversarialTerm t;
    t.real = batch.x;
    t.fake = fake;
    GeneratorPass pass;
    pass.adversarial.push_back(std::move(t));
    // SRGAN's loss (Ledig et al. 2017, eq. 3): content + 1e-3 x adversarial; the content term
    // is pixel MSE here (no VGG features to be had).
    pass.losses.emplace_back("content", config_.content_weight * F::mse_loss(fake, batch.x));
    return pass;
  }
  at::Tensor discriminate(size_t, const at::Tensor& x, const at::Tensor&) override { return d_->forward(x); }
  at::Tensor samples(const GanBatch& fixed, int64_t, at::Generator&) override {
    const int64_t k = std::min<int64_t>(fixed.size(), 16);
    at::Tensor x = fixed.x.slice(0, 0, k);
    at::Tensor lr = area_downsample(x, config_.sr_scale);
    return evaluate([&](SrGenerator& g) {
      return stack_rows({bicubic_upsample(lr, config_.sr_scale), g->forward(lr), x}, 8);
    });
  }
  std::map<std::string, double> validate(const GanBatch& batch) override {
    at::Tensor lr = area_downsample(batch.x, config_.sr_scale);
    at::Tensor sr = evaluate([&](SrGenerator& g) { return g->forward(lr); });
    return {{"psnr", psnr(sr, batch.x).mean().item<double>()},
            {"psnr_bicubic", psnr(bicubic_upsample(lr, config_.sr_scale), batch.x).mean().item<double>()}};
  }
  void export_generators(const std::string& dir) override {
    const SrGenerator& g = shown();
    ModelSpec spec = generator_spec(config_, config_.channels, config_.size / config_.sr_scale);
    spec.extra["input"] = "x";
    spec.extra["scale"] = config_.sr_scale;
    export_net(*g, "SrGenerator", g->torchscript_source(), spec, (fs::path(dir) / "generator.pt").string());
  }

};

}  // namespace

std::unique_ptr<GanModel> make_gan_model(GanConfig config, c10::Device device) {
  config.finalize();
  const GanConfig& c = config;
  if (c.arch == "dcgan") {
    DcganGeneratorOptions g;
    g.z_dim = c.z_dim;
    g.channels = c.channels;
    g.size = c.size;
    g.width = c.g_width;
    g.num_classes = c.conditional ? c.num_classes : 0;
    g.init_seed = derive_seed(c.seed, "init-g");
    DcganGenerator ema{nullptr};
    if (c.ema_decay > 0) ema = DcganGenerator(g);
    return std::make_unique<NoiseGan<DcganGenerator, DcganDiscriminator>>(std::move(config), DcganGenerator(g), ema,
                                                                          make_dcgan_discriminator(c, g.num_classes), device);
  }
  if (c.arch == "toy") {
    MlpGanOptions m;
    m.z_dim = c.z_dim;
    m.hidden = c.toy_hidden;
    m.pack = c.pack;
    MlpGenerator ema{nullptr};
    if (c.ema_decay > 0) ema = MlpGenerator(m);
    return std::make_unique<NoiseGan<MlpGenerator, MlpDiscriminator>>(std::move(config), MlpGenerator(m), ema,
                                                                      MlpDiscriminator(m), device);
  }
  if (c.arch == "pix2pix") return std::make_unique<Pix2Pix>(std::move(config), device);
  if (c.arch == "cyclegan") return std::make_unique<CycleGan>(std::move(config), device);
  if (c.arch == "srgan") return std::make_unique<Srgan>(std::move(config), device);
  throw UsageError("unknown GAN arch '" + c.arch + "'");
}

}  // namespace mirage
