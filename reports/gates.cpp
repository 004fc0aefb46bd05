#include "reports/gates.h"

#include <cstdio>

#include "lib/error.h"

namespace mirage {

namespace {

double metric_value(const AuditGate& gate, const RobustnessAudit& audit) {
  if (gate.metric == "clean_accuracy") return audit.clean_accuracy.value;
  if (gate.metric == "autoattack_accuracy") {
    if (!audit.has_headline) throw InternalError(gate.path + ": the audit has no autoattack headline");
    return audit.headline.value;
  }
  for (const auto& r : audit.results) {
    if (r.attack != gate.attack || r.eps != gate.eps) continue;
    return gate.metric == "robust_accuracy" ? r.robust_accuracy.value : r.success_rate.value;
  }
  // parse_audit_config checked that the attack and eps exist; the audit runs every one.
  throw InternalError(gate.path + ": no result for attack '" + gate.attack + "' at eps " + gate.eps_text);
}

}  // namespace

std::vector<GateResult> evaluate_gates(const AuditConfig& config, const RobustnessAudit& audit) {
  std::vector<GateResult> out;
  for (const auto& gate : config.gates) {
    const double value = metric_value(gate, audit);
    for (int bound = 0; bound < 2; ++bound) {
      if (bound == 0 && !gate.has_min) continue;
      if (bound == 1 && !gate.has_max) continue;
      GateResult g;
      g.metric = gate.metric;
      g.attack = gate.attack;
      g.has_eps = !gate.attack.empty();
      g.eps = gate.eps;
      g.eps_text = gate.eps_text;
      if (gate.metric == "autoattack_accuracy") {
        g.attack = "autoattack";
        g.has_eps = true;
        g.eps = audit.headline_eps;
        g.eps_text = audit.headline_eps_text;
      }
      g.op = bound == 0 ? ">=" : "<=";
      g.threshold = bound == 0 ? gate.min : gate.max;
      g.value = value;
      g.passed = bound == 0 ? value >= g.threshold : value <= g.threshold;
      out.push_back(g);
    }
  }
  return out;
}

bool all_passed(const std::vector<GateResult>& gates) {
  for (const auto& g : gates) {
    if (!g.passed) return false;
  }
  return true;
}

std::vector<LogLine> robustness_audit_lines(const RobustnessAudit& audit, const std::vector<GateResult>& gates,
                                            bool sharded) {
  std::vector<LogLine> out;
  char line[200];
  std::snprintf(line, sizeof(line), "clean accuracy %.4f on %lld images", audit.clean_accuracy.value,
                static_cast<long long>(audit.n));
  out.push_back({line});
  for (const auto& r : audit.results) {
    std::snprintf(line, sizeof(line), "  %-12s eps %-8s robust accuracy %.4f [%.4f, %.4f]  (%.1f s)", r.attack.c_str(),
                  r.eps_text.c_str(), r.robust_accuracy.value, r.robust_accuracy.lo, r.robust_accuracy.hi, r.time.seconds);
    out.push_back({line});
  }
  for (const auto& g : gates) {
    if (sharded) break;
    std::string what = g.metric + (g.attack.empty() ? "" : " " + g.attack) + (g.has_eps ? " eps " + g.eps_text : "");
    std::snprintf(line, sizeof(line), "gate %s: %.4f %s %.4f %s", what.c_str(), g.value, g.op.c_str(), g.threshold,
                  g.passed ? "passed" : "FAILED");
    out.push_back({line, !g.passed});
  }
  return out;
}

}  // namespace mirage
