// AdvGAN (Xiao et al., IJCAI 2018), following the reference code mathcbc/advGAN_pytorch for what the
// paper leaves open: one D step then one G step per batch, least-squares GAN losses, Adam(1e-3) for
// both nets, loss weights adv 10 / GAN 1 / hinge 1, hinge bound c = 0.1 on ||delta||_2, the
// generator's 8-16-32 widths with 4 residual blocks. Two deliberate differences: the reference
// clamps G's output to [-0.3, 0.3] (no gradient outside); here delta = eps * tanh(raw) keeps the
// bound by construction with a gradient everywhere. And L_adv is the C&W margin on logits (paper
// Eq. 2, with kappa) where the reference uses the margin of softmax probabilities. gan/losses.h's
// lsgan halves the reference's MSE terms (D: ((D(x)-1)^2 + D(x_adv)^2) / 2, G: (D(x_adv)-1)^2 / 2,
// the reference sums the two D terms and takes G's whole): Adam makes D's half scale immaterial,
// and G's GAN term weighs gan_weight / 2 of the reference's.
#include "attacks/advgan.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>

#include "gan/losses.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/hash.h"
#include "lib/image_tensor.h"
#include "lib/json_io.h"
#include "lib/log.h"
#include "lib/options.h"
#include "lib/runtime.h"

