// reports/gates.h — quality gates: the thresholds of an audit config checked against an audit.
// A CI job fails (exit 1) when any gate does not pass.
#pragma once
#include <string>
#include <vector>

#include "reports/audit_config.h"
#include "reports/robustness_audit.h"

namespace mirage {

struct GateResult {
  std::string metric;
  std::string attack;  // empty for metrics of the whole model
  bool has_eps = false;
  double eps = 0;
  std::string eps_text;
  std::string op;  // ">=" (a "min" gate) or "<=" (a "max" gate)
  double threshold = 0;
  double value = 0;
  bool passed = false;
};

// One result per bound of each gate ("min" and "max" of one gate give two), in config order.
std::vector<GateResult> evaluate_gates(const AuditConfig& config, const RobustnessAudit& audit);
bool all_passed(const std::vector<GateResult>& gates);

// A line of an audit's summary for the log; `warn` for a failed gate.
struct LogLine {
  std::string text;
  bool warn = false;
};
// What `mirage audit robustness` logs: clean accuracy, each attack x eps, and each gate (none for
// a shard: its own numbers decide nothing).
std::vector<LogLine> robustness_audit_lines(const RobustnessAudit& audit, const std::vector<GateResult>& gates,
                                            bool sharded);

}  // namespace mirage
