// reports/merge.h — merging the shard reports of one robustness audit (`--shard I/N`) into the
// report the unsharded run writes. A shard runs exactly the whole run's batches for its samples,
// seeded per batch (reports/robustness_audit.h), and writes every per-sample record; merging
// concatenates the records and recomputes every rate, interval, percentile, curve, headline and
// gate from them, so the merged numbers are the whole run's, not an average of shard numbers.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "reports/robustness_audit.h"

namespace mirage {

// The audit a robustness report describes: its records, results' metadata (attack, name, norm,
// eps, options, gradient calls, worst examples with their image paths, seconds), stages, total,
// class names and shard; every derived number is recomputed from the records (summarize_audit,
// with the report's own config). A report whose parts disagree (a samples column of the wrong length, a
// result the samples do not cover) is an InputError naming `name` and the field. The report is
// assumed to match its schema (validate_report).
RobustnessAudit audit_from_report(const nlohmann::json& report, const std::string& name = "report");

// The report of the whole audit from all its shard reports (any order); `names` (the files) are
// for messages. A report that does not match the schema is an InputError ("b.json: not a valid
// robustness report: $.data.n: ..."); reports that are not the N shards of one audit (another
// model, config, seed or data; a shard missing or given twice; an unsharded report) are a
// UsageError naming the file and field ("b.json: shards do not belong together: model.sha256
// differs from a.json"). The result has "shard": null, the reproducibility of shard 1, a
// top-level "merged_from": [{"file", "shard": "I/N"}] in shard order, and timing from the
// earliest start to the latest finish with the seconds of every shard (and of each stage) added
// up. It is checked against the schema; a merged report is not a shard and does not merge again.
nlohmann::json merge_robustness_reports(const std::vector<nlohmann::json>& shards, const std::vector<std::string>& names);

}  // namespace mirage
