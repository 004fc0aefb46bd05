#include "attacks/attack.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "lib/error.h"
#include "lib/parse.h"
#include "lib/runtime.h"

namespace mirage {

Norm parse_norm(const std::string& text, const std::string& what) {
  std::string t = text;
  std::transform(t.begin(), t.end(), t.begin(), ::tolower);
  if (t == "linf" || t == "inf") return Norm::kLinf;
  if (t == "l2") return Norm::kL2;
  if (t == "l1") return Norm::kL1;
  throw UsageError(what + ": '" + text + "' is not a norm (linf, l2, l1)");
}

std::string norm_name(Norm norm) {
  switch (norm) {
    case Norm::kLinf: return "linf";
    case Norm::kL2: return "l2";
    case Norm::kL1: return "l1";
  }
  return "?";
}

Goal make_goal(const std::string& mode, Model& model, const at::Tensor& images, const at::Tensor& labels,
               uint64_t seed) {
  if (mode == "untargeted" || mode.empty()) return Goal::untargeted();
  const int64_t k = model.spec().num_classes;
  const int64_t n = images.size(0);
  auto device = model.device();
  if (mode.rfind("target:", 0) == 0) {
    int64_t t = static_cast<int64_t>(parse_number(mode.substr(7), "--goal"));
    if (t < 0 || t >= k || std::to_string(t) != mode.substr(7)) {
      throw UsageError("--goal " + mode + ": target class must be an integer in [0, " + std::to_string(k) + ")");
    }
    return Goal::targeted_to(torch::full({n}, t, torch::TensorOptions().dtype(torch::kLong).device(device)));
  }
  if (mode == "runner-up") {
    torch::NoGradGuard no_grad;
    auto logits = model.logits(images.to(device));
    auto top2 = std::get<1>(logits.topk(2, 1));
    auto lab = labels.to(device);
    // The most likely class other than the label.
    auto pick = torch::where(top2.select(1, 0) == lab, top2.select(1, 1), top2.select(1, 0));
    return Goal::targeted_to(pick);
  }
  if (mode == "random") {
    auto gen = make_generator(derive_seed(seed, "random-target"));
    auto offset = torch::randint(1, k, {n}, gen, torch::TensorOptions().dtype(torch::kLong));
    return Goal::targeted_to(((labels.to(torch::kCPU) + offset) % k).to(device));
  }
  throw UsageError("--goal: '" + mode + "' is not untargeted, target:K, runner-up or random");
}

void Attack::set_seed(uint64_t seed) {
  seed_ = seed;
  generator_ = make_generator(derive_seed(seed, "attack:" + name()));
}

at::Generator& Attack::generator() {
  if (!generator_.defined()) generator_ = make_generator(derive_seed(seed_, "attack:" + name()));
  return generator_;
}

// ---- parameters ------------------------------------------------------------------------------

AttackParams::AttackParams(nlohmann::json params, std::string attack)
    : params_(params.is_null() ? nlohmann::json::object() : std::move(params)), attack_(std::move(attack)) {
  if (!params_.is_object()) throw UsageError(attack_ + ": parameters must be a JSON object");
}

const nlohmann::json* AttackParams::take(const std::string& key) {
  used_.push_back(key);
  auto it = params_.find(key);
  if (it == params_.end() || it->is_null()) return nullptr;
  return &*it;
}

double AttackParams::number(const std::string& key, double fallback) {
  const auto* v = take(key);
  if (!v) return fallback;
  std::string what = attack_ + " parameter '" + key + "'";
  if (v->is_number()) {
    double d = v->get<double>();
    if (!std::isfinite(d)) throw UsageError(what + " must be finite");
    return d;
  }
  if (v->is_string()) return parse_number(v->get<std::string>(), what);
  throw UsageError(what + " must be a number");
}

double AttackParams::positive(const std::string& key, double fallback) {
  double d = number(key, fallback);
  if (!(d > 0)) throw UsageError(attack_ + " parameter '" + key + "' must be > 0, got " + std::to_string(d));
  return d;
}

int64_t AttackParams::integer(const std::string& key, int64_t fallback, int64_t min_value) {
  const auto* v = take(key);
  int64_t out = fallback;
  std::string what = attack_ + " parameter '" + key + "'";
  if (v) {
    if (v->is_number_integer()) {
      out = v->get<int64_t>();
    } else if (v->is_string() || v->is_number_float()) {
      double d = v->is_string() ? parse_number(v->get<std::string>(), what) : v->get<double>();
      if (d != std::floor(d)) throw UsageError(what + " must be an integer");
      out = static_cast<int64_t>(d);
    } else {
      throw UsageError(what + " must be an integer");
    }
  }
  if (out < min_value) throw UsageError(what + " must be >= " + std::to_string(min_value) + ", got " + std::to_string(out));
  return out;
}

bool AttackParams::flag(const std::string& key, bool fallback) {
  const auto* v = take(key);
  if (!v) return fallback;
  if (v->is_boolean()) return v->get<bool>();
  if (v->is_string()) {
    auto s = v->get<std::string>();
    if (s == "true" || s == "1" || s == "yes") return true;
    if (s == "false" || s == "0" || s == "no") return false;
  }
  if (v->is_number_integer()) return v->get<int64_t>() != 0;
  throw UsageError(attack_ + " parameter '" + key + "' must be true or false");
}

std::string AttackParams::choice(const std::string& key, const std::string& fallback,
                                 const std::vector<std::string>& allowed) {
  const auto* v = take(key);
  if (!v) return fallback;
  if (!v->is_string()) throw UsageError(attack_ + " parameter '" + key + "' must be a string");
  auto s = v->get<std::string>();
  if (std::find(allowed.begin(), allowed.end(), s) == allowed.end()) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    throw UsageError(attack_ + " parameter '" + key + "': '" + s + "' is not one of " + list);
  }
  return s;
}

