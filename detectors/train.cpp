#include "detectors/train.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <sstream>

#include "attacks/pgd.h"
#include "detectors/detector.h"
#include "lib/error.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/runtime.h"
#include "lib/transforms.h"

namespace mirage {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::vector<double> to_vector(const torch::Tensor& t) {
  const auto c = t.to(torch::kCPU, torch::kFloat64).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

// Raw logits of `images` (CPU) in eval mode, in chunks.
torch::Tensor raw_logits(DetectorNetImpl& net, const torch::Tensor& images, c10::Device device) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  for (int64_t start = 0; start < images.size(0); start += 256) {
    out.push_back(net.raw(images.slice(0, start, std::min(images.size(0), start + 256)).to(device)).to(torch::kCPU));
  }
  return torch::cat(out);
}

struct Snapshot {
  std::vector<torch::Tensor> tensors;
  static Snapshot of(torch::nn::Module& net) {
    Snapshot s;
    for (auto& p : net.parameters()) s.tensors.push_back(p.detach().clone());
    for (auto& b : net.buffers()) s.tensors.push_back(b.detach().clone());
    return s;
  }
  void restore(torch::nn::Module& net) const {
    torch::NoGradGuard no_grad;
    size_t i = 0;
    for (auto& p : net.parameters()) p.copy_(tensors[i++]);
    for (auto& b : net.buffers()) b.copy_(tensors[i++]);
  }
};

// CNNDetection's augmentation, per image: blur with probability blur_prob, then JPEG with
// probability jpeg_prob (Wang et al. 2020, Sec. 3.2: blur before compression).
torch::Tensor augment(const torch::Tensor& x, const DetectorTrainOptions& o, at::Generator& gen) {
  if (o.blur_prob <= 0 && o.jpeg_prob <= 0) return x;
  const auto draws = torch::rand({x.size(0), 4}, gen, torch::kFloat64);
  auto d = draws.accessor<double, 2>();
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < x.size(0); ++i) {
    torch::Tensor img = x.slice(0, i, i + 1);
    if (d[i][0] < o.blur_prob) img = gaussian_blur(img, o.blur_sigma_min + d[i][1] * (o.blur_sigma_max - o.blur_sigma_min));
    if (d[i][2] < o.jpeg_prob) {
      const auto span = static_cast<double>(o.jpeg_quality_max - o.jpeg_quality_min + 1);
      const int quality = static_cast<int>(o.jpeg_quality_min + std::min(span - 1, std::floor(d[i][3] * span)));
      img = o.codec.jpeg(img, quality);
    }
    out.push_back(img);
  }
  return torch::cat(out);
}

double bce(const std::vector<double>& logits, const std::vector<int>& labels) {
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double z = labels[i] ? logits[i] : -logits[i];
    sum += z > 0 ? std::log1p(std::exp(-z)) : -z + std::log1p(std::exp(z));
  }
  return sum / static_cast<double>(logits.size());
}

std::vector<double> sigmoid(const std::vector<double>& z) {
  std::vector<double> p(z.size());
  for (size_t i = 0; i < z.size(); ++i) p[i] = 1.0 / (1.0 + std::exp(-z[i]));
  return p;
}

}  // namespace

const OptionFields<DetectorTrainOptions>& DetectorTrainOptions::fields() {
  using O = DetectorTrainOptions;
  static const OptionFields<O> f = OptionFields<O>()
      .add("epochs", &O::epochs).add("batch_size", &O::batch_size).add("lr", &O::lr)
      .add("weight_decay", &O::weight_decay).add("patience", &O::patience)
      .add("blur_prob", &O::blur_prob).within(0, 1)
      .add_range("blur_sigma", &O::blur_sigma_min, &O::blur_sigma_max).at_least(0)
      .add("jpeg_prob", &O::jpeg_prob).within(0, 1)
      .add_range("jpeg_quality", &O::jpeg_quality_min, &O::jpeg_quality_max).within(1, 100)
      .add("adv_eps", &O::adv_eps).within(0, 1)
      .add("adv_steps", &O::adv_steps).add("threshold", &O::threshold).add("seed", &O::seed);
  return f;
}

nlohmann::json DetectorTrainOptions::to_json() const { return fields().to_json(*this); }