namespace mirage {

namespace fs = std::filesystem;

namespace {

const char* kConfigFile = "config.json";
const char* kGeneratorFile = "generator.pt";
const char* kKind = "advgan";
constexpr int kFormat = 2;
constexpr int64_t kDownsamplings = 2;  // H and W must be multiples of 4

const OptionFields<AdvGanOptions>& fields() {
  static const OptionFields<AdvGanOptions> f = OptionFields<AdvGanOptions>()
      .add("eps", &AdvGanOptions::eps).add("targeted", &AdvGanOptions::targeted)
      .add("target_class", &AdvGanOptions::target_class).add("epochs", &AdvGanOptions::epochs)
      .add("batch_size", &AdvGanOptions::batch_size).add("lr", &AdvGanOptions::lr)
      .add("adv_weight", &AdvGanOptions::adv_weight).add("gan_weight", &AdvGanOptions::gan_weight)
      .add("hinge_weight", &AdvGanOptions::hinge_weight).add("hinge_bound", &AdvGanOptions::hinge_bound)
      .add("kappa", &AdvGanOptions::kappa).add("width", &AdvGanOptions::width)
      .add("blocks", &AdvGanOptions::blocks).add("limit", &AdvGanOptions::limit)
      .add("checkpoint_every", &AdvGanOptions::checkpoint_every).add("seed", &AdvGanOptions::seed)
      .add("data", &AdvGanOptions::data).add("labels", &AdvGanOptions::labels)
      .add("resize", &AdvGanOptions::resize);
  return f;
}

void check_options(const AdvGanOptions& o) {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw UsageError("AdvGAN " + what);
  };
  need(std::isfinite(o.eps) && o.eps > 0 && o.eps <= 1, "eps must be in (0, 1], got " + std::to_string(o.eps));
  need(o.epochs >= 1, "epochs must be >= 1");
  need(o.batch_size >= 1, "batch size must be >= 1");
  need(std::isfinite(o.lr) && o.lr > 0, "lr must be > 0");
  need(o.adv_weight >= 0 && o.gan_weight >= 0 && o.hinge_weight >= 0, "loss weights must be >= 0");
  need(o.hinge_bound >= 0 && o.kappa >= 0, "hinge_bound and kappa must be >= 0");
  need(o.width >= 1 && o.blocks >= 0, "generator width must be >= 1 and blocks >= 0");
  need(o.limit >= 0, "limit must be >= 0");
  need(o.checkpoint_every >= 0, "checkpoint_every must be >= 0");
  need(!o.targeted || o.target_class >= 0, "target class must be >= 0");
}

// pix2pix's N(0, 0.02) init (as the ResNet generator's own), drawn from `gen` instead of LibTorch's
// global generator, so that the seed alone fixes the weights.
void init_weights(torch::nn::Module& net, uint64_t seed) {
  at::Generator gen = make_generator(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : net.named_parameters()) {
    auto& t = p.value();
    auto cpu = torch::empty(t.sizes(), t.options().device(torch::kCPU));
    const std::string& key = p.key();
    const bool bias = key.size() >= 4 && key.compare(key.size() - 4, 4, "bias") == 0;
    if (bias) {
      cpu.zero_();
    } else {
      cpu.normal_(t.dim() > 1 ? 0.0 : 1.0, 0.02, gen);  // 1-D weights are norm scales
    }
    t.copy_(cpu);
  }
}

// What a batch is attacked toward. cls: the label (the model's prediction where a sample has none)
// untargeted, the target class targeted. counted: the samples an attack can succeed on, correctly
// classified (untargeted) or not already of the target class (targeted), as `mirage attack` counts.
struct Aim {
  at::Tensor cls, counted;
};

Aim aim(const AdvGanOptions& o, const at::Tensor& labels, const at::Tensor& clean_logits, int64_t classes) {
  const at::Tensor pred = clean_logits.argmax(1);
  const at::Tensor y = labels.defined() ? torch::where(labels < 0, pred, labels.to(pred.device())) : pred;
  if ((y >= classes).any().item<bool>()) {
    throw InputError("AdvGAN: a label is out of range for a model with " + std::to_string(classes) + " classes");
  }
  if (o.targeted) {
    at::Tensor t = torch::full_like(y, o.target_class);
    return {t, y.ne(t)};
  }
  return {y, pred.eq(y)};
}

at::Tensor met(const AdvGanOptions& o, const at::Tensor& logits, const at::Tensor& cls) {
  return o.targeted ? logits.argmax(1).eq(cls) : logits.argmax(1).ne(cls);
}

// G (in eval mode) against `target` on a batch, added up: the final pass and validate().
struct Figures {
  int64_t n = 0, counted = 0, success = 0;
  double sum_linf = 0, sum_l2 = 0, max_linf = 0;
  void add(AdvGanGenerator& g, Model& target, const at::Tensor& x, const at::Tensor& labels) {
    torch::NoGradGuard no_grad;
    auto& net = g.net();
    const bool was_training = net->is_training();
    net->eval();
    const at::Tensor adv = g.adversarial(x);
    net->train(was_training);
    const Aim a = aim(g.options(), labels, target.logits(x), target.spec().num_classes);
    success += (met(g.options(), target.logits(adv), a.cls) & a.counted).sum().item<int64_t>();
    counted += a.counted.sum().item<int64_t>();
    const at::Tensor linf = lp_norms(adv - x, Norm::kLinf);
    sum_linf += linf.sum().item<double>();
    sum_l2 += lp_norms(adv - x, Norm::kL2).sum().item<double>();
    max_linf = std::max(max_linf, linf.max().item<double>());
    n += x.size(0);
  }
  double success_rate() const { return static_cast<double>(success) / static_cast<double>(std::max<int64_t>(counted, 1)); }
};

// A view of `data` as a shared_ptr that does not own it (SubsetDataset wants one).
std::shared_ptr<Dataset> borrow(Dataset& data) {
  return std::shared_ptr<Dataset>(&data, [](Dataset*) {});
}

// One epoch of the training history, as config.json and the CLI summary hold it.
const OptionFields<AdvGanEpoch>& epoch_fields() {
  static const OptionFields<AdvGanEpoch> f = OptionFields<AdvGanEpoch>()
      .add("epoch", &AdvGanEpoch::epoch).add("loss_d", &AdvGanEpoch::loss_d)
      .add("loss_gan", &AdvGanEpoch::loss_gan).add("loss_adv", &AdvGanEpoch::loss_adv)
      .add("loss_hinge", &AdvGanEpoch::loss_hinge).add("success_rate", &AdvGanEpoch::success_rate)
      .add("seconds", &AdvGanEpoch::seconds).add("images_per_second", &AdvGanEpoch::images_per_second);
  return f;
}

nlohmann::json history_json(const std::vector<AdvGanEpoch>& history) {
  nlohmann::json epochs = nlohmann::json::array();
  for (const auto& e : history) epochs.push_back(epoch_fields().to_json(e));
  return epochs;
}

nlohmann::json config_json_of(AdvGanGenerator& g) {
  const auto& go = g.net()->options();
  return {
      {"kind", kKind},
      {"format", kFormat},
      {"options", g.options().to_json()},
      {"image", {{"channels", g.channels()}, {"height", g.height()}, {"width", g.width()}}},
      {"generator", {{"arch", "resnet"}, {"file", kGeneratorFile}, {"width", go.width}, {"downsamplings", go.downsamplings},
                     {"blocks", go.blocks}, {"output", "delta = eps * (2 * G(x) - 1); x_adv = clamp(x + delta, 0, 1)"}}},
      {"target_model", g.target},
      {"data", g.data},
      {"training", g.training},
  };
}

// torch::save of G from the CPU, so that a checkpoint written on a GPU loads anywhere.
void write_generator(AdvGanGenerator& g, const std::string& folder) {
  auto& net = g.net();
  auto params = net->parameters();
  const c10::Device device = params.empty() ? c10::Device(c10::kCPU) : params.front().device();
  net->to(torch::kCPU);
  try {
    torch::save(net, (fs::path(folder) / kGeneratorFile).string());
  } catch (const c10::Error& e) {
    net->to(device);
    throw InputError(folder + ": cannot write " + kGeneratorFile + " (" + one_line(e) + ")");
  }
  net->to(device);
}

}  // namespace

