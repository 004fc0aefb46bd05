#include "gan/metrics.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "lib/error.h"
#include "lib/image_tensor.h"
#include "lib/log.h"
#include "lib/runtime.h"

namespace mirage {
namespace {

// Distances are computed in row blocks of at most 2^20 float64 (8 MB): 10k x 10k sets need
// no 800 MB matrix, and blocks this small are recycled by the allocator instead of being mapped
// afresh each time (which measured 5-10x slower at 80 MB blocks).
constexpr int64_t kBlockElements = int64_t{1} << 20;
int64_t block_rows(int64_t cols) { return std::max<int64_t>(1, kBlockElements / cols); }

// Every measure works on float64 CPU copies: covariance traces and unbiased MMD sums lose
// digits in float32, and results are plain numbers anyway.
at::Tensor as_features(const at::Tensor& x, const std::string& what, int64_t min_rows = 2) {
  if (!x.defined()) throw InputError(what + ": no tensor given");
  if (x.dim() != 2 || x.size(0) < min_rows || x.size(1) < 1) {
    throw InputError(what + " must be [N, D] with N >= " + std::to_string(min_rows) + ", got " + shape_text(x.sizes()));
  }
  at::Tensor d = x.detach().to(torch::kCPU, torch::kDouble).contiguous();
  if (!torch::isfinite(d).all().item<bool>()) throw InputError(what + " holds NaN or Inf");
  return d;
}

std::pair<at::Tensor, at::Tensor> feature_pair(const at::Tensor& a, const at::Tensor& b, const std::string& fn,
                                               const char* name_a, const char* name_b) {
  at::Tensor x = as_features(a, fn + ": " + name_a), y = as_features(b, fn + ": " + name_b);
  if (x.size(1) != y.size(1)) {
    throw InputError(fn + ": " + name_a + " " + shape_text(x.sizes()) + " and " + name_b + " " + shape_text(y.sizes()) +
                     " differ in feature size");
  }
  return {x, y};
}

void check_k(int64_t k, const at::Tensor& x, const std::string& what) {
  if (k < 1) throw UsageError(what + ": k must be >= 1, got " + std::to_string(k));
  if (x.size(0) <= k) {
    throw InputError(what + " has " + std::to_string(x.size(0)) + " rows; k-NN radii with k = " +
                     std::to_string(k) + " need at least " + std::to_string(k + 1));
  }
}

// Distance of each row to its k-th nearest neighbour in the same set. The (k+1)-th smallest
// distance including the zero to itself equals the k-th excluding self, duplicates included —
// the convention of both reference codes (kynkaat, clovaai/prdc).
at::Tensor knn_radii(const at::Tensor& x, int64_t k) {
  std::vector<at::Tensor> radii;
  const int64_t rows = block_rows(x.size(0));
  for (int64_t s = 0; s < x.size(0); s += rows) {
    at::Tensor d = torch::cdist(x.slice(0, s, s + rows), x);
    radii.push_back(std::get<0>(d.topk(k + 1, 1, /*largest=*/false, /*sorted=*/true)).select(1, k));
  }
  return torch::cat(radii);
}

// Symmetric PSD square root through eigh, negative round-off eigenvalues clamped to zero.
at::Tensor psd_sqrt(const at::Tensor& s) {
  auto [w, v] = at::linalg_eigh(s);
  return (v * w.clamp_min(0).sqrt().unsqueeze(0)).mm(v.t());
}

// Unbiased MMD^2 (Binkowski et al. 2018, eq. 4): kernel sums without the diagonals of K_XX and
// K_YY over m(m-1), cross sum over m^2, as torch-fidelity's default 'unbiased' estimator.
// `buffer` holds one [m, m] kernel matrix at a time and is reused across subsets: a fresh
// allocation per matrix costs more than the arithmetic at m = 1000.
double polynomial_mmd2(const at::Tensor& x, const at::Tensor& y, at::Tensor& buffer) {
  const double m = static_cast<double>(x.size(0)), d = static_cast<double>(x.size(1));
  auto kernel_sum = [&](const at::Tensor& p, const at::Tensor& q, bool without_diagonal) {
    at::mm_out(buffer, p, q.t()).div_(d).add_(1).pow_(3);
    return buffer.sum().item<double>() - (without_diagonal ? buffer.trace().item<double>() : 0.0);
  };
  double within = (kernel_sum(x, x, true) + kernel_sum(y, y, true)) / (m * (m - 1));
  return within - 2 * kernel_sum(x, y, false) / (m * m);
}

}  // namespace

double frechet_distance(const at::Tensor& a, const at::Tensor& b) {
  auto [x, y] = feature_pair(a, b, "frechet_distance", "a", "b");
  auto moments = [](const at::Tensor& f) {
    at::Tensor mu = f.mean(0), c = f - mu;
    return std::make_pair(mu, c.t().mm(c) / static_cast<double>(f.size(0) - 1));  // unbiased, as np.cov
  };
  auto [mu_a, s_a] = moments(x);
  auto [mu_b, s_b] = moments(y);
  // Tr((S_a S_b)^{1/2}) = Tr((S_a^{1/2} S_b S_a^{1/2})^{1/2}): the two products are similar, and
  // the right one is symmetric PSD, so eigvalsh replaces scipy's sqrtm with no complex parts.
  at::Tensor r = psd_sqrt(s_a);
  at::Tensor m = r.mm(s_b).mm(r);
  double tr_sqrt = at::linalg_eigvalsh((m + m.t()) / 2).clamp_min(0).sqrt().sum().item<double>();
  double fd = (mu_a - mu_b).pow(2).sum().item<double>() + s_a.trace().item<double>() +
              s_b.trace().item<double>() - 2 * tr_sqrt;
  return std::max(fd, 0.0);
}

KidResult kernel_distance(const at::Tensor& a, const at::Tensor& b, int64_t subsets, int64_t subset_size,
                          uint64_t seed) {
  auto [x, y] = feature_pair(a, b, "kernel_distance", "a", "b");
  if (subsets < 1) throw UsageError("kernel_distance: subsets must be >= 1, got " + std::to_string(subsets));
  if (subset_size < 2) throw UsageError("kernel_distance: subset_size must be >= 2, got " + std::to_string(subset_size));
  const int64_t m = std::min({subset_size, x.size(0), y.size(0)});
  at::Generator gen = make_generator(seed);
  auto long_opts = torch::TensorOptions().dtype(torch::kLong);
  std::vector<double> mmds;
  at::Tensor buffer = torch::empty({m, m}, x.options());
  for (int64_t i = 0; i < subsets; ++i) {
    // Each subset drawn without replacement, independently of the others (torch-fidelity).
    at::Tensor ia = torch::randperm(x.size(0), gen, long_opts).slice(0, 0, m);
    at::Tensor ib = torch::randperm(y.size(0), gen, long_opts).slice(0, 0, m);
    mmds.push_back(polynomial_mmd2(x.index_select(0, ia), y.index_select(0, ib), buffer));
  }
  // Population std over subsets (np.std, as torch-fidelity reports kernel_inception_distance_std).
  at::Tensor t = torch::tensor(mmds, torch::TensorOptions().dtype(torch::kDouble));
  return {t.mean().item<double>(), t.std(/*unbiased=*/false).item<double>()};
}

PrecisionRecall precision_recall(const at::Tensor& real, const at::Tensor& fake, int64_t k) {
  auto [r, f] = feature_pair(real, fake, "precision_recall", "real", "fake");
  check_k(k, r, "precision_recall: real");
  check_k(k, f, "precision_recall: fake");
  at::Tensor radius_r = knn_radii(r, k), radius_f = knn_radii(f, k);
  // Inside a ball means d <= radius, as in Kynkäänniemi et al.'s code; one pass over real-row
  // blocks answers both questions from the same distances.
  at::Tensor fake_in = torch::zeros({f.size(0)}, torch::kBool);
  int64_t real_in = 0;
  const int64_t rows = block_rows(f.size(0));
  for (int64_t s = 0; s < r.size(0); s += rows) {
    at::Tensor d = torch::cdist(r.slice(0, s, s + rows), f);  // [rows, M]
    fake_in |= (d <= radius_r.slice(0, s, s + rows).unsqueeze(1)).any(0);
    real_in += (d <= radius_f.unsqueeze(0)).any(1).sum().item<int64_t>();
  }
  return {fake_in.to(torch::kDouble).mean().item<double>(), static_cast<double>(real_in) / r.size(0)};
}

DensityCoverage density_coverage(const at::Tensor& real, const at::Tensor& fake, int64_t k) {
  auto [r, f] = feature_pair(real, fake, "density_coverage", "real", "fake");
  check_k(k, r, "density_coverage: real");
  at::Tensor radius = knn_radii(r, k);
  // Strict d < radius, as clovaai/generative-evaluation-prdc.
  int64_t inside = 0, covered = 0;
  const int64_t rows = block_rows(f.size(0));
  for (int64_t s = 0; s < r.size(0); s += rows) {
    at::Tensor in = torch::cdist(r.slice(0, s, s + rows), f) < radius.slice(0, s, s + rows).unsqueeze(1);
    inside += in.sum().item<int64_t>();
    covered += in.any(1).sum().item<int64_t>();
  }
  // Naeem et al. eq. (density): (1 / kM) sum_j sum_i 1[Y_j in B(X_i, NND_k(X_i))]; coverage:
  // share of real balls holding at least one fake.
  return {static_cast<double>(inside) / (static_cast<double>(k) * f.size(0)),
          static_cast<double>(covered) / r.size(0)};
}

ClassCoverage class_coverage(const at::Tensor& predictions, int64_t num_classes, double min_share) {
  if (num_classes < 2) throw UsageError("class_coverage: num_classes must be >= 2, got " + std::to_string(num_classes));
  if (!(min_share >= 0)) throw UsageError("class_coverage: min_share must be >= 0, got " + std::to_string(min_share));
  if (!predictions.defined() || predictions.dim() != 1 || predictions.numel() == 0 ||
      predictions.is_floating_point() || predictions.is_complex() || predictions.scalar_type() == torch::kBool) {
    throw InputError("class_coverage: predictions must be a non-empty [N] integer tensor, got " +
                     (predictions.defined() ? std::string(c10::toString(predictions.scalar_type())) + " " +
                                                  shape_text(predictions.sizes())
                                            : std::string("none")));
  }
  at::Tensor p = predictions.detach().to(torch::kCPU, torch::kLong);
  int64_t lo = p.min().item<int64_t>(), hi = p.max().item<int64_t>();
  if (lo < 0 || hi >= num_classes) {
    throw InputError("class_coverage: predictions must lie in [0, " + std::to_string(num_classes) + "), found " +
                     std::to_string(lo < 0 ? lo : hi));
  }
  ClassCoverage out;
  at::Tensor counts = torch::bincount(p, {}, num_classes);
  out.histogram.assign(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + num_classes);
  const double n = static_cast<double>(p.numel());
  const double threshold = min_share * n / static_cast<double>(num_classes);
  for (int64_t c : out.histogram) {
    if (c == 0) continue;  // 0 log 0 = 0; an empty class is never covered, even with min_share 0
    double q = static_cast<double>(c) / n;
    out.entropy -= q * std::log(q);
    if (static_cast<double>(c) >= threshold) ++out.classes_covered;
  }
  out.normalized_entropy = out.entropy / std::log(static_cast<double>(num_classes));
  return out;
}

ToyMixture toy_mixture(const std::string& name) {
  ToyMixture m;
  m.name = name;
  std::vector<float> xy;
  if (name == "ring8") {
    for (int i = 0; i < 8; ++i) {
      double angle = 2 * std::acos(-1.0) * i / 8;
      xy.push_back(static_cast<float>(2 * std::cos(angle)));
      xy.push_back(static_cast<float>(2 * std::sin(angle)));
    }
    m.sigma = 0.02;
  } else if (name == "grid25") {
    for (int i = -2; i <= 2; ++i) {
      for (int j = -2; j <= 2; ++j) {
        xy.push_back(2.0f * i);
        xy.push_back(2.0f * j);
      }
    }
    m.sigma = 0.05;
  } else {
    throw UsageError("unknown toy mixture '" + name + "' (expected ring8 or grid25)");
  }
  m.centers = torch::tensor(xy).reshape({-1, 2});
  return m;
}

at::Tensor sample_mixture(const ToyMixture& mixture, int64_t n, at::Generator& gen) {
  if (!mixture.centers.defined() || mixture.centers.dim() != 2 || mixture.centers.size(0) < 1) {
    throw UsageError("sample_mixture: mixture '" + mixture.name + "' has no centers; build it with toy_mixture");
  }
  if (n < 0) throw UsageError("sample_mixture: n must be >= 0, got " + std::to_string(n));
  at::Tensor centers = mixture.centers.detach().to(torch::kCPU, torch::kFloat);
  at::Tensor modes = torch::randint(0, centers.size(0), {n}, gen, torch::TensorOptions().dtype(torch::kLong));
  at::Tensor noise = torch::randn({n, centers.size(1)}, gen, torch::TensorOptions().dtype(torch::kFloat));
  return centers.index_select(0, modes) + noise * mixture.sigma;
}

ModeCoverage mode_coverage(const ToyMixture& mixture, const at::Tensor& samples, double sigmas, int64_t min_count) {
  if (!mixture.centers.defined() || mixture.centers.dim() != 2 || mixture.centers.size(0) < 1) {
    throw UsageError("mode_coverage: mixture '" + mixture.name + "' has no centers; build it with toy_mixture");
  }
  if (!(sigmas > 0)) throw UsageError("mode_coverage: sigmas must be > 0, got " + std::to_string(sigmas));
  if (min_count < 1) throw UsageError("mode_coverage: min_count must be >= 1, got " + std::to_string(min_count));
  at::Tensor centers = mixture.centers.detach().to(torch::kCPU, torch::kDouble);
  at::Tensor x = as_features(samples, "mode_coverage: samples", 1);
  if (x.size(1) != centers.size(1)) {
    throw InputError("mode_coverage: samples " + shape_text(x.sizes()) + " do not match the " +
                     std::to_string(centers.size(1)) + "-D mixture '" + mixture.name + "'");
  }
  auto [dist, nearest] = torch::cdist(x, centers).min(1);
  at::Tensor hq = dist <= sigmas * mixture.sigma;
  at::Tensor per_mode = torch::bincount(nearest.masked_select(hq), {}, centers.size(0));
  ModeCoverage out;
  out.modes = centers.size(0);
  out.per_mode.assign(per_mode.data_ptr<int64_t>(), per_mode.data_ptr<int64_t>() + out.modes);
  for (int64_t c : out.per_mode) out.modes_covered += c >= min_count ? 1 : 0;
  out.high_quality_fraction = hq.to(torch::kDouble).mean().item<double>();
  return out;
}

nlohmann::json mode_coverage_json(const ModeCoverage& mc, const std::string& mixture, int64_t samples) {
  return {{"mixture", mixture},         {"samples", samples},
          {"modes", mc.modes},          {"modes_covered", mc.modes_covered},
          {"high_quality_fraction", mc.high_quality_fraction}, {"per_mode", mc.per_mode}};
}

ClassifierFeatures::ClassifierFeatures(TorchScriptModel& model)
    : model_(model), has_features_(model.module().find_method("features").has_value()) {}

FeatureSet ClassifierFeatures::run(const at::Tensor& images) {
  torch::NoGradGuard no_grad;
  const ModelSpec& s = model_.spec();
  at::Tensor x = fit_batch(images.to(torch::kCPU), s.channels, s.height, s.width).to(model_.device());
  at::Tensor logits = model_.logits(x);
  at::Tensor f = has_features_ ? model_.module().run_method("features", x).toTensor() : logits;
  FeatureSet out;
  out.features = f.to(torch::kCPU).to(torch::kDouble);
  out.predictions = logits.argmax(1).to(torch::kCPU);
  return out;
}

namespace {

FeatureSet concatenate(const std::vector<FeatureSet>& parts, std::string name) {
  std::vector<at::Tensor> f, p;
  FeatureSet out;
  for (const auto& part : parts) {
    f.push_back(part.features);
    p.push_back(part.predictions);
    out.requested.insert(out.requested.end(), part.requested.begin(), part.requested.end());
  }
  out.features = torch::cat(f);
  out.predictions = torch::cat(p);
  out.name = std::move(name);
  return out;
}

}  // namespace

FeatureSet ClassifierFeatures::of_data(Dataset& data, int64_t n, int64_t batch_size, const std::string& what) {
  n = std::min(n, data.size());
  std::vector<FeatureSet> parts;
  Progress progress(what, n);
  for (int64_t start = 0; start < n; start += batch_size) {
    std::vector<int64_t> idx;
    for (int64_t i = start; i < std::min(n, start + batch_size); ++i) idx.push_back(i);
    parts.push_back(run(data.get(idx).images));
    progress.advance(static_cast<int64_t>(idx.size()));
  }
  progress.finish();
  return concatenate(parts, data.info().name);
}

FeatureSet ClassifierFeatures::of_fakes(GeneratorModel& g, uint64_t seed, int64_t n, int64_t batch_size,
                                        double truncation, int64_t klass) {
  std::vector<FeatureSet> parts;
  Progress progress("fakes", n);
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t count = std::min(n, start + batch_size) - start;
    const std::vector<int64_t> classes = fake_classes(g.num_classes(), count, start, klass);
    at::Tensor images = generate_fakes(g, fake_seeds(seed, count, start), classes, truncation);
    check_image_batch(images, g.path() + " output");
    parts.push_back(run(images));
    parts.back().requested = classes;
    progress.advance(count);
  }
  progress.finish();
  return concatenate(parts, g.path());
}

