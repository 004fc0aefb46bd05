#include "reports/attack_run.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include "lib/error.h"
#include "lib/image/convert.h"
#include "lib/json_io.h"
#include "lib/log.h"
#include "lib/prefetch.h"
#include "lib/runtime.h"

namespace mirage {

nlohmann::json attacked_sample_json(const AttackedSample& s) {
  if (!s.error.empty()) return {{"index", s.index}, {"id", s.id}, {"error", s.error}};
  nlohmann::json line = {{"index", s.index},
                         {"id", s.id},
                         {"label", s.label},
                         {"label_predicted", s.label_predicted},
                         {"clean_pred", s.clean_pred},
                         {"adv_pred", s.adv_pred},
                         {"success", s.success},
                         {"linf", s.linf},
                         {"l2", s.l2},
                         {"queries", s.queries},
                         {"saved_pred", s.saved_pred}};
  if (s.targeted) line["target"] = s.target;
  return line;
}

namespace {

double ratio(int64_t a, int64_t b) { return b > 0 ? static_cast<double>(a) / static_cast<double>(b) : 0.0; }

// Adds autoattack's per-stage counts of one batch to the run's.
void add_stages(std::vector<AttackStageTotals>& stages, const nlohmann::json& details) {
  if (!details.is_object() || !details.contains("stages")) return;
  for (const auto& s : details["stages"]) {
    const std::string name = s["attack"];
    auto it = std::find_if(stages.begin(), stages.end(), [&](const AttackStageTotals& t) { return t.attack == name; });
    if (it == stages.end()) {
      stages.push_back({name});
      it = stages.end() - 1;
    }
    it->attacked += s["attacked"].get<int64_t>();
    it->broken += s["broken"].get<int64_t>();
    it->seconds += s["seconds"].get<double>();
    it->robust += s["robust"].get<int64_t>();
  }
}

}  // namespace

nlohmann::json attack_run_json(const AttackRun& r, int bits) {
  nlohmann::json result = {
      {"n", r.n},
      {"skipped", r.skipped.size()},
      {"oom_splits", r.oom_splits},
      {"clean_accuracy", rate_json(r.clean_accuracy())},
      {"robust_accuracy", rate_json(r.robust_accuracy())},
      {"success_rate", rate_json(r.success_rate())},
      {"linf", stats_json(value_stats(r.linf))},
      {"l2", stats_json(value_stats(r.l2))},
      {"queries", {{"total", r.queries_total}, {"per_sample", stats_json(value_stats(r.queries))}}},
      {"gradient_calls", r.gradient_calls},
      {"seconds", r.seconds},
      {"attack_seconds", r.attack_seconds},
      {"images_per_second", r.images_per_second()},
      {"labels_from_predictions", r.labels_from_predictions},
      {"saved", {{"bit_depth", bits},
                 {"robust_accuracy", rate_json(r.saved_robust, r.n)},
                 {"success_rate", rate_json(r.saved_broken, r.clean_correct)},
                 {"prediction_changed", r.saved_changed}}},
  };
  if (!r.stages.empty()) {
    nlohmann::json st = nlohmann::json::array();
    for (const auto& t : r.stages) {
      st.push_back({{"attack", t.attack},
                    {"attacked", t.attacked},
                    {"broken", t.broken},
                    {"robust_accuracy", ratio(t.robust, r.n)},
                    {"seconds", t.seconds}});
    }
    result["stages"] = st;
  }
  return result;
}

AttackRun run_attack(Model& model, Dataset& data, Attack& attack, const AttackRunOptions& options, uint64_t seed,
                     const AttackSampleSink& sink) {
  if (options.batch_size < 1) throw UsageError("batch_size must be >= 1");
  if (options.bits != 8 && options.bits != 16) throw UsageError("bit depth must be 8 or 16");
  attack.set_seed(seed);
  const int64_t k = model.spec().num_classes;
  const c10::Device device = model.device();
  AttackRun run;
  run.total = options.limit > 0 ? std::min(options.limit, data.size()) : data.size();
  const auto t0 = std::chrono::steady_clock::now();
  Progress progress("attack " + attack.name(), run.total);
  // Batch b + 1 is read and decoded on another thread while batch b is attacked.
  struct Loaded {
    std::vector<int64_t> indices;
    std::vector<BadItem> bad;
    Batch batch;
  };
  const int64_t batches = (run.total + options.batch_size - 1) / options.batch_size;
  Prefetcher<Loaded> loader(batches, [&](int64_t b) {
    Loaded l;
    for (int64_t i = b * options.batch_size; i < std::min((b + 1) * options.batch_size, run.total); ++i) {
      l.indices.push_back(i);
    }
    l.batch = get_batch_skipping_bad(data, l.indices, l.bad);
    return l;
  });
  for (int64_t b = 0; !loader.done(); ++b) {
    Loaded loaded = loader.next();
    const auto& indices = loaded.indices;
    const auto& bad = loaded.bad;
    Batch& batch = loaded.batch;
    for (const auto& item : bad) {
      log_warn("skipped " + item.error);
      AttackedSample s;
      s.index = item.index;
      s.id = item.id;
      s.error = item.error;
      if (sink) sink(s);
      run.skipped.push_back(std::move(s));
    }
    if (batch.size() == 0) {
      progress.advance(static_cast<int64_t>(indices.size()));
      continue;
    }
    // The indices of the good items, in batch order.
    std::vector<int64_t> kept;
    for (int64_t index : indices) {
      if (std::none_of(bad.begin(), bad.end(), [&](const BadItem& item) { return item.index == index; })) {
        kept.push_back(index);
      }
    }
    auto images = batch.images.to(device);
    auto labels = batch.labels.clone();
    if ((labels < 0).any().item<bool>()) {
      torch::NoGradGuard no_grad;
      auto pred = model.logits(images).argmax(1).to(torch::kCPU);
      run.labels_from_predictions += (labels < 0).sum().item<int64_t>();
      labels = torch::where(labels < 0, pred, labels);
    }
    if ((labels >= k).any().item<bool>()) {
      int64_t at = (labels >= k).nonzero()[0][0].item<int64_t>();
      throw InputError(batch.ids[static_cast<size_t>(at)] + ": label " + std::to_string(labels[at].item<int64_t>()) +
                       " is out of range for a model with " + std::to_string(k) + " classes");
    }
    Goal goal = make_goal(options.goal, model, images, labels, derive_seed(seed, "goal-batch-" + std::to_string(b)));
    const auto ta = std::chrono::steady_clock::now();
    int64_t splits = 0;
    AttackResult r = run_splitting_on_oom(attack, model, images, labels, goal, &splits);
    if (splits > 0) {
      log_warn("batch " + std::to_string(b) + " ran out of memory; it ran in smaller parts (" + std::to_string(splits) +
               " split" + (splits == 1 ? "" : "s") + "); a smaller --batch-size avoids that");
    }
    run.oom_splits += splits;
    run.attack_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - ta).count();
    run.gradient_calls += r.gradient_calls;

    // What the written files do: the adversarials as 8/16-bit images, evaluated again.
    auto saved = quantize(r.adversarial.detach().to(torch::kCPU), options.bits);
    at::Tensor saved_pred;
    {
      torch::NoGradGuard no_grad;
      saved_pred = model.logits(saved.to(device)).argmax(1).to(torch::kCPU);
    }
    auto saved_success = goal.targeted ? saved_pred.eq(goal.targets.to(torch::kCPU)) : saved_pred.ne(labels);
    auto clean_pred = r.clean_pred.to(torch::kCPU), adv_pred = r.adv_pred.to(torch::kCPU);
    auto success = r.success.to(torch::kCPU), linf = r.linf.to(torch::kCPU), l2 = r.l2.to(torch::kCPU);
    auto q = r.queries.to(torch::kCPU);
    at::Tensor targets = goal.targeted ? goal.targets.to(torch::kCPU) : at::Tensor();
    for (int64_t i = 0; i < batch.size(); ++i) {
      AttackedSample s;
      s.index = kept[static_cast<size_t>(i)];
      s.id = batch.ids[static_cast<size_t>(i)];
      s.label = labels[i].item<int64_t>();
      s.label_predicted = batch.labels[i].item<int64_t>() < 0;
      s.clean_pred = clean_pred[i].item<int64_t>();
      s.adv_pred = adv_pred[i].item<int64_t>();
      s.success = success[i].item<bool>();
      s.linf = linf[i].item<double>();
      s.l2 = l2[i].item<double>();
      s.queries = q[i].item<int64_t>();
      s.targeted = goal.targeted;
      if (goal.targeted) s.target = targets[i].item<int64_t>();
      s.saved = saved[i];
      s.saved_pred = saved_pred[i].item<int64_t>();
      if (sink) sink(s);
      const bool correct = s.clean_pred == s.label;
      ++run.n;
      run.clean_correct += correct;
      run.robust += s.adv_pred == s.label;
      run.saved_robust += s.saved_pred == s.label;
      run.saved_changed += s.saved_pred != s.adv_pred;
      run.queries_total += s.queries;
      run.queries.push_back(static_cast<double>(s.queries));
      if (correct && s.success) {
        ++run.broken;
        run.linf.push_back(s.linf);
        run.l2.push_back(s.l2);
      }
      if (correct && saved_success[i].item<bool>()) ++run.saved_broken;
    }
    add_stages(run.stages, r.details);
    progress.advance(static_cast<int64_t>(indices.size()),
                     "robust " + std::to_string(run.robust) + "/" + std::to_string(run.n));
  }
  progress.finish();
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return run;
}

}  // namespace mirage