// ---- options ---------------------------------------------------------------------------------

nlohmann::json AdvGanOptions::to_json() const { return fields().to_json(*this); }

AdvGanOptions AdvGanOptions::from_json(const nlohmann::json& j, const std::string& source) {
  AdvGanOptions o;
  fields().from_json(o, j, source);
  try {
    check_options(o);
  } catch (const UsageError& e) {
    throw UsageError(source + ": " + e.what());
  }
  return o;
}

// ---- the generator ---------------------------------------------------------------------------

AdvGanGenerator::AdvGanGenerator(AdvGanOptions options, int64_t channels, int64_t height, int64_t width)
    : options_(options), channels_(channels), height_(height), width_(width) {
  check_options(options_);
  if (channels < 1 || height < 4 || width < 4 || height % 4 || width % 4) {
    throw UsageError("AdvGAN needs images whose height and width are multiples of 4 (at least 4), got " +
                     image_shape_text(channels, height, width));
  }
  ResnetGeneratorOptions g;
  g.in_channels = channels;
  g.out_channels = channels;
  g.width = options_.width;
  g.downsamplings = kDownsamplings;
  g.blocks = options_.blocks;
  net_ = ResnetGenerator(g);
  init_weights(*net_, derive_seed(options_.seed, "advgan-generator"));
}

at::Tensor AdvGanGenerator::perturbation(const at::Tensor& x) {
  // The ResNet generator ends in (tanh(raw) + 1) / 2; 2 g - 1 is tanh(raw) in [-1, 1], so
  // |delta| <= eps whatever the weights (the paper's bound, by construction rather than by a clamp).
  return options_.eps * (net_->forward(x) * 2 - 1);
}

at::Tensor AdvGanGenerator::adversarial(const at::Tensor& x) {
  auto params = net_->parameters();
  if (!params.empty() && params.front().device() != x.device()) net_->to(x.device());
  torch::NoGradGuard no_grad;
  return clamp_box(x + perturbation(x));
}

// ---- the model the GAN trainer runs ------------------------------------------------------------