std::string AttackParams::text(const std::string& key, const std::string& fallback) {
  const auto* v = take(key);
  if (!v) return fallback;
  if (!v->is_string()) throw UsageError(attack_ + " parameter '" + key + "' must be a string");
  return v->get<std::string>();
}

Norm AttackParams::norm(Norm fallback, const std::vector<Norm>& allowed) {
  const auto* v = take("norm");
  if (!v) return fallback;
  if (!v->is_string()) throw UsageError(attack_ + " parameter 'norm' must be a string");
  Norm n = parse_norm(v->get<std::string>(), attack_ + " parameter 'norm'");
  if (std::find(allowed.begin(), allowed.end(), n) == allowed.end()) {
    throw UsageError(attack_ + " does not support norm " + norm_name(n));
  }
  return n;
}

double AttackParams::eps(Norm norm, double linf, double l2, double l1) {
  return positive("eps", norm == Norm::kLinf ? linf : norm == Norm::kL2 ? l2 : l1);
}

void AttackParams::finish() {
  for (auto it = params_.begin(); it != params_.end(); ++it) {
    if (std::find(used_.begin(), used_.end(), it.key()) == used_.end()) {
      throw UsageError(attack_ + ": unknown parameter '" + it.key() + "' (see docs/attacks.md)");
    }
  }
}

