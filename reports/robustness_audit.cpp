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
#include "lib/prefetch.h"
#include "lib/metrics.h"
#include "lib/runtime.h"

namespace mirage {

StageClock::StageClock(std::string name) : t0_(std::chrono::steady_clock::now()) {
  time_.name = std::move(name);
  time_.started = utc_now();
}

StageTime StageClock::stop() {
  time_.finished = utc_now();
  time_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  return time_;
}

bool worse_than(const WorstExample& a, const WorstExample& b) {
  if (a.margin != b.margin) return a.margin > b.margin;
  return a.index < b.index;
}

Shard parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  auto number = [](const std::string& part, int64_t& out) {
    if (part.empty() || part.size() > 9) return false;
    for (char ch : part) {
      if (ch < '0' || ch > '9') return false;
    }
    out = std::stoll(part);
    return true;
  };
  Shard s;
  if (slash == std::string::npos || !number(text.substr(0, slash), s.index) ||
      !number(text.substr(slash + 1), s.count) || s.count < 1 || s.index < 1 || s.index > s.count) {
    throw UsageError("--shard: '" + text + "' is not I/N with 1 <= I <= N (for example 2/4: the second of four shards)");
  }
  return s;
}

std::pair<int64_t, int64_t> shard_range(int64_t n, int64_t batch_size, const Shard& shard) {
  const int64_t nb = (n + batch_size - 1) / batch_size;
  if (shard.count > nb) {
    throw UsageError("--shard " + std::to_string(shard.index) + "/" + std::to_string(shard.count) +
                     ": the audit has only " + std::to_string(nb) + " batch" + (nb == 1 ? "" : "es") + " of " +
                     std::to_string(batch_size) + " samples; use at most " + std::to_string(nb) +
                     " shard" + (nb == 1 ? "" : "s") + " or a smaller batch_size");
  }
  const int64_t b0 = (shard.index - 1) * nb / shard.count, b1 = shard.index * nb / shard.count;
  return {b0 * batch_size, std::min(b1 * batch_size, n)};
}