AdvGanModel::AdvGanModel(Model& target, const AdvGanOptions& options, const std::string& data_name, int64_t samples)
    : target_(target) {
  const AdvGanOptions& o = options;
  check_options(o);
  const ModelSpec& spec = target.spec();
  if (!spec.complete()) throw UsageError("AdvGAN: the target model's input shape and classes are not known");
  if (o.targeted && o.target_class >= spec.num_classes) {
    throw UsageError("AdvGAN target class " + std::to_string(o.target_class) + " is out of range for a model with " +
                     std::to_string(spec.num_classes) + " classes");
  }
  if (samples < 1) throw UsageError(data_name + ": no samples to train AdvGAN on");
  const c10::Device device = target.device();
  generator_ = std::make_shared<AdvGanGenerator>(o, spec.channels, spec.height, spec.width);
  generator_->target = {{"name", spec.name}, {"num_classes", spec.num_classes}};
  if (auto* ts = dynamic_cast<TorchScriptModel*>(&target)) {
    generator_->target["path"] = ts->path();
    generator_->target["sha256"] = sha256_file(ts->path());
  }
  generator_->data = {{"name", data_name}, {"samples", samples}};
  PatchDiscriminatorOptions dopt;
  dopt.in_channels = spec.channels;
  dopt.width = o.width;
  // Two stride-2 layers as the reference's D on 28 px; small images take one (the PatchGAN's
  // output would vanish).
  dopt.layers = std::min(spec.height, spec.width) >= 16 ? 2 : 1;
  d_ = PatchDiscriminator(dopt);
  init_weights(*d_, derive_seed(o.seed, "advgan-discriminator"));
  generator_->net()->to(device);
  d_->to(device);

  GanConfig& c = config_;
  c.arch = kKind;
  c.loss = "lsgan";
  c.channels = spec.channels;
  c.size = spec.height;
  c.batch_size = std::min(o.batch_size, samples);
  steps_per_epoch_ = samples / c.batch_size;
  c.steps = o.epochs * steps_per_epoch_;
  c.lr_g = c.lr_d = o.lr;
  c.beta1 = 0.9;  // Adam's defaults, as the reference
  c.beta2 = 0.999;
  c.n_critic = 1;
  c.gp_weight = 0;
  c.adv_weight = o.gan_weight;
  c.ema_decay = 0;
  c.ema_start = 0;
  c.log_every = 1;  // train_advgan's epoch means read every step
  c.sample_every = 0;
  c.checkpoint_every = o.checkpoint_every * steps_per_epoch_;
  c.seed = o.seed;
}

nlohmann::json AdvGanModel::config_json() const { return config_json_of(*generator_); }

bool AdvGanModel::resumable_field(const std::string& key) const {
  return key == "epochs" || key == "checkpoint_every" || key == "training";
}

std::vector<NamedNet> AdvGanModel::generators() { return {{"generator", generator_->net().ptr()}}; }

std::vector<NamedNet> AdvGanModel::discriminators() { return {{"discriminator", d_.ptr()}}; }

GeneratorPass AdvGanModel::generate(const GanBatch& batch, at::Generator&) {
  const AdvGanOptions& o = generator_->options();
  const at::Tensor& x = batch.x;
  at::Tensor clean;
  {
    torch::NoGradGuard no_grad;
    clean = target_.logits(x);
  }
  const Aim a = aim(o, batch.y, clean, target_.spec().num_classes);
  at::Tensor delta = generator_->perturbation(x);
  at::Tensor x_adv = clamp_box(x + delta);
  // f is frozen: its weights are in no optimiser, gradients only pass through it to x_adv.
  at::Tensor logits = target_.logits(x_adv);
  // Summed over the batch as the reference (GAN and hinge terms are means): with the default
  // weights the adversarial term dominates, so samples do not settle on the boundary.
  at::Tensor loss_adv = class_margin(logits, a.cls, o.targeted).clamp_min(-o.kappa).sum();
  at::Tensor loss_hinge = (lp_norms(delta, Norm::kL2) - o.hinge_bound).clamp_min(0.0).mean();
  if (torch::GradMode::is_enabled()) {
    ++tally_.passes;
    tally_.counted += a.counted.sum().item<int64_t>();
    tally_.success += (met(o, logits.detach(), a.cls) & a.counted).sum().item<int64_t>();
    tally_.adv += loss_adv.item<double>();
    tally_.hinge += loss_hinge.item<double>();
  }
  GeneratorPass pass;
  if (o.gan_weight > 0) {
    // D: real images toward 1, AdvGAN's toward 0 (least squares); G: x_adv toward 1.
    AdversarialTerm t;
    t.real = x;
    t.fake = x_adv;
    pass.adversarial.push_back(std::move(t));
  }
  pass.losses.emplace_back("adv", o.adv_weight * loss_adv);
  pass.losses.emplace_back("hinge", o.hinge_weight * loss_hinge);
  return pass;
}

