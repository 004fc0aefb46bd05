#include "reports/audit_config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "lib/error.h"
#include "lib/json_io.h"
#include "lib/options.h"
#include "lib/parse.h"

namespace mirage {

namespace {

// A number written as a JSON number or a string ("8/255").
double number_field(const nlohmann::json& v, const std::string& path) {
  if (v.is_number()) {
    double d = v.get<double>();
    if (!std::isfinite(d)) throw UsageError(path + ": must be finite");
    return d;
  }
  if (v.is_string()) return parse_number(v.get<std::string>(), path);
  throw UsageError(path + ": must be a number or a string like \"8/255\", got " + v.dump());
}

std::string number_text(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

int64_t integer_field(const nlohmann::json& obj, const std::string& key, int64_t fallback, int64_t min_value,
                      const std::string& path) {
  if (!obj.contains(key)) return fallback;
  const auto& v = obj[key];
  const std::string where = path + "." + key;
  if (!v.is_number_integer() && !(v.is_number() && std::floor(v.get<double>()) == v.get<double>())) {
    throw UsageError(where + ": must be an integer, got " + v.dump());
  }
  auto out = static_cast<int64_t>(v.get<double>());
  if (out < min_value) throw UsageError(where + ": must be >= " + std::to_string(min_value) + ", got " + v.dump());
  return out;
}

std::string string_field(const nlohmann::json& obj, const std::string& key, const std::string& path) {
  if (!obj.contains(key)) throw UsageError(path + "." + key + ": missing");
  if (!obj[key].is_string() || obj[key].get<std::string>().empty()) {
    throw UsageError(path + "." + key + ": must be a non-empty string, got " + obj[key].dump());
  }
  return obj[key].get<std::string>();
}

void only_keys(const nlohmann::json& obj, const std::set<std::string>& allowed, const std::string& path) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!allowed.count(it.key())) {
      std::string list;
      for (const auto& k : allowed) list += (list.empty() ? "" : ", ") + k;
      throw UsageError(path + "." + it.key() + ": unknown field (expected " + list + ")");
    }
  }
}

bool same_eps(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max(1.0, std::fabs(b)); }

AuditAttack parse_attack(const nlohmann::json& j, size_t i) {
  AuditAttack a;
  a.path = "config.attacks[" + std::to_string(i) + "]";
  if (!j.is_object()) throw UsageError(a.path + ": must be an object like {\"name\": \"pgd\", \"eps\": [\"8/255\"]}");
  only_keys(j, {"name", "id", "norm", "eps", "params"}, a.path);
  a.name = string_field(j, "name", a.path);
  bool known = false;
  std::string list;
  for (const auto& info : attack_registry()) {
    known = known || info.name == a.name;
    list += (list.empty() ? "" : ", ") + info.name;
  }
  if (!known) throw UsageError(a.path + ".name: unknown attack '" + a.name + "' (known: " + list + ")");
  a.id = j.contains("id") ? string_field(j, "id", a.path) : a.name;
  if (j.contains("norm")) a.norm = string_field(j, "norm", a.path);
  if (!j.contains("eps")) throw UsageError(a.path + ".eps: missing (a list like [\"4/255\", \"8/255\"])");
  nlohmann::json eps = j["eps"];
  if (!eps.is_array()) eps = nlohmann::json::array({eps});
  if (eps.empty()) throw UsageError(a.path + ".eps: must list at least one eps");
  for (size_t k = 0; k < eps.size(); ++k) {
    const std::string where = a.path + ".eps[" + std::to_string(k) + "]";
    double e = number_field(eps[k], where);
    if (!(e > 0)) throw UsageError(where + ": must be > 0");
    for (double seen : a.eps) {
      if (same_eps(seen, e)) throw UsageError(where + ": " + number_text(eps[k]) + " is listed twice");
    }
    a.eps.push_back(e);
    a.eps_text.push_back(number_text(eps[k]));
  }
  if (j.contains("params")) {
    if (!j["params"].is_object()) throw UsageError(a.path + ".params: must be an object like {\"steps\": 20}");
    a.params = j["params"];
    for (const char* key : {"eps", "norm"}) {
      if (a.params.contains(key)) {
        throw UsageError(a.path + ".params." + key + ": give it beside \"params\" (\"" + key + "\" of the entry)");
      }
    }
  }
  // Build every attack x eps now: unknown parameters and bad values fail before any work.
  for (size_t k = 0; k < a.eps.size(); ++k) {
    try {
      make_audit_attack(a, k);
    } catch (const UsageError& e) {
      throw UsageError(a.path + ": " + e.what());
    }
  }
  return a;
}

