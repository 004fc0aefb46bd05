// reports/report_json.h — the robustness report: an audit, its gates and everything needed to
// reproduce it, as versioned JSON (reports/schemas/robustness.schema.json, docs/reports.md).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "reports/audit_config.h"
#include "reports/gates.h"
#include "reports/robustness_audit.h"

namespace mirage {

// The schema version a report is written with; bumped on any incompatible change.
inline constexpr const char* kReportSchemaVersion = "1.0";

// What the audit itself does not know: the run's runtime and inputs.
struct ReportMetadata {
  std::vector<std::string> command;  // the command line, for the record
  std::string device = "cpu";
  int threads = 1;
  uint64_t seed = 0;
  std::string model_path, model_sha256;
  nlohmann::json model_spec = nlohmann::json::object();
  std::string data_name;
  std::string images_dir;  // where write_worst_images wrote the PNGs; empty = none written
};

// What every report records about its run: {"versions" (mirage, git revision, LibTorch, OpenCV),
// "command", "device", "threads", "seed"}, and {"started", "finished", "seconds", "stages"}.
nlohmann::json reproducibility_json(const std::vector<std::string>& command, const std::string& device, int threads,
                                    uint64_t seed);
nlohmann::json timing_json(const StageTime& total, const std::vector<StageTime>& stages);

// The full report: schema_version, kind, reproducibility, model, data, config as given, shard
// (null, or {index, count, first, end, total_n}), timing, results, curves, headline, gates,
// "passed", and "samples": every per-sample record, columnar ({"index": [...], "id": [...],
// "label", "clean_pred", "clean_correct", "results": [{"correct", "adv_pred", "linf", "l2",
// "queries"} per result]}), from which reports/merge.h rebuilds the audit.
nlohmann::json robustness_report_json(const RobustnessAudit& audit, const AuditConfig& config,
                                      const std::vector<GateResult>& gates, const ReportMetadata& meta);

// File names (in the images folder) of worst example `rank` of result `result`: clean and
// adversarial; a shard's names start "shardII-of-NN_", so the shards of one audit can share a folder.
std::string worst_image_name(size_t result, size_t rank, bool adversarial, const Shard& shard = {});
// Writes every worst example's clean/adversarial pair as 16-bit PNGs into `dir` (created); examples
// read back from a report (no tensors) are skipped.
void write_worst_images(const RobustnessAudit& audit, const std::string& dir);

}  // namespace mirage