void set_param_pairs(nlohmann::json& params, const std::vector<std::string>& pairs, const std::string& what) {
  for (const auto& pair : pairs) {
    const auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) throw UsageError(what + " '" + pair + "': expected key=value");
    params[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
}

AttackSpec parse_attack_spec(const std::string& text) {
  AttackSpec spec;
  spec.text = text;
  const auto colon = text.find(':');
  spec.name = text.substr(0, colon);
  if (spec.name.empty()) throw UsageError("attack '" + text + "': expected NAME[:key=value,...]");
  if (colon != std::string::npos) set_param_pairs(spec.params, split_list(text.substr(colon + 1)), "attack '" + text + "':");
  return spec;
}

std::unique_ptr<Attack> make_attack(const std::string& name, const nlohmann::json& params) {
  for (const auto& info : attack_registry()) {
    if (info.name != name) continue;
    AttackParams p(params, name);
    auto attack = info.make(p);
    p.finish();
    return attack;
  }
  std::string list;
  for (const auto& info : attack_registry()) list += (list.empty() ? "" : ", ") + info.name;
  throw UsageError("unknown attack '" + name + "' (known: " + list + ")");
}

// ---- bookkeeping -----------------------------------------------------------------------------

at::Tensor clamp_box(const at::Tensor& x) { return x.clamp(0.0, 1.0); }

at::Tensor lp_norms(const at::Tensor& delta, Norm norm) {
  auto flat = delta.flatten(1);
  switch (norm) {
    case Norm::kLinf: return flat.abs().amax(1);
    case Norm::kL2: return flat.norm(2, 1);
    case Norm::kL1: return flat.abs().sum(1);
  }
  return {};
}

namespace {

// Euclidean projection of each row of |v| onto the L1 ball of radius eps (Duchi et al. 2008).
at::Tensor project_l1_rows(const at::Tensor& v, double eps) {
  auto abs = v.abs();
  auto inside = abs.sum(1) <= eps;
  auto mu = std::get<0>(abs.sort(1, /*descending=*/true));
  auto cumsum = mu.cumsum(1);
  auto ks = torch::arange(1, v.size(1) + 1, v.options());
  auto cond = (mu - (cumsum - eps) / ks) > 0;
  // rho = last index where cond holds.
  auto rho = (cond.to(torch::kLong) * torch::arange(1, v.size(1) + 1, v.options().dtype(torch::kLong))).amax(1);
  auto theta = (cumsum.gather(1, (rho - 1).clamp_min(0).unsqueeze(1)).squeeze(1) - eps) / rho.to(v.dtype());
  auto projected = v.sign() * (abs - theta.unsqueeze(1)).clamp_min(0);
  return torch::where(inside.unsqueeze(1), v, projected);
}

}  // namespace

at::Tensor project_ball(const at::Tensor& delta, Norm norm, double eps) {
  switch (norm) {
    case Norm::kLinf: return delta.clamp(-eps, eps);
    case Norm::kL2: {
      auto n = lp_norms(delta, Norm::kL2).clamp_min(1e-12);
      auto factor = (eps / n).clamp_max(1.0);
      return delta * factor.view({-1, 1, 1, 1});
    }
    case Norm::kL1: return project_l1_rows(delta.flatten(1), eps).view_as(delta);
  }
  return delta;
}

at::Tensor uniform_like(const at::Tensor& like, at::Generator& gen, double lo, double hi) {
  auto cpu = torch::empty(like.sizes(), torch::TensorOptions().dtype(like.scalar_type()));
  cpu.uniform_(lo, hi, gen);
  return cpu.to(like.device());
}

at::Tensor normal_like(const at::Tensor& like, at::Generator& gen) {
  auto cpu = torch::empty(like.sizes(), torch::TensorOptions().dtype(like.scalar_type()));
  cpu.normal_(0.0, 1.0, gen);
  return cpu.to(like.device());
}

at::Tensor random_start(const at::Tensor& x, Norm norm, double eps, at::Generator& gen) {
  switch (norm) {
    case Norm::kLinf: return uniform_like(x, gen, -eps, eps);
    case Norm::kL2:
    case Norm::kL1: {
      auto d = normal_like(x, gen);
      auto n = lp_norms(d, norm).clamp_min(1e-12).view({-1, 1, 1, 1});
      auto r = uniform_like(n, gen);
      return d / n * r * eps;
    }
  }
  return {};
}

at::Tensor goal_met(const at::Tensor& logits, const at::Tensor& labels, const Goal& goal) {
  auto pred = logits.argmax(1);
  return goal.targeted ? pred.eq(goal.targets) : pred.ne(labels);
}

Goal goal_subset(const Goal& goal, const at::Tensor& index) {
  if (!goal.targeted) return goal;
  return Goal::targeted_to(goal.targets.index_select(0, index));
}

at::Tensor class_margin(const at::Tensor& logits, const at::Tensor& cls, bool targeted) {
  auto index = cls.view({-1, 1});
  auto own = logits.gather(1, index).squeeze(1);
  auto other = logits.scatter(1, index, -std::numeric_limits<double>::infinity()).amax(1);
  return targeted ? other - own : own - other;
}

at::Tensor goal_cross_entropy(const at::Tensor& logits, const at::Tensor& labels, const Goal& goal) {
  namespace F = torch::nn::functional;
  auto opts = F::CrossEntropyFuncOptions().reduction(torch::kNone);
  if (goal.targeted) return -F::cross_entropy(logits, goal.targets, opts);
  return F::cross_entropy(logits, labels, opts);
}

std::pair<at::Tensor, at::Tensor> input_gradient(Model& model, const at::Tensor& x,
                                                 const std::function<at::Tensor(const at::Tensor&)>& loss) {
  auto xr = x.detach().clone().requires_grad_(true);
  torch::Tensor logits;
  {
    torch::AutoGradMode enable(true);
    logits = model.logits(xr);
    auto l = loss(logits).sum();
    l.backward();
  }
  return {xr.grad().detach(), logits.detach()};
}

AttackStart start_attack(Model& model, const at::Tensor& images, const at::Tensor& labels) {
  AttackStart s;
  s.x = images.to(model.device());
  s.y = labels.to(model.device());
  {
    torch::NoGradGuard no_grad;
    s.clean_logits = model.logits(s.x);
  }
  s.result.clean_pred = s.clean_logits.argmax(1);
  s.result.queries = torch::ones({s.x.size(0)}, torch::TensorOptions().dtype(torch::kLong).device(s.x.device()));
  return s;
}

void finalize_result(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal,
                     AttackResult& result) {
  torch::NoGradGuard no_grad;
  auto x = images.to(model.device());
  auto adv = result.adversarial.to(model.device());
  auto lab = labels.to(model.device());
  if (!result.clean_pred.defined()) result.clean_pred = model.logits(x).argmax(1);
  auto logits = model.logits(adv);
  result.adv_pred = logits.argmax(1);
  result.success = goal_met(logits, lab, goal);
  auto delta = adv - x;
  result.linf = lp_norms(delta, Norm::kLinf);
  result.l2 = lp_norms(delta, Norm::kL2);
  if (!result.queries.defined()) {
    result.queries = torch::zeros({x.size(0)}, torch::TensorOptions().dtype(torch::kLong).device(x.device()));
  }
}

PendingSubset pending_subset(const at::Tensor& pending, const at::Tensor& x, const at::Tensor& y, const Goal& goal) {
  PendingSubset s;
  s.index = pending.nonzero().squeeze(1);
  s.x = x.index_select(0, s.index);
  s.y = y.index_select(0, s.index);
  s.goal = goal_subset(goal, s.index);
  return s;
}

at::Tensor merge_subset(at::Tensor& into, const at::Tensor& index, const at::Tensor& values, const at::Tensor& take) {
  if (!take.defined()) {
    into.index_copy_(0, index, values.to(into.device()));
    return index;
  }
  auto local = take.to(index.device()).nonzero().squeeze(1);
  auto written = index.index_select(0, local);
  into.index_copy_(0, written, values.to(into.device()).index_select(0, local));
  return written;
}

ActiveRows::ActiveRows(int64_t n, c10::Device device, bool compact) : compact_(compact) {
  index_ = torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(device));
  running_ = torch::ones({n}, torch::TensorOptions().dtype(torch::kBool).device(device));
}

