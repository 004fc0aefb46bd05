#include "reports/robustness_audit.h"

#include "lib/log.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <limits>

#include "lib/error.h"
#include "lib/hash.h"
#include "lib/metrics.h"
#include "lib/runtime.h"

namespace mirage {

Rate make_rate(int64_t count, int64_t of) {
  Rate r;
  r.count = count;
  r.of = of;
  r.value = of > 0 ? static_cast<double>(count) / static_cast<double>(of) : 0.0;
  std::tie(r.lo, r.hi) = wilson_interval(count, of);
  return r;
}

ValueStats value_stats(std::vector<double> v) {
  ValueStats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.n = static_cast<int64_t>(v.size());
  double sum = 0;
  for (double d : v) sum += d;
  s.mean = sum / static_cast<double>(v.size());
  const size_t m = v.size() / 2;
  s.median = v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
  // Nearest-rank percentile: the smallest value with at least 95% of the sample at or below it.
  const auto rank = static_cast<size_t>(std::ceil(0.95 * static_cast<double>(v.size())));
  s.p95 = v[std::max<size_t>(rank, 1) - 1];
  s.max = v.back();
  return s;
}

StageClock::StageClock(std::string name) : t0_(std::chrono::steady_clock::now()) {
  time_.name = std::move(name);
  time_.started = utc_now();
}

StageTime StageClock::stop() {
  time_.finished = utc_now();
  time_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  return time_;
}

namespace {




// Batches of the first n samples, in order.
template <typename F>
void for_each_batch(Dataset& data, int64_t n, int64_t batch_size, F&& f) {
  for (int64_t first = 0; first < n; first += batch_size) {
    std::vector<int64_t> indices;
    for (int64_t i = first; i < std::min(first + batch_size, n); ++i) indices.push_back(i);
    f(first, data.get(indices));
  }
}

std::vector<int64_t> to_vector(const at::Tensor& t) {
  auto c = t.to(torch::kCPU).to(torch::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

std::vector<double> to_doubles(const at::Tensor& t) {
  auto c = t.to(torch::kCPU).to(torch::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

void keep_worst(std::vector<WorstExample>& worst, WorstExample e, int64_t k) {
  if (k <= 0) return;
  worst.push_back(std::move(e));
  // Stable on ties: the earlier sample stays ahead, so reruns pick the same examples.
  std::stable_sort(worst.begin(), worst.end(),
                   [](const WorstExample& a, const WorstExample& b) { return a.margin > b.margin; });
  if (static_cast<int64_t>(worst.size()) > k) worst.resize(static_cast<size_t>(k));
}

}  // namespace

RobustnessAudit run_robustness_audit(Model& model, Dataset& data, const AuditConfig& config, uint64_t seed,
                                     const AuditProgress& progress) {
  RobustnessAudit audit;
  StageClock total("total");
  const int64_t k = model.spec().num_classes;
  if (k < 2) throw InputError("the model must have at least 2 classes, has " + std::to_string(k));
  const int64_t n = config.limit > 0 ? std::min(config.limit, data.size()) : data.size();
  if (n == 0) throw InputError(data.info().name + ": no samples to audit");
  audit.n = n;
  audit.num_classes = k;
  audit.class_names = model.spec().class_names.empty() ? data.info().class_names : model.spec().class_names;
  const c10::Device device = model.device();

  // Clean pass: predictions, labels, ids, and the data's identity.
  StageClock clean_clock("clean");
  std::vector<int64_t> labels, clean_pred;
  std::string identity;
  for_each_batch(data, n, config.batch_size, [&](int64_t first, const Batch& batch) {
    auto y = to_vector(batch.labels);
    for (size_t i = 0; i < y.size(); ++i) {
      if (y[i] < 0 || y[i] >= k) {
        throw InputError(batch.ids[i] + ": label " + std::to_string(y[i]) + " is not a class of a model with " +
                         std::to_string(k) + " classes (the audit needs labelled data)");
      }
      identity += batch.ids[i] + "\t" + std::to_string(y[i]) + "\n";
      audit.samples.push_back({first + static_cast<int64_t>(i), batch.ids[i], y[i], false, {}});
    }
    torch::NoGradGuard no_grad;
    auto pred = to_vector(model.logits(batch.images.to(device)).argmax(1));
    labels.insert(labels.end(), y.begin(), y.end());
    clean_pred.insert(clean_pred.end(), pred.begin(), pred.end());
    if (progress) progress("clean", first + batch.size(), n);
  });
  audit.data_sha256 = sha256_hex(identity);
  std::vector<int64_t> class_n(static_cast<size_t>(k), 0), class_correct(static_cast<size_t>(k), 0);
  int64_t correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    const bool ok = clean_pred[i] == labels[i];
    audit.samples[i].clean_correct = ok;
    correct += ok;
    ++class_n[static_cast<size_t>(labels[i])];
    class_correct[static_cast<size_t>(labels[i])] += ok;
  }
  audit.clean_accuracy = make_rate(correct, n);
  for (int64_t c = 0; c < k; ++c) {
    audit.clean_per_class.push_back(make_rate(class_correct[static_cast<size_t>(c)], class_n[static_cast<size_t>(c)]));
  }
  audit.stages.push_back(clean_clock.stop());

  // One pass over the data per attack x eps: each stage's time is its own.
  for (const auto& entry : config.attacks) {
    for (size_t e = 0; e < entry.eps.size(); ++e) {
      auto attack = make_audit_attack(entry, e);
      attack->set_seed(derive_seed(seed, entry.id + "@" + entry.eps_text[e]));
      AttackEpsResult res;
      res.attack = entry.id;
      res.name = entry.name;
      res.eps = entry.eps[e];
      res.eps_text = entry.eps_text[e];
      res.black_box = attack->black_box();
      res.options = attack->options_json();
      res.norm = res.options.contains("norm") && res.options["norm"].is_string() ? res.options["norm"].get<std::string>()
                                                                                  : entry.norm;
      const std::string stage = entry.id + " eps=" + entry.eps_text[e];
      StageClock clock(stage);
      res.confusion_shift.assign(static_cast<size_t>(k), std::vector<int64_t>(static_cast<size_t>(k), 0));
      std::vector<int64_t> class_robust(static_cast<size_t>(k), 0);
      std::vector<double> linf_ok, l2_ok;
      int64_t robust = 0, broken = 0;
      const size_t slot = audit.results.size();
      for_each_batch(data, n, config.batch_size, [&](int64_t first, const Batch& batch) {
        auto x = batch.images.to(device);
        const auto& y = batch.labels;  // CPU, as `mirage attack` passes them
        AttackResult r = attack->run(model, x, y, Goal::untargeted());
        res.gradient_calls += r.gradient_calls;
        at::Tensor adv_logits;
        {
          torch::NoGradGuard no_grad;
          adv_logits = model.logits(r.adversarial.detach()).detach().to(torch::kCPU).to(torch::kDouble);
        }
        // Adversarial margin toward the wrong class: max_{j != y} z_j - z_y.
        auto y_cpu = batch.labels.to(torch::kLong);
        auto z_y = adv_logits.gather(1, y_cpu.unsqueeze(1)).squeeze(1);
        auto others = adv_logits.scatter(1, y_cpu.unsqueeze(1), -std::numeric_limits<double>::infinity());
        auto margin = to_doubles(std::get<0>(others.max(1)) - z_y);
        auto adv_pred = to_vector(r.adv_pred);
        auto linf = to_doubles(r.linf), l2 = to_doubles(r.l2);
        auto queries = r.queries.defined() ? to_vector(r.queries) : std::vector<int64_t>(adv_pred.size(), 0);
        for (size_t i = 0; i < adv_pred.size(); ++i) {
          const size_t s = static_cast<size_t>(first) + i;
          SampleRecord& rec = audit.samples[s];
          const bool still = rec.clean_correct && adv_pred[i] == rec.label;
          rec.adv_correct.resize(slot + 1);
          rec.adv_correct[slot] = still;
          robust += still;
          class_robust[static_cast<size_t>(rec.label)] += still;
          res.queries_total += queries[i];
          if (!rec.clean_correct || still) continue;
          ++broken;
          linf_ok.push_back(linf[i]);
          l2_ok.push_back(l2[i]);
          ++res.confusion_shift[static_cast<size_t>(clean_pred[s])][static_cast<size_t>(adv_pred[i])];
          WorstExample w;
          w.index = rec.index;
          w.id = rec.id;
          w.label = rec.label;
          w.clean_pred = clean_pred[s];
          w.adv_pred = adv_pred[i];
          w.margin = margin[i];
          w.linf = linf[i];
          w.l2 = l2[i];
          if (config.worst_k > 0 && (static_cast<int64_t>(res.worst.size()) < config.worst_k ||
                                     w.margin > res.worst.back().margin)) {
            w.clean = batch.images[static_cast<int64_t>(i)].detach().to(torch::kCPU).clone();
            w.adversarial = r.adversarial[static_cast<int64_t>(i)].detach().to(torch::kCPU).clone();
            keep_worst(res.worst, std::move(w), config.worst_k);
          }
        }
        if (progress) progress(stage, first + batch.size(), n);
      });
      res.robust_accuracy = make_rate(robust, n);
      res.success_rate = make_rate(broken, correct);
      res.linf = value_stats(linf_ok);
      res.l2 = value_stats(l2_ok);
      res.queries_mean = static_cast<double>(res.queries_total) / static_cast<double>(n);
      for (int64_t c = 0; c < k; ++c) {
        res.per_class.push_back(make_rate(class_robust[static_cast<size_t>(c)], class_n[static_cast<size_t>(c)]));
      }
      res.time = clock.stop();
      audit.stages.push_back(res.time);
      audit.results.push_back(std::move(res));
    }
  }

  for (const auto& entry : config.attacks) {
    RobustnessCurve curve;
    curve.attack = entry.id;
    for (const auto& r : audit.results) {
      if (r.attack != entry.id) continue;
      curve.norm = r.norm;
      curve.points.push_back({r.eps, r.eps_text, r.robust_accuracy.value});
    }
    std::sort(curve.points.begin(), curve.points.end(),
              [](const CurvePoint& a, const CurvePoint& b) { return a.eps < b.eps; });
    audit.curves.push_back(std::move(curve));
  }
  if (config.has_declared_eps) {
    for (const auto& r : audit.results) {
      if (audit.has_headline || r.name != "autoattack") continue;
      if (std::fabs(r.eps - config.declared_eps) <= 1e-9 * std::max(1.0, config.declared_eps)) {
        audit.has_headline = true;
        audit.headline = r.robust_accuracy;
        audit.headline_eps = r.eps;
        audit.headline_eps_text = config.declared_eps_text;
      }
    }
  }
  audit.total = total.stop();
  return audit;
}

}  // namespace mirage