at::Tensor AdvGanModel::discriminate(size_t, const at::Tensor& x, const at::Tensor&) { return d_->forward(x); }

at::Tensor AdvGanModel::samples(const GanBatch& fixed, int64_t, at::Generator&) {
  auto& net = generator_->net();
  const bool was_training = net->is_training();
  net->eval();
  at::Tensor x = fixed.x.slice(0, 0, std::min<int64_t>(fixed.size(), 8));
  at::Tensor adv = generator_->adversarial(x);
  net->train(was_training);
  const double eps = generator_->options().eps;
  return torch::cat({x, adv, ((adv - x) / (2 * eps) + 0.5).clamp(0, 1)}).to(torch::kCPU);
}

std::map<std::string, double> AdvGanModel::validate(const GanBatch& batch) {
  Figures f;
  f.add(*generator_, target_, batch.x, batch.y);
  return {{"success_rate", f.success_rate()}, {"linf_max", f.max_linf}};
}

void AdvGanModel::export_generators(const std::string& dir) { write_generator(*generator_, dir); }

AdvGanModel::Tally AdvGanModel::take_tally() {
  Tally t = tally_;
  tally_ = Tally{};
  return t;
}

// ---- training --------------------------------------------------------------------------------

nlohmann::json AdvGanTraining::to_json() const {
  return {{"success_rate", success_rate},
          {"counted", counted},
          {"linf", {{"mean", mean_linf}, {"max", max_linf}}},
          {"l2_mean", mean_l2},
          {"seconds", seconds},
          {"images_per_second", images_per_second},
          {"history", history_json(history)}};
}