// A gate's "metric" (one of `metrics`) and its "min"/"max" bounds (numbers or "8/255"-style
// strings, finite, at least one), into any gate struct with those fields.
template <class Gate>
void parse_metric_and_bounds(const nlohmann::json& j, const std::vector<std::string>& metrics, Gate& g) {
  g.metric = string_field(j, "metric", g.path);
  if (std::find(metrics.begin(), metrics.end(), g.metric) == metrics.end()) {
    std::string list;
    for (const auto& m : metrics) list += (list.empty() ? "" : ", ") + m;
    throw UsageError(g.path + ".metric: unknown metric '" + g.metric + "' (known: " + list + ")");
  }
  for (const char* bound : {"min", "max"}) {
    if (!j.contains(bound)) continue;
    const std::string where = g.path + "." + bound;
    const auto& v = j[bound];
    double d = 0;
    if (v.is_number()) {
      d = v.get<double>();
    } else if (v.is_string()) {
      d = parse_number(v.get<std::string>(), where);
    } else {
      throw UsageError(where + ": must be a number, got " + v.dump());
    }
    if (!std::isfinite(d)) throw UsageError(where + ": must be finite");
    (std::string(bound) == "min" ? g.has_min : g.has_max) = true;
    (std::string(bound) == "min" ? g.min : g.max) = d;
  }
  if (!g.has_min && !g.has_max) throw UsageError(g.path + ": needs \"min\" or \"max\"");
}

AuditGate parse_gate(const nlohmann::json& j, size_t i, const AuditConfig& config) {
  AuditGate g;
  g.path = "config.gates[" + std::to_string(i) + "]";
  if (!j.is_object()) throw UsageError(g.path + ": must be an object like {\"metric\": \"clean_accuracy\", \"min\": 0.9}");
  only_keys(j, {"metric", "attack", "eps", "min", "max"}, g.path);
  parse_metric_and_bounds(j, audit_gate_metrics(), g);
  const bool per_attack = g.metric == "robust_accuracy" || g.metric == "success_rate";
  if (!per_attack) {
    if (j.contains("attack") || j.contains("eps")) {
      throw UsageError(g.path + ": metric " + g.metric + " takes no \"attack\" or \"eps\"");
    }
    if (g.metric == "autoattack_accuracy") {
      if (!config.has_declared_eps) throw UsageError(g.path + ".metric: autoattack_accuracy needs config.declared_eps");
      bool found = false;
      for (const auto& a : config.attacks) {
        if (a.name != "autoattack") continue;
        for (double e : a.eps) found = found || same_eps(e, config.declared_eps);
      }
      if (!found) {
        throw UsageError(g.path + ".metric: autoattack_accuracy needs an autoattack entry with eps " +
                         config.declared_eps_text + " (declared_eps) in config.attacks");
      }
    }
    return g;
  }
  g.attack = string_field(j, "attack", g.path);
  const AuditAttack* attack = nullptr;
  for (const auto& a : config.attacks) {
    if (a.id == g.attack) attack = &a;
  }
  if (!attack) throw UsageError(g.path + ".attack: '" + g.attack + "' is not an attack id in config.attacks");
  if (j.contains("eps")) {
    g.eps = number_field(j["eps"], g.path + ".eps");
    g.eps_text = number_text(j["eps"]);
  } else if (attack->eps.size() == 1) {
    g.eps = attack->eps[0];
    g.eps_text = attack->eps_text[0];
  } else {
    throw UsageError(g.path + ".eps: missing (attack '" + g.attack + "' runs at several eps)");
  }
  bool found = false;
  for (size_t k = 0; k < attack->eps.size(); ++k) {
    if (same_eps(attack->eps[k], g.eps)) {
      found = true;
      g.eps = attack->eps[k];
    }
  }
  if (!found) throw UsageError(g.path + ".eps: " + g.eps_text + " is not among the eps of attack '" + g.attack + "'");
  return g;
}

}  // namespace

const std::vector<std::string>& audit_gate_metrics() {
  static const std::vector<std::string> metrics = {"clean_accuracy", "robust_accuracy", "success_rate",
                                                   "autoattack_accuracy"};
  return metrics;
}

std::unique_ptr<Attack> make_audit_attack(const AuditAttack& entry, size_t eps_index) {
  nlohmann::json params = entry.params;
  params["eps"] = entry.eps.at(eps_index);
  if (!entry.norm.empty()) params["norm"] = entry.norm;
  return make_attack(entry.name, params);
}

