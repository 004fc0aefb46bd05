// reports/audit_config.h — the audit config a team checks into CI: which attacks at which eps,
// how many samples, and the gates that fail the job. Parsed once, checked up front (every
// attack x eps is built through make_attack, the same parser as `mirage attack`), so a typo
// fails in a second with the field's path, not after an hour of attacking.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attacks/attack.h"
#include "detectors/blind_spots.h"

namespace mirage {

// One entry of "attacks": an attack run once per eps.
struct AuditAttack {
  std::string id;    // what gates and the report call it: "id" if given, else the attack name
  std::string name;  // registry name
  std::string norm;  // as given ("linf", "l2", ...); empty = the attack's default
  std::vector<double> eps;             // in [0,1] pixel units, in config order
  std::vector<std::string> eps_text;   // as written ("8/255"), for reports
  nlohmann::json params = nlohmann::json::object();  // the other attack parameters
  std::string path;  // "config.attacks[0]", for messages
};

// A threshold on one metric. Metrics: clean_accuracy; robust_accuracy and success_rate (of an
// attack at an eps); autoattack_accuracy (the headline: autoattack at declared_eps).
struct AuditGate {
  std::string metric;
  std::string attack;  // an AuditAttack id; empty for clean_accuracy / autoattack_accuracy
  double eps = 0;
  std::string eps_text;
  bool has_min = false, has_max = false;
  double min = 0, max = 0;
  std::string path;  // "config.gates[1]"
};

struct AuditConfig {
  std::vector<AuditAttack> attacks;
  int64_t limit = 1000;  // samples audited (the first `limit`); 0 = all
  int64_t batch_size = 128;
  int64_t worst_k = 5;  // worst examples kept per attack x eps
  bool has_declared_eps = false;
  double declared_eps = 0;  // the eps the model claims robustness at (autoattack headline)
  std::string declared_eps_text;
  std::vector<AuditGate> gates;
  nlohmann::json source;  // the config as given, for the report
};

// Throws UsageError naming the field ("config.attacks[1].name: unknown attack 'pdg' ...").
AuditConfig parse_audit_config(const nlohmann::json& config);
// Reads and parses a config file; an unreadable file or invalid JSON is an InputError naming it.
AuditConfig read_audit_config(const std::string& path);

// The attack of `entry` at eps `eps` (params + eps + norm through make_attack).
std::unique_ptr<Attack> make_audit_attack(const AuditAttack& entry, size_t eps_index);

// The metrics gates may name, for messages and docs.
const std::vector<std::string>& audit_gate_metrics();

// --- The detector audit (`mirage audit detector`): the blind-spot search's settings and gates.

// A threshold on a detector metric. Metrics of the whole detector (auc, average_precision,
// accuracy, tpr, fpr, tpr_at_1pct_fpr, eer, ece); max_slice_failure_rate (the worst finding's
// failure rate among findings with n >= min_n, optionally of one "search"); slice_failure_rate
// (the finding of `search`, `slice` and, when given, `parameters`).
struct DetectorGate {
  std::string metric;
  std::string search, slice;  // slice_failure_rate; search also narrows max_slice_failure_rate
  nlohmann::json parameters = nlohmann::json::object();  // matched against a finding's parameters
  std::string population;      // fakes | reals; empty = any (slice_failure_rate defaults to fakes)
  int64_t min_n = 0;           // max_slice_failure_rate: ignore smaller findings (0 = config.min_slice)
  bool has_min = false, has_max = false;
  double min = 0, max = 0;
  std::string path;  // "config.gates[1]"
};

struct DetectorAuditConfig {
  int64_t n = 1000;      // fakes per GAN source
  int64_t limit = 1000;  // images per data source and of the reals (0 = all)
  BlindSpotOptions options;  // post-processing, evasion, clusters, latent search, examples, min_slice
  std::vector<DetectorGate> gates;
  nlohmann::json source;  // the config as given, for the report
};

// Throws UsageError naming the field ("config.gates[2].max: ..."); every field is optional, with
// the defaults of `mirage blind-spots`.
DetectorAuditConfig parse_detector_audit_config(const nlohmann::json& config);
// Its field list: n, limit, BlindSpotOptions::fields() and gates.
const OptionFields<DetectorAuditConfig>& detector_audit_fields();
DetectorAuditConfig read_detector_audit_config(const std::string& path);

const std::vector<std::string>& detector_gate_metrics();

}  // namespace mirage