double class_agreement(const FeatureSet& fakes) {
  if (fakes.requested.empty()) return 0.0;
  at::Tensor asked = torch::tensor(fakes.requested, torch::kLong);
  return fakes.predictions.eq(asked).to(torch::kDouble).mean().item<double>();
}

SampleQuality sample_quality(const at::Tensor& real, const at::Tensor& fake, const SampleQualityOptions& o) {
  SampleQuality q;
  q.frechet = frechet_distance(real, fake);
  q.kid = kernel_distance(real, fake, o.kid_subsets, o.kid_subset_size, o.kid_seed);
  q.precision_recall = precision_recall(real, fake, o.k_pr);
  q.density_coverage = density_coverage(real, fake, o.k_dc);
  return q;
}

nlohmann::json sample_quality_json(const SampleQuality& q, const std::string& tag) {
  return {{"fd_" + tag, q.frechet},
          {"kid_" + tag, {{"mean", q.kid.mean}, {"std", q.kid.std}}},
          {"precision_" + tag, q.precision_recall.precision},
          {"recall_" + tag, q.precision_recall.recall},
          {"density_" + tag, q.density_coverage.density},
          {"coverage_" + tag, q.density_coverage.coverage}};
}

nlohmann::json class_coverage_json(const ClassCoverage& cc, int64_t num_classes, double min_share,
                                   const std::vector<std::string>& class_names) {
  nlohmann::json j = {{"histogram", cc.histogram}, {"entropy", cc.entropy}, {"normalized_entropy", cc.normalized_entropy},
                      {"classes_covered", cc.classes_covered}, {"num_classes", num_classes}, {"min_share", min_share}};
  if (!class_names.empty()) j["class_names"] = class_names;
  return j;
}

}  // namespace mirage
