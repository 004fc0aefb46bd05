#include "detectors/evaluate.h"

#include <torch/torch.h>

#include <algorithm>
#include <map>

#include "attacks/pgd.h"
#include "detectors/detector.h"
#include "lib/error.h"
#include "lib/metrics.h"
#include "lib/runtime.h"

namespace mirage {

void DetectorScores::append(const DetectorScores& o) {
  p_fake.insert(p_fake.end(), o.p_fake.begin(), o.p_fake.end());
  label.insert(label.end(), o.label.begin(), o.label.end());
  source.insert(source.end(), o.source.begin(), o.source.end());
  cls.insert(cls.end(), o.cls.begin(), o.cls.end());
}

nlohmann::json DetectionMetrics::to_json() const {
  return {{"n_real", n_real},
          {"n_fake", n_fake},
          {"auc", auc},
          {"average_precision", average_precision},
          {"accuracy", accuracy},
          {"tpr", tpr},
          {"fpr", fpr},
          {"tpr_at_1pct_fpr", tpr_at_1pct_fpr},
          {"eer", eer},
          {"ece", ece}};
}

DetectionMetrics detection_metrics(const DetectorScores& s, double threshold) {
  DetectionMetrics m;
  for (int y : s.label) (y ? m.n_fake : m.n_real) += 1;
  if (m.n_real == 0 || m.n_fake == 0) {
    throw UsageError("detector metrics need both real and fake images (got " + std::to_string(m.n_real) + " real, " +
                     std::to_string(m.n_fake) + " fake)");
  }
  m.auc = roc_auc(s.p_fake, s.label);
  m.average_precision = average_precision(s.p_fake, s.label);
  const ErrorRates r = rates_at_threshold(s.p_fake, s.label, threshold);
  m.tpr = r.tpr;
  m.fpr = r.fpr;
  m.accuracy = (r.tpr * static_cast<double>(m.n_fake) + (1 - r.fpr) * static_cast<double>(m.n_real)) /
               static_cast<double>(m.n_fake + m.n_real);
  m.tpr_at_1pct_fpr = tpr_at_fpr(s.p_fake, s.label, 0.01);
  m.eer = equal_error_rate(s.p_fake, s.label).eer;
  m.ece = expected_calibration_error(s.p_fake, s.label);
  return m;
}

nlohmann::json detection_report(const DetectorScores& s, double threshold, const std::vector<std::string>& class_names) {
  nlohmann::json report;
  report["overall"] = detection_metrics(s, threshold).to_json();
  // Reals against the fakes of one source / reals and fakes of one class.
  auto subset = [&](const std::function<bool(size_t)>& keep) {
    DetectorScores out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (!keep(i)) continue;
      out.p_fake.push_back(s.p_fake[i]);
      out.label.push_back(s.label[i]);
    }
    return out;
  };
  std::map<std::string, bool> sources;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.label[i] == 1) sources[s.source[i]] = true;
  }
  report["per_source"] = nlohmann::json::object();
  for (const auto& [name, unused] : sources) {
    const auto sub = subset([&](size_t i) { return s.label[i] == 0 || s.source[i] == name; });
    report["per_source"][name] = detection_metrics(sub, threshold).to_json();
  }
  // Per class of the reals: against the fakes of that class when fakes carry classes (a
  // conditional GAN), else against every fake: which real classes get flagged, which fakes slip.
  bool fakes_have_classes = false;
  std::map<int64_t, bool> classes;
  for (size_t i = 0; i < s.size() && i < s.cls.size(); ++i) {
    if (s.cls[i] < 0) continue;
    if (s.label[i] == 1) fakes_have_classes = true;
    else classes[s.cls[i]] = true;
  }
  report["per_class"] = nlohmann::json::object();
  for (const auto& [k, unused] : classes) {
    const auto sub = subset([&](size_t i) {
      const int64_t c = i < s.cls.size() ? s.cls[i] : -1;
      return s.label[i] == 0 ? c == k : (!fakes_have_classes || c == k);
    });
    int64_t fakes = 0;
    for (int y : sub.label) fakes += y;
    if (fakes == 0) continue;
    const std::string name = k < static_cast<int64_t>(class_names.size()) ? class_names[static_cast<size_t>(k)] : std::to_string(k);
    report["per_class"][name] = detection_metrics(sub, threshold).to_json();
  }
  report["per_class_fakes"] = fakes_have_classes ? "same class" : "all fakes";
  return report;
}