void summarize_audit(RobustnessAudit& audit, const AuditConfig& config) {
  const int64_t k = audit.num_classes;
  const auto kk = static_cast<size_t>(k);
  const auto& samples = audit.samples;
  audit.n = static_cast<int64_t>(samples.size());
  std::string identity;
  std::vector<int64_t> class_n(kk, 0), class_correct(kk, 0);
  int64_t correct = 0;
  for (const auto& s : samples) {
    if (s.label < 0 || s.label >= k) {
      throw InputError(s.id + ": label " + std::to_string(s.label) + " is not a class of a model with " +
                       std::to_string(k) + " classes");
    }
    if (s.outcomes.size() != audit.results.size()) {
      throw InternalError(s.id + ": " + std::to_string(s.outcomes.size()) + " attack outcomes for " +
                          std::to_string(audit.results.size()) + " results");
    }
    identity += s.id + "\t" + std::to_string(s.label) + "\n";
    correct += s.clean_correct;
    ++class_n[static_cast<size_t>(s.label)];
    class_correct[static_cast<size_t>(s.label)] += s.clean_correct;
  }
  audit.data_sha256 = sha256_hex(identity);
  audit.clean_accuracy = make_rate(correct, audit.n);
  audit.clean_per_class.clear();
  for (size_t c = 0; c < kk; ++c) audit.clean_per_class.push_back(make_rate(class_correct[c], class_n[c]));

  for (size_t slot = 0; slot < audit.results.size(); ++slot) {
    AttackEpsResult& res = audit.results[slot];
    res.confusion_shift.assign(kk, std::vector<int64_t>(kk, 0));
    std::vector<int64_t> class_robust(kk, 0);
    std::vector<double> linf_ok, l2_ok;
    int64_t robust = 0, broken = 0;
    res.queries_total = 0;
    for (const auto& s : samples) {
      const SampleOutcome& o = s.outcomes[slot];
      if (o.adv_pred < 0 || o.adv_pred >= k) {
        throw InputError(s.id + ": adversarial prediction " + std::to_string(o.adv_pred) + " is not a class");
      }
      robust += o.correct;
      class_robust[static_cast<size_t>(s.label)] += o.correct;
      res.queries_total += o.queries;
      if (!s.clean_correct || o.correct) continue;
      ++broken;
      linf_ok.push_back(o.linf);
      l2_ok.push_back(o.l2);
      // A success starts from a correct prediction, so the clean class is the label.
      ++res.confusion_shift[static_cast<size_t>(s.label)][static_cast<size_t>(o.adv_pred)];
    }
    res.robust_accuracy = make_rate(robust, audit.n);
    res.success_rate = make_rate(broken, correct);
    res.linf = value_stats(linf_ok);
    res.l2 = value_stats(l2_ok);
    res.queries_mean = audit.n > 0 ? static_cast<double>(res.queries_total) / static_cast<double>(audit.n) : 0.0;
    res.per_class.clear();
    for (size_t c = 0; c < kk; ++c) res.per_class.push_back(make_rate(class_robust[c], class_n[c]));
  }

  audit.curves.clear();
  for (const auto& entry : config.attacks) {
    RobustnessCurve curve;
    curve.attack = entry.id;
    for (const auto& r : audit.results) {
      if (r.attack != entry.id) continue;
      curve.norm = r.norm;
      curve.points.push_back({r.eps, r.eps_text, r.robust_accuracy.value});
    }
    std::stable_sort(curve.points.begin(), curve.points.end(),
                     [](const CurvePoint& a, const CurvePoint& b) { return a.eps < b.eps; });
    audit.curves.push_back(std::move(curve));
  }
  audit.has_headline = false;
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
}

namespace {

// Batches of the samples [first, end), in order, as the whole run cuts them (first is a batch
// start); the next batch is read and decoded on another thread while `f` works on this one.
template <typename F>
void for_each_batch(Dataset& data, int64_t first, int64_t end, int64_t batch_size, F&& f) {
  const int64_t batches = (end - first + batch_size - 1) / batch_size;
  Prefetcher<Batch> loader(batches, [&](int64_t i) {
    std::vector<int64_t> indices;
    for (int64_t j = first + i * batch_size; j < std::min(first + (i + 1) * batch_size, end); ++j) indices.push_back(j);
    return data.get(indices);
  });
  for (int64_t i = 0; !loader.done(); ++i) f(first + i * batch_size, loader.next());
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
  std::sort(worst.begin(), worst.end(), worse_than);
  if (static_cast<int64_t>(worst.size()) > k) worst.resize(static_cast<size_t>(k));
}

}  // namespace