AdvGanTraining train_advgan(Model& target, Dataset& data, const AdvGanOptions& options, const AdvGanRun& run) {
  const AdvGanOptions& o = options;
  check_options(o);
  if (data.size() == 0) throw UsageError(data.info().name + ": no samples to train AdvGAN on");
  if (run.resume && run.checkpoint.empty()) throw UsageError("AdvGAN: resume needs a checkpoint folder");
  const ModelSpec& spec = target.spec();
  const c10::Device device = target.device();
  // --limit takes a fixed subset (the first samples of a seeded shuffle), reshuffled each epoch.
  std::shared_ptr<Dataset> train = borrow(data);
  if (o.limit > 0 && o.limit < data.size()) {
    train = limit_dataset(train, o.limit, derive_seed(o.seed, "advgan-limit"));
  }
  auto owned = std::make_unique<AdvGanModel>(target, o, data.info().name, train->size());
  AdvGanModel& model = *owned;
  AdvGanTraining out;
  out.generator = model.generator();
  AdvGanGenerator& g = *out.generator;
  const int64_t per_epoch = model.steps_per_epoch();
  auto source = labelled_source(train, spec.channels, spec.height, spec.width, derive_seed(o.seed, "advgan-shuffle"),
                                device);
  GanTrainer trainer(std::move(owned), *source, device);
  if (run.resume) {
    trainer.resume(run.checkpoint);
    out.resumed = true;
    out.resumed_epochs = trainer.step() / per_epoch;
    // The epochs before the checkpoint, from its config.json (checkpoints fall on epoch ends).
    const std::string config_path = (fs::path(run.checkpoint) / kConfigFile).string();
    const nlohmann::json saved = read_json_file(config_path, "checkpoint");
    const nlohmann::json history = saved.value("training", nlohmann::json::object()).value("history", nlohmann::json::array());
    for (const auto& j : history) {
      if (static_cast<int64_t>(out.history.size()) == out.resumed_epochs) break;
      AdvGanEpoch e;
      epoch_fields().from_json(e, j, config_path + " training.history");
      out.history.push_back(e);
    }
    g.training = {{"history", history_json(out.history)}};
  }

  // Epoch means of the trainer's per-step metrics and the model's tally; each epoch's end lands in
  // g.training before the trainer writes that step's checkpoint.
  double sum_d = 0, sum_gan = 0;
  int64_t trained_images = 0;
  auto epoch_start = std::chrono::steady_clock::now();
  const auto t_start = epoch_start;
  GanTrainHooks hooks;
  hooks.on_metrics = [&](const GanStepMetrics& m) {
    sum_d += m.d_loss;
    sum_gan += m.g_adv;
    if (m.step % per_epoch != 0) return;
    const AdvGanModel::Tally t = model.take_tally();
    const double steps = static_cast<double>(std::max<int64_t>(t.passes, 1));
    AdvGanEpoch e;
    e.epoch = m.step / per_epoch;
    e.loss_d = sum_d / steps;
    e.loss_gan = sum_gan / steps;
    e.loss_adv = t.adv / steps;
    e.loss_hinge = t.hinge / steps;
    e.success_rate = static_cast<double>(t.success) / static_cast<double>(std::max<int64_t>(t.counted, 1));
    const auto now = std::chrono::steady_clock::now();
    e.seconds = std::chrono::duration<double>(now - epoch_start).count();
    const int64_t images = per_epoch * trainer.config().batch_size;
    e.images_per_second = static_cast<double>(images) / std::max(e.seconds, 1e-9);
    trained_images += images;
    epoch_start = now;
    sum_d = sum_gan = 0;
    out.history.push_back(e);
    g.training = {{"history", history_json(out.history)}};
    if (run.on_epoch) run.on_epoch(e);
  };
  try {
    trainer.run(hooks, run.checkpoint);
  } catch (const DivergedError& e) {
    std::string msg = std::string("AdvGAN ") + e.what();
    for (const char* flag : {"--lr-g", "--lr-d"}) {
      const size_t at = msg.find(flag);
      if (at != std::string::npos) msg.replace(at, std::string(flag).size(), "--lr");
    }
    throw DivergedError(msg);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  out.images_per_second = static_cast<double>(trained_images) / std::max(out.seconds, 1e-9);
  g.net()->eval();

  // The final G over the training samples, once more (every sample, in order).
  LoaderOptions eval_lo;
  eval_lo.batch_size = o.batch_size;
  BatchLoader eval_loader(*train, eval_lo);
  Figures f;
  for (Batch batch; eval_loader.next(batch);) {
    f.add(g, target, fit_batch(batch.images, spec.channels, spec.height, spec.width).to(device), batch.labels.to(device));
  }
  out.success_rate = f.success_rate();
  out.counted = f.counted;
  out.max_linf = f.max_linf;
  out.mean_linf = f.sum_linf / static_cast<double>(std::max<int64_t>(f.n, 1));
  out.mean_l2 = f.sum_l2 / static_cast<double>(std::max<int64_t>(f.n, 1));
  g.training = out.to_json();
  // The last checkpoint again, now with the summary (the state is the one it already holds).
  if (!run.checkpoint.empty()) trainer.save_checkpoint(run.checkpoint);
  return out;
}

// ---- checkpoints -----------------------------------------------------------------------------

void write_advgan(AdvGanGenerator& generator, const std::string& folder) {
  write_generator(generator, folder);
  write_text_atomic((fs::path(folder) / kConfigFile).string(), config_json_of(generator).dump(2) + "\n");
}

void save_advgan(AdvGanGenerator& generator, const std::string& dir, bool overwrite) {
  AtomicDirectory out(dir, overwrite);
  write_advgan(generator, out.staging());
  out.commit();
}

std::shared_ptr<AdvGanGenerator> load_advgan(const std::string& dir, c10::Device device) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw UsageError(dir + ": not an AdvGAN checkpoint (not a folder)");
  const fs::path config_path = fs::path(dir) / kConfigFile;
  if (!fs::exists(config_path, ec)) throw UsageError(dir + ": not an AdvGAN checkpoint (no " + kConfigFile + ")");
  const std::string source = config_path.string();
  nlohmann::json j;
  try {
    j = read_json_file(source, "checkpoint");
  } catch (const InputError&) {
    throw InputError(source + ": not valid JSON (truncated or corrupt checkpoint)");
  }
  if (!j.is_object() || !j.contains("kind") || j["kind"] != kKind) {
    const std::string kind = j.is_object() && j.contains("kind") ? j["kind"].dump() : "none";
    throw UsageError(dir + ": not an AdvGAN checkpoint (" + kConfigFile + " kind is " + kind + ", expected \"advgan\")");
  }
  int64_t c = 0, h = 0, w = 0;
  try {
    c = j.at("image").at("channels").get<int64_t>();
    h = j.at("image").at("height").get<int64_t>();
    w = j.at("image").at("width").get<int64_t>();
  } catch (const nlohmann::json::exception&) {
    throw InputError(source + ": no image channels/height/width (truncated or corrupt checkpoint)");
  }
  std::shared_ptr<AdvGanGenerator> g;
  try {
    g = std::make_shared<AdvGanGenerator>(AdvGanOptions::from_json(j.value("options", nlohmann::json::object()), source),
                                          c, h, w);
  } catch (const UsageError& e) {
    throw InputError(std::string(e.what()) + " (corrupt checkpoint)");
  }
  const std::string weights = (fs::path(dir) / kGeneratorFile).string();
  if (!fs::exists(weights, ec)) throw InputError(weights + ": missing (incomplete checkpoint)");
  try {
    torch::load(g->net(), weights, torch::Device(torch::kCPU));
  } catch (const c10::Error& e) {
    throw InputError(weights + ": cannot read the generator (truncated, corrupt or another architecture: " +
                     one_line(e) + ")");
  }
  g->net()->eval();
  g->net()->to(device);
  g->target = j.value("target_model", nlohmann::json::object());
  g->data = j.value("data", nlohmann::json::object());
  g->training = j.value("training", nlohmann::json::object());
  return g;
}