std::vector<double> score_images(Detector& detector, const at::Tensor& images, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  std::vector<double> out;
  out.reserve(static_cast<size_t>(images.size(0)));
  for (int64_t start = 0; start < images.size(0); start += batch_size) {
    const auto p = detector.p_fake(images.slice(0, start, std::min(images.size(0), start + batch_size)).to(detector.device()))
                       .to(torch::kCPU, torch::kFloat64)
                       .contiguous();
    out.insert(out.end(), p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
  }
  return out;
}

void LabelledSets::add(const at::Tensor& set, const at::Tensor& set_classes, int label, const std::string& name) {
  images.push_back(set);
  classes.push_back(set_classes);
  labels.push_back(label);
  names.push_back(name);
}

DetectorScores score_sets(Detector& detector, const LabelledSets& sets, int64_t batch_size,
                          const std::function<at::Tensor(const at::Tensor&, int label)>& transform) {
  DetectorScores all;
  for (size_t k = 0; k < sets.images.size(); ++k) {
    at::Tensor images = sets.images[k];
    if (transform) {
      std::vector<at::Tensor> parts;
      for (int64_t s = 0; s < images.size(0); s += batch_size) {
        parts.push_back(transform(images.slice(0, s, std::min(images.size(0), s + batch_size)), sets.labels[k]));
      }
      images = torch::cat(parts);
    }
    DetectorScores part;
    part.p_fake = score_images(detector, images, batch_size);
    part.label.assign(part.p_fake.size(), sets.labels[k]);
    part.source.assign(part.p_fake.size(), sets.names[k]);
    const auto c = sets.classes[k].contiguous();
    part.cls.assign(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
    all.append(part);
  }
  return all;
}

namespace {

nlohmann::json sweep_row(nlohmann::json row, const DetectorScores& s, double threshold) {
  const auto m = detection_metrics(s, threshold);
  row.update({{"auc", m.auc}, {"tpr", m.tpr}, {"fpr", m.fpr}, {"accuracy", m.accuracy}});
  return row;
}

}  // namespace

nlohmann::json robustness_sweeps(Detector& detector, const LabelledSets& sets, const RobustnessSweeps& sweeps,
                                 const ImageCodec& codec, uint64_t seed, int64_t batch_size) {
  const double threshold = detector.threshold();
  nlohmann::json out = nlohmann::json::object();
  if (!sweeps.jpeg_qualities.empty() && !codec.has_jpeg()) throw UsageError("JPEG sweeps need a JPEG codec (lib/image)");
  for (int q : sweeps.jpeg_qualities) {
    const auto s = score_sets(detector, sets, batch_size, [&](const at::Tensor& x, int) { return codec.jpeg(x, q); });
    out["jpeg"].push_back(sweep_row({{"quality", q}}, s, threshold));
  }
  for (double sigma : sweeps.blur_sigmas) {
    const auto s = score_sets(detector, sets, batch_size, [&](const at::Tensor& x, int) { return gaussian_blur(x, sigma); });
    out["blur"].push_back(sweep_row({{"sigma", sigma}}, s, threshold));
  }
  for (double eps : sweeps.pgd_eps) {
    PgdOptions o;
    o.eps = eps;
    o.steps = sweeps.pgd_steps;
    o.alpha = 2.5 * eps / static_cast<double>(sweeps.pgd_steps);
    o.early_stop = false;  // AUC wants the scores pushed all the way, not just past 0.5
    Pgd attack(o);
    attack.set_seed(derive_seed(seed, "pgd"));
    const auto s = score_sets(detector, sets, batch_size, [&](const at::Tensor& x, int label) {
      const auto xd = x.to(detector.device());
      const auto y = torch::full({x.size(0)}, static_cast<int64_t>(label), torch::TensorOptions().dtype(torch::kInt64).device(xd.device()));
      return attack.run(detector.model(), xd, y, Goal::untargeted()).adversarial.detach().to(torch::kCPU);
    });
    out["pgd"].push_back(sweep_row({{"eps", eps}, {"steps", sweeps.pgd_steps}}, s, threshold));
  }
  return out;
}

}  // namespace mirage