void DetectorTrainOptions::check() const {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw UsageError(what);
  };
  need(epochs >= 0, "epochs must be >= 0");
  need(batch_size >= 2, "batch_size must be at least 2 (half real, half fake)");
  need(std::isfinite(lr) && lr > 0, "lr must be > 0");
  need(std::isfinite(weight_decay) && weight_decay >= 0, "weight_decay must be >= 0");
  need(patience >= 1, "patience must be at least 1");
  need(blur_prob >= 0 && blur_prob <= 1 && jpeg_prob >= 0 && jpeg_prob <= 1, "blur_prob and jpeg_prob must be in [0, 1]");
  need(blur_sigma_min >= 0 && blur_sigma_min <= blur_sigma_max, "blur_sigma must be MIN,MAX with 0 <= MIN <= MAX");
  need(jpeg_quality_min >= 1 && jpeg_quality_max <= 100 && jpeg_quality_min <= jpeg_quality_max,
       "jpeg_quality must be MIN,MAX with 1 <= MIN <= MAX <= 100");
  need(adv_eps >= 0 && adv_eps < 1, "adv_eps must be in [0, 1)");
  need(adv_steps >= 1, "adv_steps must be at least 1");
  check_threshold_rule(threshold);
}

nlohmann::json DetectorEpoch::to_json() const {
  return {{"epoch", epoch},     {"loss", loss},       {"train_accuracy", train_accuracy}, {"val_auc", val_auc},
          {"val_loss", val_loss}, {"seconds", seconds}, {"images_per_second", images_per_second}};
}

void check_threshold_rule(const std::string& rule) {
  if (rule == "eer") return;
  if (rule.rfind("fpr:", 0) == 0) {
    double f = -1;
    try {
      size_t used = 0;
      f = std::stod(rule.substr(4), &used);
      if (used != rule.size() - 4) f = -1;
    } catch (const std::exception&) {
    }
    if (f > 0 && f < 1) return;
    throw UsageError("threshold rule '" + rule + "': the target false-positive rate must be a number in (0, 1)");
  }
  throw UsageError("threshold rule must be 'eer' or 'fpr:<rate>' (e.g. fpr:0.01), got '" + rule + "'");
}

double choose_threshold(const std::vector<double>& scores, const std::vector<int>& labels, const std::string& rule) {
  check_threshold_rule(rule);
  if (rule == "eer") return equal_error_rate(scores, labels).threshold;
  return threshold_for_fpr(scores, labels, std::stod(rule.substr(4)));
}

std::pair<double, double> fit_platt(const std::vector<double>& z, const std::vector<int>& labels) {
  if (z.size() != labels.size() || z.empty()) throw UsageError("fit_platt: needs as many labels as logits, at least one");
  double pos = 0, neg = 0;
  for (int y : labels) (y ? pos : neg) += 1;
  // Platt's targets: (N+ + 1)/(N+ + 2) and 1/(N- + 2) keep a separable set from driving a to
  // infinity (Platt 1999, Sec. 2.2).
  const double t_pos = (pos + 1) / (pos + 2), t_neg = 1 / (neg + 2);
  double a = 1, b = 0;
  auto nll = [&](double a_, double b_) {
    double sum = 0;
    for (size_t i = 0; i < z.size(); ++i) {
      const double t = labels[i] ? t_pos : t_neg, f = a_ * z[i] + b_;
      // -(t log s(f) + (1 - t) log(1 - s(f))) = log(1 + e^f) - t f, computed stably.
      sum += (f > 0 ? f + std::log1p(std::exp(-f)) : std::log1p(std::exp(f))) - t * f;
    }
    return sum;
  };
  double current = nll(a, b);
  for (int iter = 0; iter < 100; ++iter) {
    double ga = 0, gb = 0, haa = 1e-12, hab = 0, hbb = 1e-12;
    for (size_t i = 0; i < z.size(); ++i) {
      const double t = labels[i] ? t_pos : t_neg, p = 1 / (1 + std::exp(-(a * z[i] + b))), w = p * (1 - p);
      ga += (p - t) * z[i];
      gb += p - t;
      haa += w * z[i] * z[i];
      hab += w * z[i];
      hbb += w;
    }
    const double det = haa * hbb - hab * hab;
    if (det <= 0) break;
    const double da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det;
    double step = 1;
    bool improved = false;
    for (int k = 0; k < 30; ++k, step /= 2) {
      const double next = nll(a - step * da, b - step * db);
      if (next < current) {
        a -= step * da;
        b -= step * db;
        improved = current - next > 1e-10 * std::max(1.0, std::abs(current));
        current = next;
        break;
      }
    }
    if (!improved) break;
  }
  return {a, b};
}

