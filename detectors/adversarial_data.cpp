#include "detectors/adversarial_data.h"

#include <torch/torch.h>

#include <algorithm>

#include "detectors/detector.h"
#include "detectors/evaluate.h"
#include "lib/error.h"
#include "lib/image_tensor.h"
#include "lib/log.h"
#include "lib/model.h"
#include "lib/runtime.h"

namespace mirage {

AdversarialDetectorData attack_for_detector(Model& classifier, const at::Tensor& images, const at::Tensor& labels,
                                            const std::vector<int64_t>& train_idx, const std::vector<int64_t>& val_idx,
                                            const std::vector<AttackSpec>& attacks, uint64_t seed, c10::Device device) {
  if (labels.numel() > 0 && labels.min().item<int64_t>() < 0) throw UsageError("an adversarial detector needs labelled real images");
  const int64_t n = images.size(0), channels = images.size(1), size = images.size(2);
  const ModelSpec& spec = classifier.spec();
  AdversarialDetectorData out;
  out.n_val = static_cast<int64_t>(val_idx.size());
  std::vector<at::Tensor> adv_train, adv_val;
  for (const auto& a : attacks) {
    // Training data takes each attack's whole budget: the iterative attacks' early stop (their
    // default for evaluation) would give only images just past the classifier's boundary.
    auto params = a.params;
    static const std::vector<std::string> kEarlyStopping = {"pgd", "bim", "mi-fgsm", "apgd-ce", "apgd-dlr", "apgd-t"};
    if (!params.contains("early_stop") && std::count(kEarlyStopping.begin(), kEarlyStopping.end(), a.name) > 0) {
      params["early_stop"] = false;
    }
    auto attack = make_attack(a.name, params);
    attack->set_seed(derive_seed(seed, "attack-" + a.text));
    std::vector<at::Tensor> adv;
    std::vector<int64_t> success;
    Progress progress("attack " + a.text, n);
    for (int64_t start = 0; start < n; start += 256) {
      const auto x = images.slice(0, start, std::min(n, start + 256)).to(device);
      const auto y = labels.slice(0, start, std::min(n, start + 256)).to(device);
      auto r = attack->run(classifier, fit_batch(x, spec.channels, spec.height, spec.width), y, Goal::untargeted());
      adv.push_back(fit_batch(r.adversarial, channels, size, size).to(torch::kCPU));
      const auto s = r.success.to(torch::kCPU, torch::kInt64);
      success.insert(success.end(), s.data_ptr<int64_t>(), s.data_ptr<int64_t>() + s.numel());
      progress.advance(x.size(0));
    }
    progress.finish();
    const auto all = torch::cat(adv);
    adv_train.push_back(select_rows(all, train_idx));
    adv_val.push_back(select_rows(all, val_idx));
    int64_t val_success = 0;
    for (auto i : val_idx) val_success += success[static_cast<size_t>(i)];
    out.per_attack[a.text] = {{"attack", a.name}, {"params", a.params}, {"n_val", val_idx.size()},
                              {"attack_success_rate_val", static_cast<double>(val_success) / static_cast<double>(val_idx.size())}};
    out.sources.push_back({{"name", a.text}, {"kind", "attack"}, {"n", n}});
    out.attacks.push_back(a.text);
  }
  out.fake_train = torch::cat(adv_train);
  out.fake_val = torch::cat(adv_val);
  return out;
}

void add_detection_rates(Detector& detector, AdversarialDetectorData& data) {
  for (size_t a = 0; a < data.attacks.size(); ++a) {
    const auto k = static_cast<int64_t>(a);
    const auto p = score_images(detector, data.fake_val.slice(0, k * data.n_val, (k + 1) * data.n_val));
    int64_t flagged = 0;
    for (double v : p) flagged += v >= detector.threshold();
    data.per_attack[data.attacks[a]]["detection_rate"] = static_cast<double>(flagged) / static_cast<double>(p.size());
  }
}

}  // namespace mirage
