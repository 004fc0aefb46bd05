// AdvGAN (Xiao et al., IJCAI 2018), following the reference code mathcbc/advGAN_pytorch for what the
// paper leaves open: one D step then one G step per batch, least-squares GAN losses, Adam(1e-3) for
// both nets, loss weights adv 10 / GAN 1 / hinge 1, hinge bound c = 0.1 on ||delta||_2, the
// generator's 8-16-32 widths with 4 residual blocks. Two deliberate differences: the reference
// clamps G's output to [-0.3, 0.3] (no gradient outside); here delta = eps * tanh(raw) keeps the
// bound by construction with a gradient everywhere. And L_adv is the C&W margin on logits (paper
// Eq. 2, with kappa) where the reference uses the margin of softmax probabilities.
#include "attacks/advgan.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "gan/losses.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/hash.h"
#include "lib/image_tensor.h"
#include "lib/log.h"
#include "lib/runtime.h"

namespace mirage {

namespace fs = std::filesystem;

namespace {

const char* kConfigFile = "config.json";
const char* kGeneratorFile = "generator.pt";
const char* kKind = "advgan";
constexpr int64_t kDownsamplings = 2;  // H and W must be multiples of 4

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

// The C&W margin of paper Eq. 2: max(Z_y - max_{j!=y} Z_j, -kappa) untargeted (cls = label),
// max(max_{j!=t} Z_j - Z_t, -kappa) targeted (cls = target). Per sample.
at::Tensor margin_loss(const at::Tensor& logits, const at::Tensor& cls, bool targeted, double kappa) {
  return class_margin(logits, cls, targeted).clamp_min(-kappa);
}

// Labels of a batch, with the model's prediction where a sample has none.
at::Tensor labels_or_predictions(const at::Tensor& labels, const at::Tensor& clean_logits) {
  return torch::where(labels < 0, clean_logits.argmax(1), labels);
}

// A view of `data` as a shared_ptr that does not own it (SubsetDataset wants one).
std::shared_ptr<Dataset> borrow(Dataset& data) {
  return std::shared_ptr<Dataset>(&data, [](Dataset*) {});
}

std::string shape_text(int64_t c, int64_t h, int64_t w) {
  return std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
}

}  // namespace

// ---- options ---------------------------------------------------------------------------------

nlohmann::json AdvGanOptions::to_json() const {
  return {{"eps", eps},
          {"targeted", targeted},
          {"target_class", target_class},
          {"epochs", epochs},
          {"batch_size", batch_size},
          {"lr", lr},
          {"adv_weight", adv_weight},
          {"gan_weight", gan_weight},
          {"hinge_weight", hinge_weight},
          {"hinge_bound", hinge_bound},
          {"kappa", kappa},
          {"width", width},
          {"blocks", blocks},
          {"limit", limit},
          {"seed", seed}};
}

AdvGanOptions AdvGanOptions::from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw InputError(source + ": AdvGAN options must be a JSON object");
  AdvGanOptions o;
  try {
    o.eps = j.value("eps", o.eps);
    o.targeted = j.value("targeted", o.targeted);
    o.target_class = j.value("target_class", o.target_class);
    o.epochs = j.value("epochs", o.epochs);
    o.batch_size = j.value("batch_size", o.batch_size);
    o.lr = j.value("lr", o.lr);
    o.adv_weight = j.value("adv_weight", o.adv_weight);
    o.gan_weight = j.value("gan_weight", o.gan_weight);
    o.hinge_weight = j.value("hinge_weight", o.hinge_weight);
    o.hinge_bound = j.value("hinge_bound", o.hinge_bound);
    o.kappa = j.value("kappa", o.kappa);
    o.width = j.value("width", o.width);
    o.blocks = j.value("blocks", o.blocks);
    o.limit = j.value("limit", o.limit);
    o.seed = j.value("seed", o.seed);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(source + ": an AdvGAN option has the wrong type (" + std::string(e.what()) + ")");
  }
  try {
    check_options(o);
  } catch (const UsageError& e) {
    throw InputError(source + ": " + e.what());
  }
  return o;
}

// ---- the generator ---------------------------------------------------------------------------

