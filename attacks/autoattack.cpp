#include "attacks/autoattack.h"

#include <torch/torch.h>

#include <chrono>
#include <sstream>

#include "lib/error.h"
#include "lib/runtime.h"

namespace mirage {

namespace {
const std::vector<std::string> kStages = {"apgd-ce", "apgd-dlr", "apgd-t", "fab", "fab-t", "square"};
}

nlohmann::json autoattack_stage_params(const std::string& stage, const AutoAttackOptions& o) {
  nlohmann::json p = {{"norm", norm_name(o.norm)}, {"eps", o.eps}};
  if (stage != "square") {
    p["compact"] = o.compact;
    p["early_stop"] = true;  // FAB's is off by default; APGD's is on (attacks/apgd.h)
  }
  if (stage == "square") {
    p["queries"] = o.queries;
    p["p_init"] = 0.8;
    p["restarts"] = 1;
  } else {
    p["steps"] = o.steps;
    p["restarts"] = 1;
    if (stage == "apgd-t" || stage == "fab-t") p["target_classes"] = o.target_classes;
  }
  return p;
}

AutoAttack::AutoAttack(AutoAttackOptions options) : options_(std::move(options)) {
  for (const auto& stage : options_.attacks) stages_.push_back(make_attack(stage, autoattack_stage_params(stage, options_)));
  set_seed(0);
}

void AutoAttack::set_seed(uint64_t seed) {
  Attack::set_seed(seed);
  for (auto& stage : stages_) stage->set_seed(derive_seed(seed, "autoattack:" + stage->name()));
}

nlohmann::json AutoAttack::options_json() const {
  nlohmann::json stages = nlohmann::json::array();
  for (const auto& s : stages_) stages.push_back({{"attack", s->name()}, {"options", s->options_json()}});
  return {{"norm", norm_name(options_.norm)}, {"eps", options_.eps},     {"steps", options_.steps},
          {"queries", options_.queries},      {"compact", options_.compact}, {"stages", stages}};
}

AttackResult AutoAttack::run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) {
  auto start = start_attack(model, images, labels);
  auto& x = start.x;
  auto& y = start.y;
  auto& r = start.result;
  r.adversarial = x.clone();
  // Robust = the goal does not hold yet; for an untargeted goal, correctly classified.
  auto robust = ~goal_met(start.clean_logits, y, goal);
  const int64_t n = x.size(0);
  nlohmann::json stages = nlohmann::json::array();
  for (auto& stage : stages_) {
    auto t0 = std::chrono::steady_clock::now();
    auto a = pending_subset(robust, x, y, goal);
    const int64_t attacked = a.size();
    int64_t broken = 0;
    if (attacked > 0) {
      auto sub = stage->run(model, a.x, a.y, a.goal);
      r.queries.index_add_(0, a.index, sub.queries.to(r.queries.device()));
      r.gradient_calls += sub.gradient_calls;
      auto hit = merge_subset(r.adversarial, a.index, sub.adversarial, sub.success);
      robust.index_fill_(0, hit, false);
      broken = hit.numel();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stages.push_back({{"attack", stage->name()},
                      {"attacked", attacked},
                      {"broken", broken},
                      {"robust", robust.sum().item<int64_t>()},
                      {"robust_accuracy", n > 0 ? static_cast<double>(robust.sum().item<int64_t>()) / n : 0.0},
                      {"seconds", seconds}});
  }
  r.details = {{"n", n}, {"stages", stages}};
  finalize_result(model, images, labels, goal, r);
  return r;
}

std::unique_ptr<Attack> make_autoattack(AttackParams& p) {
  AutoAttackOptions o;
  o.norm = p.norm(Norm::kLinf, {Norm::kLinf, Norm::kL2});
  o.eps = p.eps(o.norm, o.eps, 0.5);
  o.steps = p.integer("steps", o.steps, 1);
  o.queries = p.integer("queries", o.queries, 1);
  o.target_classes = p.integer("target_classes", o.target_classes, 1);
  o.compact = p.flag("compact", o.compact);
  std::string list = p.text("attacks", "");
  if (!list.empty()) {
    o.attacks.clear();
    std::stringstream in(list);
    std::string stage;
    while (std::getline(in, stage, ',')) {
      if (std::find(kStages.begin(), kStages.end(), stage) == kStages.end()) {
        std::string known;
        for (const auto& s : kStages) known += (known.empty() ? "" : ", ") + s;
        throw UsageError("autoattack parameter 'attacks': '" + stage + "' is not one of " + known);
      }
      o.attacks.push_back(stage);
    }
  }
  return std::make_unique<AutoAttack>(o);
}

}  // namespace mirage