at::Tensor ActiveRows::step(const at::Tensor& next, const at::Tensor& current) const {
  if (!frozen_) return next;  // the hot path: nothing to mask
  std::vector<int64_t> shape(static_cast<size_t>(next.dim()), 1);
  shape[0] = -1;
  return torch::where(running_.view(shape), next, current);
}

bool ActiveRows::retire(const at::Tensor& finished, std::initializer_list<at::Tensor*> state,
                        std::initializer_list<at::Tensor*> state_dim1) {
  auto stop = finished.to(running_.device()) & running_;
  if (!stop.any().item<bool>()) return true;
  if (!compact_) {
    running_ = running_ & ~stop;
    frozen_ = true;
    return running_.any().item<bool>();
  }
  auto stay = (~stop).nonzero().squeeze(1);
  for (auto* t : state) {
    if (t->defined()) *t = t->index_select(0, stay.to(t->device()));
  }
  for (auto* t : state_dim1) {
    if (t->defined()) *t = t->index_select(1, stay.to(t->device()));
  }
  index_ = index_.index_select(0, stay);
  running_ = running_.index_select(0, stay);
  return index_.numel() > 0;
}

namespace {

[[noreturn]] void out_of_memory_at_one(Model& model, const std::exception& e) {
  throw InputError(model.spec().name + ": out of memory on " + model.device().str() + " at batch 1 (" +
                   free_memory_text(model.device()) + "): " + one_line(e));
}

at::Tensor cat_defined(const at::Tensor& a, const at::Tensor& b) {
  if (!a.defined() || !b.defined()) return {};
  return torch::cat({a, b.to(a.device())});
}

// AutoAttack's per-stage records of two halves, as one batch's.
nlohmann::json join_details(const nlohmann::json& a, const nlohmann::json& b) {
  if (!a.is_object() || !b.is_object() || !a.contains("stages") || !b.contains("stages")) return a;
  nlohmann::json out = a;
  const int64_t n = a.value("n", int64_t{0}) + b.value("n", int64_t{0});
  out["n"] = n;
  for (size_t i = 0; i < out["stages"].size() && i < b["stages"].size(); ++i) {
    auto& s = out["stages"][i];
    const auto& t = b["stages"][i];
    for (const char* key : {"attacked", "broken", "robust"}) s[key] = s[key].get<int64_t>() + t[key].get<int64_t>();
    s["seconds"] = s["seconds"].get<double>() + t["seconds"].get<double>();
    s["robust_accuracy"] = n > 0 ? static_cast<double>(s["robust"].get<int64_t>()) / static_cast<double>(n) : 0.0;
  }
  return out;
}

}  // namespace