AdvGanGenerator::AdvGanGenerator(AdvGanOptions options, int64_t channels, int64_t height, int64_t width)
    : options_(options), channels_(channels), height_(height), width_(width) {
  check_options(options_);
  if (channels < 1 || height < 4 || width < 4 || height % 4 || width % 4) {
    throw UsageError("AdvGAN needs images whose height and width are multiples of 4 (at least 4), got " +
                     shape_text(channels, height, width));
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

// ---- training --------------------------------------------------------------------------------

nlohmann::json AdvGanTraining::to_json() const {
  nlohmann::json epochs = nlohmann::json::array();
  for (const auto& e : history) {
    epochs.push_back({{"epoch", e.epoch},
                      {"loss_d", e.loss_d},
                      {"loss_gan", e.loss_gan},
                      {"loss_adv", e.loss_adv},
                      {"loss_hinge", e.loss_hinge},
                      {"success_rate", e.success_rate},
                      {"seconds", e.seconds},
                      {"images_per_second", e.images_per_second}});
  }
  return {{"success_rate", success_rate},
          {"counted", counted},
          {"linf", {{"mean", mean_linf}, {"max", max_linf}}},
          {"l2_mean", mean_l2},
          {"seconds", seconds},
          {"images_per_second", images_per_second},
          {"history", epochs}};
}

AdvGanTraining train_advgan(Model& target, Dataset& data, const AdvGanOptions& options,
                            const std::function<void(const AdvGanEpoch&)>& on_epoch) {
  const AdvGanOptions& o = options;
  check_options(o);
  const ModelSpec& spec = target.spec();
  if (!spec.complete()) throw UsageError("AdvGAN: the target model's input shape and classes are not known");
  if (o.targeted && o.target_class >= spec.num_classes) {
    throw UsageError("AdvGAN target class " + std::to_string(o.target_class) + " is out of range for a model with " +
                     std::to_string(spec.num_classes) + " classes");
  }
  if (data.size() == 0) throw UsageError(data.info().name + ": no samples to train AdvGAN on");
  const c10::Device device = target.device();
  const int64_t k = spec.num_classes;

  AdvGanTraining out;
  out.generator = std::make_shared<AdvGanGenerator>(o, spec.channels, spec.height, spec.width);
  AdvGanGenerator& g = *out.generator;
  PatchDiscriminatorOptions dopt;
  dopt.in_channels = spec.channels;
  dopt.width = o.width;
  // Two stride-2 layers as the reference's D on 28 px; small images take one (the PatchGAN's
  // output would vanish).
  dopt.layers = std::min(spec.height, spec.width) >= 16 ? 2 : 1;
  PatchDiscriminator d(dopt);
  init_weights(*d, derive_seed(o.seed, "advgan-discriminator"));
  g.net()->to(device);
  d->to(device);
  g.net()->train();
  d->train();
  torch::optim::Adam opt_g(g.net()->parameters(), torch::optim::AdamOptions(o.lr));
  torch::optim::Adam opt_d(d->parameters(), torch::optim::AdamOptions(o.lr));

  // --limit takes a fixed subset (the first samples of a seeded shuffle), reshuffled each epoch.
  std::shared_ptr<Dataset> train = borrow(data);
  if (o.limit > 0 && o.limit < data.size()) {
    auto order = shuffled_indices(data.size(), derive_seed(o.seed, "advgan-limit"));
    order.resize(static_cast<size_t>(o.limit));
    train = std::make_shared<SubsetDataset>(train, order, "limit");
  }
  LoaderOptions lo;
  lo.batch_size = o.batch_size;
  lo.shuffle = true;
  lo.seed = derive_seed(o.seed, "advgan-shuffle");
  BatchLoader loader(*train, lo);

  auto prepare = [&](const Batch& batch, at::Tensor& x, at::Tensor& cls, at::Tensor& counted) {
    x = fit_batch(batch.images, spec.channels, spec.height, spec.width).to(device);
    at::Tensor clean;
    {
      torch::NoGradGuard no_grad;
      clean = target.logits(x);
    }
    auto y = labels_or_predictions(batch.labels.to(device), clean);
    if ((y >= k).any().item<bool>()) {
      throw InputError(data.info().name + ": a label is out of range for a model with " + std::to_string(k) + " classes");
    }
    // The samples an attack can succeed on: correctly classified (untargeted) or not already of
    // the target class (targeted), as `mirage attack` counts.
    if (o.targeted) {
      cls = torch::full_like(y, o.target_class);
      counted = y.ne(cls);
    } else {
      cls = y;
      counted = clean.argmax(1).eq(y);
    }
  };
  auto met = [&](const at::Tensor& logits, const at::Tensor& cls) {
    return o.targeted ? logits.argmax(1).eq(cls) : logits.argmax(1).ne(cls);
  };

  const auto t_start = std::chrono::steady_clock::now();
  int64_t trained_images = 0;
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    loader.start_epoch(epoch);
    Progress progress("advgan epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs), loader.num_samples());
    double sum_d = 0, sum_gan = 0, sum_adv = 0, sum_hinge = 0;
    int64_t batches = 0, seen = 0, n_counted = 0, n_success = 0;
    Batch batch;
    while (loader.next(batch)) {
      at::Tensor x, cls, counted;
      prepare(batch, x, cls, counted);
      auto delta = g.perturbation(x);
      auto x_adv = clamp_box(x + delta);

      // D: real images toward 1, AdvGAN's toward 0 (least squares).
      at::Tensor loss_d = torch::zeros({}, x.options());
      if (o.gan_weight > 0) {
        opt_d.zero_grad();
        loss_d = discriminator_loss(GanLoss::kLeastSquares, d->forward(x), d->forward(x_adv.detach()));
        loss_d.backward();
        opt_d.step();
      }
      // G: fool f (L_adv), look real to D (L_GAN), stay small (L_hinge). f is frozen: its weights
      // are not in opt_g, gradients only pass through it to x_adv.
      opt_g.zero_grad();
      auto loss_gan = o.gan_weight > 0 ? generator_loss(GanLoss::kLeastSquares, d->forward(x_adv)) : torch::zeros({}, x.options());
      auto logits = target.logits(x_adv);
      // Summed over the batch as the reference (GAN and hinge terms are means): with the default
      // weights the adversarial term dominates, so samples do not settle on the boundary.
      auto loss_adv = margin_loss(logits, cls, o.targeted, o.kappa).sum();
      auto loss_hinge = (lp_norms(delta, Norm::kL2) - o.hinge_bound).clamp_min(0.0).mean();
      auto loss = o.adv_weight * loss_adv + o.gan_weight * loss_gan + o.hinge_weight * loss_hinge;
      loss.backward();
      opt_g.step();

      const double l = loss.item<double>();
      if (!std::isfinite(l)) {
        throw InputError(data.info().name + ": AdvGAN loss became NaN/Inf at epoch " + std::to_string(epoch + 1) +
                         " (try a smaller --lr)");
      }
      sum_d += loss_d.item<double>();
      sum_gan += loss_gan.item<double>();
      sum_adv += loss_adv.item<double>();
      sum_hinge += loss_hinge.item<double>();
      ++batches;
      seen += batch.size();
      n_counted += counted.sum().item<int64_t>();
      n_success += (met(logits.detach(), cls) & counted).sum().item<int64_t>();
      char status[96];
      std::snprintf(status, sizeof(status), "adv %.3f success %.3f", sum_adv / static_cast<double>(batches),
                    static_cast<double>(n_success) / static_cast<double>(std::max<int64_t>(n_counted, 1)));
      progress.advance(batch.size(), status);
    }
    AdvGanEpoch e;
    e.epoch = epoch + 1;
    const double nb = static_cast<double>(std::max<int64_t>(batches, 1));
    e.loss_d = sum_d / nb;
    e.loss_gan = sum_gan / nb;
    e.loss_adv = sum_adv / nb;
    e.loss_hinge = sum_hinge / nb;
    e.success_rate = static_cast<double>(n_success) / static_cast<double>(std::max<int64_t>(n_counted, 1));
    e.seconds = progress.seconds();
    e.images_per_second = static_cast<double>(seen) / std::max(e.seconds, 1e-9);
    progress.finish();
    trained_images += seen;
    out.history.push_back(e);
    if (on_epoch) on_epoch(e);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  out.images_per_second = static_cast<double>(trained_images) / std::max(out.seconds, 1e-9);
  g.net()->eval();

  // The final G over the training samples, once more.
  LoaderOptions eval_lo;
  eval_lo.batch_size = o.batch_size;
  BatchLoader eval_loader(*train, eval_lo);
  Batch batch;
  int64_t n = 0, n_success = 0;
  double sum_linf = 0, sum_l2 = 0;
  while (eval_loader.next(batch)) {
    at::Tensor x, cls, counted;
    prepare(batch, x, cls, counted);
    torch::NoGradGuard no_grad;
    auto adv = g.adversarial(x);
    auto ok = met(target.logits(adv), cls) & counted;
    n_success += ok.sum().item<int64_t>();
    out.counted += counted.sum().item<int64_t>();
    auto linf = lp_norms(adv - x, Norm::kLinf);
    sum_linf += linf.sum().item<double>();
    sum_l2 += lp_norms(adv - x, Norm::kL2).sum().item<double>();
    out.max_linf = std::max(out.max_linf, linf.max().item<double>());
    n += batch.size();
  }
  out.success_rate = static_cast<double>(n_success) / static_cast<double>(std::max<int64_t>(out.counted, 1));
  out.mean_linf = sum_linf / static_cast<double>(std::max<int64_t>(n, 1));
  out.mean_l2 = sum_l2 / static_cast<double>(std::max<int64_t>(n, 1));

  g.target = {{"name", spec.name}, {"num_classes", k}};
  if (auto* ts = dynamic_cast<TorchScriptModel*>(&target)) {
    g.target["path"] = ts->path();
    g.target["sha256"] = sha256_file(ts->path());
  }
  g.training = out.to_json();
  g.training["data"] = data.info().name;
  g.training["samples"] = train->size();
  return out;
}

// ---- checkpoints -----------------------------------------------------------------------------

void write_advgan(AdvGanGenerator& generator, const std::string& folder) {
  auto& net = generator.net();
  auto params = net->parameters();
  const c10::Device device = params.empty() ? c10::Device(c10::kCPU) : params.front().device();
  // Saved from the CPU, so that a checkpoint written on a GPU loads anywhere.
  net->to(torch::kCPU);
  try {
    torch::save(net, (fs::path(folder) / kGeneratorFile).string());
  } catch (const c10::Error& e) {
    net->to(device);
    throw InputError(folder + ": cannot write " + kGeneratorFile + " (" + one_line(e) + ")");
  }
  net->to(device);
  const auto& go = net->options();
  nlohmann::json config = {
      {"kind", kKind},
      {"format", 1},
      {"options", generator.options().to_json()},
      {"image", {{"channels", generator.channels()}, {"height", generator.height()}, {"width", generator.width()}}},
      {"generator", {{"arch", "resnet"}, {"file", kGeneratorFile}, {"width", go.width}, {"downsamplings", go.downsamplings},
                     {"blocks", go.blocks}, {"output", "delta = eps * (2 * G(x) - 1); x_adv = clamp(x + delta, 0, 1)"}}},
      {"target_model", generator.target},
      {"training", generator.training},
  };
  write_text_atomic((fs::path(folder) / kConfigFile).string(), config.dump(2) + "\n");
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
  std::ifstream in(config_path);
  if (!in) throw UsageError(dir + ": not an AdvGAN checkpoint (no " + kConfigFile + ")");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const std::exception&) {
    throw InputError(config_path.string() + ": not valid JSON (truncated or corrupt checkpoint)");
  }
  if (!j.is_object() || !j.contains("kind") || j["kind"] != kKind) {
    const std::string kind = j.is_object() && j.contains("kind") ? j["kind"].dump() : "none";
    throw UsageError(dir + ": not an AdvGAN checkpoint (" + kConfigFile + " kind is " + kind + ", expected \"advgan\")");
  }
  const std::string source = config_path.string();
  int64_t c = 0, h = 0, w = 0;
  try {
    c = j.at("image").at("channels").get<int64_t>();
    h = j.at("image").at("height").get<int64_t>();
    w = j.at("image").at("width").get<int64_t>();
  } catch (const nlohmann::json::exception&) {
    throw InputError(source + ": no image channels/height/width (truncated or corrupt checkpoint)");
  }
  AdvGanOptions options = AdvGanOptions::from_json(j.value("options", nlohmann::json::object()), source);
  std::shared_ptr<AdvGanGenerator> g;
  try {
    g = std::make_shared<AdvGanGenerator>(options, c, h, w);
  } catch (const UsageError& e) {
    throw InputError(source + ": " + e.what());
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
    std::ostringstream got;
    got << images.sizes();
    throw UsageError("advgan: " + checkpoint_ + " was trained on " + shape_text(g.channels(), g.height(), g.width()) +
                     " images, these are " + got.str());
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