RobustnessAudit run_robustness_audit(Model& model, Dataset& data, const AuditConfig& config, uint64_t seed,
                                     const AuditProgress& progress, const Shard& shard) {
  RobustnessAudit audit;
  StageClock total("total");
  const int64_t k = model.spec().num_classes;
  if (k < 2) throw InputError("the model must have at least 2 classes, has " + std::to_string(k));
  const int64_t total_n = config.limit > 0 ? std::min(config.limit, data.size()) : data.size();
  if (total_n == 0) throw InputError(data.info().name + ": no samples to audit");
  if (shard.count < 1 || shard.index < 1 || shard.index > shard.count) {
    throw UsageError("--shard: " + std::to_string(shard.index) + "/" + std::to_string(shard.count) +
                     " is not I/N with 1 <= I <= N");
  }
  const auto [first, end] = shard_range(total_n, config.batch_size, shard);
  const int64_t n = end - first;
  audit.shard = shard;
  audit.total_n = total_n;
  audit.first = first;
  audit.end = end;
  audit.num_classes = k;
  audit.class_names = model.spec().class_names.empty() ? data.info().class_names : model.spec().class_names;
  const c10::Device device = model.device();

  // Clean pass: labels, ids and clean predictions.
  StageClock clean_clock("clean");
  for_each_batch(data, first, end, config.batch_size, [&](int64_t b, const Batch& batch) {
    auto y = to_vector(batch.labels);
    for (size_t i = 0; i < y.size(); ++i) {
      if (y[i] < 0 || y[i] >= k) {
        throw InputError(batch.ids[i] + ": label " + std::to_string(y[i]) + " is not a class of a model with " +
                         std::to_string(k) + " classes (the audit needs labelled data)");
      }
    }
    torch::NoGradGuard no_grad;
    auto pred = to_vector(model.logits(batch.images.to(device)).argmax(1));
    for (size_t i = 0; i < y.size(); ++i) {
      SampleRecord rec;
      rec.index = b + static_cast<int64_t>(i);
      rec.id = batch.ids[i];
      rec.label = y[i];
      rec.clean_pred = pred[i];
      rec.clean_correct = pred[i] == y[i];
      audit.samples.push_back(std::move(rec));
    }
    if (progress) progress("clean", b + batch.size() - first, n);
  });
  audit.stages.push_back(clean_clock.stop());

  // One pass over the data per attack x eps: each stage's time is its own.
  for (const auto& entry : config.attacks) {
    for (size_t e = 0; e < entry.eps.size(); ++e) {
      auto attack = make_audit_attack(entry, e);
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
      const size_t slot = audit.results.size();
      for_each_batch(data, first, end, config.batch_size, [&](int64_t b, const Batch& batch) {
        // Seeded per batch from the batch's place in the whole run: a shard draws exactly the
        // numbers the unsharded run draws for the same samples.
        attack->set_seed(derive_seed(seed, entry.id + "@" + entry.eps_text[e] + "#" + std::to_string(b)));
        auto x = batch.images.to(device);
        const auto& y = batch.labels;  // CPU, as `mirage attack` passes them
        int64_t splits = 0;
        AttackResult r = run_splitting_on_oom(*attack, model, x, y, Goal::untargeted(), &splits);
        if (splits > 0) log_warn(stage + ": batch at sample " + std::to_string(b) + " ran out of memory and ran in smaller parts");
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
          SampleRecord& rec = audit.samples[static_cast<size_t>(b - first) + i];
          SampleOutcome o;
          o.correct = rec.clean_correct && adv_pred[i] == rec.label;
          o.adv_pred = adv_pred[i];
          o.linf = linf[i];
          o.l2 = l2[i];
          o.queries = queries[i];
          rec.outcomes.resize(slot + 1);
          rec.outcomes[slot] = o;
          if (!rec.clean_correct || o.correct || config.worst_k <= 0) continue;
          WorstExample w;
          w.index = rec.index;
          w.id = rec.id;
          w.label = rec.label;
          w.clean_pred = rec.clean_pred;
          w.adv_pred = adv_pred[i];
          w.margin = margin[i];
          w.linf = linf[i];
          w.l2 = l2[i];
          // Samples come in index order, so one tying the last kept margin ranks after it.
          if (static_cast<int64_t>(res.worst.size()) < config.worst_k || worse_than(w, res.worst.back())) {
            w.clean = batch.images[static_cast<int64_t>(i)].detach().to(torch::kCPU).clone();
            w.adversarial = r.adversarial[static_cast<int64_t>(i)].detach().to(torch::kCPU).clone();
            keep_worst(res.worst, std::move(w), config.worst_k);
          }
        }
        if (progress) progress(stage, b + batch.size() - first, n);
      });
      res.time = clock.stop();
      audit.stages.push_back(res.time);
      audit.results.push_back(std::move(res));
    }
  }
  summarize_audit(audit, config);
  audit.total = total.stop();
  return audit;
}

}  // namespace mirage