AttackResult run_splitting_on_oom(Attack& attack, Model& model, const at::Tensor& images, const at::Tensor& labels,
                                  const Goal& goal, int64_t* splits) {
  try {
    return attack.run(model, images, labels, goal);
  } catch (const std::exception& e) {
    if (!is_out_of_memory(e)) throw;
    const int64_t n = images.size(0);
    if (n <= 1) out_of_memory_at_one(model, e);
    if (splits) ++*splits;
    const int64_t half = n / 2;
    auto part = [&](int64_t from, int64_t count) {
      Goal g = goal.targeted ? Goal::targeted_to(goal.targets.narrow(0, from, count)) : goal;
      return run_splitting_on_oom(attack, model, images.narrow(0, from, count), labels.narrow(0, from, count), g,
                                  splits);
    };
    AttackResult a = part(0, half);
    AttackResult b = part(half, n - half);
    AttackResult r;
    r.adversarial = cat_defined(a.adversarial, b.adversarial);
    r.success = cat_defined(a.success, b.success);
    r.clean_pred = cat_defined(a.clean_pred, b.clean_pred);
    r.adv_pred = cat_defined(a.adv_pred, b.adv_pred);
    r.linf = cat_defined(a.linf, b.linf);
    r.l2 = cat_defined(a.l2, b.l2);
    r.queries = cat_defined(a.queries, b.queries);
    r.gradient_calls = a.gradient_calls + b.gradient_calls;
    r.details = join_details(a.details, b.details);
    return r;
  }
}

int64_t probe_batch_size(Model& model, const at::Tensor& sample, int64_t cap) {
  auto one = sample.narrow(0, 0, 1).to(model.device());
  for (int64_t size = std::max<int64_t>(cap, 1);; size /= 2) {
    try {
      auto x = one.expand({size, one.size(1), one.size(2), one.size(3)}).contiguous();
      auto grad = input_gradient(model, x, [](const at::Tensor& logits) { return logits.logsumexp(1); }).first;
      (void)grad.sum().item<double>();  // waits for the device
      return size;
    } catch (const std::exception& e) {
      if (!is_out_of_memory(e)) throw;
      if (size <= 1) out_of_memory_at_one(model, e);
    }
  }
}

int64_t auto_batch_cap(c10::Device device) { return device.is_cuda() ? 1024 : 128; }

std::vector<at::Tensor> runner_up_targets(const at::Tensor& clean_logits, int64_t count) {
  const int64_t k = clean_logits.size(1);
  auto order = std::get<1>(clean_logits.sort(1));
  std::vector<at::Tensor> out;
  for (int64_t rank = 2; rank <= std::min<int64_t>(count + 1, k); ++rank) out.push_back(order.select(1, k - rank));
  return out;
}

}  // namespace mirage