AuditConfig parse_audit_config(const nlohmann::json& j) {
  AuditConfig c;
  if (!j.is_object()) throw UsageError("config: must be a JSON object with \"attacks\" and \"gates\"");
  only_keys(j, {"attacks", "limit", "batch_size", "worst_k", "declared_eps", "gates"}, "config");
  c.source = j;
  c.limit = integer_field(j, "limit", c.limit, 0, "config");
  c.batch_size = integer_field(j, "batch_size", c.batch_size, 1, "config");
  c.worst_k = integer_field(j, "worst_k", c.worst_k, 0, "config");
  if (j.contains("declared_eps")) {
    c.has_declared_eps = true;
    c.declared_eps = number_field(j["declared_eps"], "config.declared_eps");
    c.declared_eps_text = number_text(j["declared_eps"]);
    if (!(c.declared_eps > 0)) throw UsageError("config.declared_eps: must be > 0");
  }
  if (!j.contains("attacks") || !j["attacks"].is_array()) {
    throw UsageError("config.attacks: must be a list of attacks like [{\"name\": \"pgd\", \"eps\": [\"8/255\"]}]");
  }
  std::set<std::string> ids;
  for (size_t i = 0; i < j["attacks"].size(); ++i) {
    AuditAttack a = parse_attack(j["attacks"][i], i);
    if (!ids.insert(a.id).second) {
      throw UsageError(a.path + ".id: '" + a.id + "' is used twice (give each entry its own \"id\")");
    }
    c.attacks.push_back(std::move(a));
  }
  if (j.contains("gates")) {
    if (!j["gates"].is_array()) throw UsageError("config.gates: must be a list of gates");
    for (size_t i = 0; i < j["gates"].size(); ++i) c.gates.push_back(parse_gate(j["gates"][i], i, c));
  }
  return c;
}

namespace {

bool whole_metric(const std::string& m) {
  return m != "max_slice_failure_rate" && m != "slice_failure_rate";
}

DetectorGate parse_detector_gate(const nlohmann::json& j, size_t i) {
  DetectorGate g;
  g.path = "config.gates[" + std::to_string(i) + "]";
  if (!j.is_object()) throw UsageError(g.path + ": must be an object like {\"metric\": \"auc\", \"min\": 0.98}");
  only_keys(j, {"metric", "search", "slice", "parameters", "population", "min_n", "min", "max"}, g.path);
  parse_metric_and_bounds(j, detector_gate_metrics(), g);
  if (whole_metric(g.metric)) {
    for (const char* key : {"search", "slice", "parameters", "population", "min_n"}) {
      if (j.contains(key)) throw UsageError(g.path + "." + key + ": metric " + g.metric + " takes no \"" + key + "\"");
    }
    return g;
  }
  if (j.contains("search")) g.search = string_field(j, "search", g.path);
  if (j.contains("population")) {
    g.population = string_field(j, "population", g.path);
    if (g.population != "fakes" && g.population != "reals") {
      throw UsageError(g.path + ".population: must be \"fakes\" or \"reals\", got \"" + g.population + "\"");
    }
  } else if (g.metric == "slice_failure_rate") {
    g.population = "fakes";
  }
  if (g.metric == "max_slice_failure_rate") {
    for (const char* key : {"slice", "parameters"}) {
      if (j.contains(key)) throw UsageError(g.path + "." + key + ": max_slice_failure_rate takes no \"" + key + "\"");
    }
    g.min_n = integer_field(j, "min_n", 0, 1, g.path);
    return g;
  }
  if (j.contains("min_n")) throw UsageError(g.path + ".min_n: slice_failure_rate takes no \"min_n\"");
  if (g.search.empty()) throw UsageError(g.path + ".search: missing (e.g. \"post-processing\")");
  g.slice = string_field(j, "slice", g.path);
  if (j.contains("parameters")) {
    if (!j["parameters"].is_object()) throw UsageError(g.path + ".parameters: must be an object like {\"quality\": 50}");
    g.parameters = j["parameters"];
  }
  return g;
}

}  // namespace

const std::vector<std::string>& detector_gate_metrics() {
  static const std::vector<std::string> metrics = {"auc", "average_precision", "accuracy", "tpr", "fpr",
                                                   "tpr_at_1pct_fpr", "eer", "ece", "max_slice_failure_rate",
                                                   "slice_failure_rate"};
  return metrics;
}

const OptionFields<DetectorAuditConfig>& detector_audit_fields() {
  using C = DetectorAuditConfig;
  static const OptionFields<C> f =
      OptionFields<C>(Naming::kPath)
          .add("n", &C::n).at_least(1)
          .add("limit", &C::limit).at_least(0)
          .include(&C::options, BlindSpotOptions::fields())
          .add("gates", [](const C& c) { return c.source.value("gates", nlohmann::json::array()); },
               [](C& c, const nlohmann::json& v, const std::string& what) {
                 if (!v.is_array()) throw UsageError(what + ": must be a list of gates");
                 c.gates.clear();
                 for (size_t i = 0; i < v.size(); ++i) c.gates.push_back(parse_detector_gate(v[i], i));
               });
  return f;
}

DetectorAuditConfig parse_detector_audit_config(const nlohmann::json& j) {
  DetectorAuditConfig c;
  c.options.min_slice = 20;  // the blind-spots command's default
  if (!j.is_object()) throw UsageError("config: must be a JSON object (docs/reports.md)");
  c.source = j;
  detector_audit_fields().from_json(c, j, "config");
  return c;
}

DetectorAuditConfig read_detector_audit_config(const std::string& path) {
  return parse_detector_audit_config(read_json_file(path, "audit config"));
}

AuditConfig read_audit_config(const std::string& path) {
  return parse_audit_config(read_json_file(path, "audit config"));
}

}  // namespace mirage