// ---- the attack ------------------------------------------------------------------------------

AdvGan::AdvGan(std::shared_ptr<AdvGanGenerator> generator, std::string checkpoint)
    : generator_(std::move(generator)), checkpoint_(std::move(checkpoint)) {}

nlohmann::json AdvGan::options_json() const {
  const auto& o = generator_->options();
  nlohmann::json j = {{"checkpoint", checkpoint_}, {"norm", "linf"}, {"eps", o.eps}, {"targeted", o.targeted}};
  if (o.targeted) j["target_class"] = o.target_class;
  return j;
}

AttackResult AdvGan::run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) {
  auto& g = *generator_;
  if (images.dim() != 4 || images.size(1) != g.channels() || images.size(2) != g.height() || images.size(3) != g.width()) {
    throw UsageError("advgan: " + checkpoint_ + " was trained on " + image_shape_text(g.channels(), g.height(), g.width()) +
                     " images, these are " + shape_text(images.sizes()));
  }
  auto start = start_attack(model, images, labels);
  auto& r = start.result;
  r.adversarial = g.adversarial(start.x);
  finalize_result(model, images, labels, goal, r);
  return r;
}

std::unique_ptr<Attack> make_advgan(AttackParams& p) {
  const std::string checkpoint = p.text("checkpoint", "");
  if (checkpoint.empty()) {
    throw UsageError("advgan needs a generator checkpoint: pass --advgan CKPT (or the parameter \"checkpoint\"), "
                     "as written by 'mirage train-advgan'");
  }
  return std::make_unique<AdvGan>(load_advgan(checkpoint), checkpoint);
}

}  // namespace mirage