DetectorTrainResult train_detector(DetectorNetImpl& net, const DetectorTrainData& data, const DetectorTrainOptions& o,
                                   c10::Device device, const std::function<void(const DetectorEpoch&)>& on_epoch) {
  o.check();
  const bool fixed_fakes = data.fake_train.defined() && data.fake_train.size(0) > 0;
  if (o.epochs > 0 && (!data.real_train.defined() || data.real_train.size(0) == 0)) {
    throw UsageError("detector training: no real training images");
  }
  if (o.epochs > 0 && !fixed_fakes && !data.sample_fakes) throw UsageError("detector training: no fake training images");
  if (!data.real_val.defined() || data.real_val.size(0) == 0 || !data.fake_val.defined() || data.fake_val.size(0) == 0) {
    throw UsageError("detector training: validation needs both real and fake images (raise the validation fraction)");
  }
  if (o.jpeg_prob > 0 && !o.codec.has_jpeg()) throw UsageError("JPEG augmentation needs a JPEG codec (lib/image); set jpeg_prob 0");
  net.to(device);

  if (net.options().kind == "spectral" && o.epochs > 0) {
    // Standardise on the training set of both classes.
    torch::Tensor fakes = fixed_fakes ? data.fake_train : data.sample_fakes(data.real_train.size(0), derive_seed(o.seed, "standardize"));
    const auto all = torch::cat({data.real_train, fakes.to(torch::kCPU)});
    std::vector<torch::Tensor> f;
    torch::NoGradGuard no_grad;
    for (int64_t s = 0; s < all.size(0); s += 512) {
      f.push_back(net.spectral_features(all.slice(0, s, std::min(all.size(0), s + 512)).to(device)));
    }
    net.set_standardization(torch::cat(f));
  }

  std::vector<int> val_labels(static_cast<size_t>(data.real_val.size(0)), 0);
  val_labels.resize(val_labels.size() + static_cast<size_t>(data.fake_val.size(0)), 1);
  const torch::Tensor val_images = torch::cat({data.real_val, data.fake_val});
  auto validate = [&](double* loss) {
    net.eval();
    const auto z = to_vector(raw_logits(net, val_images, device));
    for (double v : z) {
      if (!std::isfinite(v)) throw InputError("detector produced a NaN/Inf logit on validation data");
    }
    *loss = bce(z, val_labels);
    return roc_auc(z, val_labels);
  };

  DetectorTrainResult result;
  double best_loss = 0;
  double best_auc = validate(&best_loss);
  Snapshot best = Snapshot::of(net);
  int64_t since_best = 0;
  torch::optim::Adam optimizer(net.parameters(), torch::optim::AdamOptions(o.lr).betas({0.9, 0.999}).weight_decay(o.weight_decay));
  at::Generator gen = make_generator(derive_seed(o.seed, "detector-train"));
  const int64_t half = o.batch_size / 2;
  int64_t fake_cursor = 0;
  torch::Tensor fake_order;
  std::unique_ptr<Pgd> pgd;
  if (o.adv_eps > 0) {
    PgdOptions p;
    p.eps = o.adv_eps;
    p.steps = std::max<int64_t>(1, o.adv_steps);
    p.alpha = 2.5 * o.adv_eps / static_cast<double>(p.steps);  // Madry et al.'s 2.5 eps / steps
    p.early_stop = false;  // Madry et al. train on the whole budget, not on boundary points
    pgd = std::make_unique<Pgd>(p);
    pgd->set_seed(derive_seed(o.seed, "detector-pgd"));
  }
  // The detector as a 2-class model for the attack suite (class 1 = fake).
  DetectorInfo training_info;
  training_info.kind = net.options().kind;
  FunctionModel as_model([&](const at::Tensor& x) { const auto z = net.raw(x); return torch::stack({z * -0.5, z * 0.5}, 1); },
                         detector_spec(net.options().channels, net.options().size, training_info), device);

  const int64_t n_real = o.epochs > 0 ? data.real_train.size(0) : 0;
  int64_t step = 0;
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    const auto started = Clock::now();
    const auto order = torch::randperm(n_real, gen, torch::kInt64);
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    for (int64_t start = 0; start < n_real; start += half) {
      const auto idx = order.slice(0, start, std::min(n_real, start + half));
      const int64_t k = idx.size(0);
      torch::Tensor fakes;
      if (fixed_fakes) {
        const int64_t n_fake = data.fake_train.size(0);
        std::vector<torch::Tensor> parts;
        for (int64_t need = k; need > 0;) {
          if (!fake_order.defined() || fake_cursor >= n_fake) {
            fake_order = torch::randperm(n_fake, gen, torch::kInt64);
            fake_cursor = 0;
          }
          const int64_t take = std::min(need, n_fake - fake_cursor);
          parts.push_back(data.fake_train.index_select(0, fake_order.slice(0, fake_cursor, fake_cursor + take)));
          fake_cursor += take;
          need -= take;
        }
        fakes = torch::cat(parts);
      } else {
        fakes = data.sample_fakes(k, derive_seed(o.seed, "fakes-" + std::to_string(step))).to(torch::kCPU);
      }
      torch::Tensor x = torch::cat({data.real_train.index_select(0, idx), fakes});
      x = augment(x, o, gen).to(device);
      const torch::Tensor y = torch::cat({torch::zeros({k}, torch::kInt64), torch::ones({fakes.size(0)}, torch::kInt64)}).to(device);
      if (pgd) {
        net.eval();  // the attack must not move BN's running statistics
        x = pgd->run(as_model, x, y, Goal::untargeted()).adversarial.detach();
      }
      net.train();
      const torch::Tensor z = net.raw(x);
      const torch::Tensor loss = torch::binary_cross_entropy_with_logits(z, y.to(torch::kFloat32));
      if (!std::isfinite(loss.item<double>())) {
        throw InputError("detector training diverged: NaN/Inf loss at epoch " + std::to_string(epoch) +
                         " (lower --lr, or check the images for NaN)");
      }
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      loss_sum += loss.item<double>() * static_cast<double>(x.size(0));
      correct += ((z > 0).to(torch::kInt64) == y).sum().item<int64_t>();
      seen += x.size(0);
      ++step;
      if (o.log_every > 0 && step % o.log_every == 0) {
        log_info("detector step " + std::to_string(step) + " loss " + std::to_string(loss.item<double>()));
      }
    }
    DetectorEpoch e;
    e.epoch = epoch;
    e.loss = loss_sum / std::max<int64_t>(1, seen);
    e.train_accuracy = static_cast<double>(correct) / std::max<int64_t>(1, seen);
    e.val_auc = validate(&e.val_loss);
    e.seconds = seconds_since(started);
    e.images_per_second = static_cast<double>(seen) / std::max(1e-9, e.seconds);
    result.epochs.push_back(e);
    if (on_epoch) on_epoch(e);
    if (e.val_auc > best_auc + 1e-9 || (e.val_auc >= best_auc - 1e-9 && e.val_loss < best_loss)) {
      best_auc = e.val_auc;
      best_loss = e.val_loss;
      best = Snapshot::of(net);
      result.best_epoch = epoch;
      since_best = 0;
    } else if (++since_best >= o.patience) {
      result.stopped_early = epoch < o.epochs;
      break;
    }
  }
  best.restore(net);
  net.eval();

  // Calibration and threshold on the validation split.
  const auto z = to_vector(raw_logits(net, val_images, device));
  const auto [a, b] = fit_platt(z, val_labels);
  net.set_calibration(a, b);
  result.calibration_a = a;
  result.calibration_b = b;
  std::vector<double> calibrated(z.size());
  for (size_t i = 0; i < z.size(); ++i) calibrated[i] = a * z[i] + b;
  const auto p = sigmoid(calibrated);
  result.threshold = choose_threshold(p, val_labels, o.threshold);
  const ErrorRates rates = rates_at_threshold(p, val_labels, result.threshold);
  result.validation = {{"n_real", data.real_val.size(0)},
                       {"n_fake", data.fake_val.size(0)},
                       {"auc", roc_auc(p, val_labels)},
                       {"average_precision", average_precision(p, val_labels)},
                       {"eer", equal_error_rate(p, val_labels).eer},
                       {"threshold", result.threshold},
                       {"threshold_rule", o.threshold},
                       {"fpr", rates.fpr},
                       {"tpr", rates.tpr},
                       {"ece_uncalibrated", expected_calibration_error(sigmoid(z), val_labels)},
                       {"ece", expected_calibration_error(p, val_labels)},
                       {"calibration", {{"a", a}, {"b", b}}},
                       {"best_epoch", result.best_epoch}};
  return result;
}

}  // namespace mirage
