#include "reports/merge.h"

#include <algorithm>
#include <map>

#include "lib/error.h"
#include "lib/hash.h"
#include "reports/audit_config.h"
#include "reports/gates.h"
#include "reports/report_json.h"
#include "reports/schema.h"

namespace mirage {

namespace {

using nlohmann::json;

std::string shard_text(int64_t index, int64_t count) { return std::to_string(index) + "/" + std::to_string(count); }

// Column `field` of the samples, which must have `n` entries.
const json& column(const json& parent, const std::string& field, const std::string& path, size_t n,
                   const std::string& name) {
  const json& c = parent.at(field);
  if (c.size() != n) {
    throw InputError(name + ": " + path + field + " has " + std::to_string(c.size()) + " entries for " +
                     std::to_string(n) + " samples (data.n)");
  }
  return c;
}

StageTime stage_from(const json& j, const std::string& name) {
  StageTime t;
  t.name = name;
  t.started = j.at("started").get<std::string>();
  t.finished = j.at("finished").get<std::string>();
  t.seconds = j.at("seconds").get<double>();
  return t;
}

// Stages of the same name (the clean pass, each attack x eps) of every shard, as one: earliest
// start, latest finish, the seconds added up (the work done, not the wall time of parallel shards).
void add_stage(std::vector<StageTime>& into, const StageTime& t) {
  for (auto& s : into) {
    if (s.name != t.name) continue;
    s.started = std::min(s.started, t.started);
    s.finished = std::max(s.finished, t.finished);
    s.seconds += t.seconds;
    return;
  }
  into.push_back(t);
}

AuditConfig config_of(const json& report, const std::string& name) {
  try {
    return parse_audit_config(report.at("config"));
  } catch (const UsageError& e) {
    throw InputError(name + ": " + e.what());
  }
}

}  // namespace

RobustnessAudit audit_from_report(const json& report, const std::string& name) {
  const AuditConfig config = config_of(report, name);
  RobustnessAudit audit;
  const json& data = report.at("data");
  audit.n = data.at("n").get<int64_t>();
  audit.num_classes = data.at("num_classes").get<int64_t>();
  const json& shard = report.at("shard");
  if (shard.is_null()) {
    audit.total_n = audit.end = audit.n;
  } else {
    audit.shard.index = shard.at("index").get<int64_t>();
    audit.shard.count = shard.at("count").get<int64_t>();
    audit.first = shard.at("first").get<int64_t>();
    audit.end = shard.at("end").get<int64_t>();
    audit.total_n = shard.at("total_n").get<int64_t>();
    if (audit.shard.index > audit.shard.count || audit.end - audit.first != audit.n || audit.end > audit.total_n) {
      throw InputError(name + ": shard " + shard.dump() + " does not describe data.n = " + std::to_string(audit.n) +
                       " samples of a shard");
    }
  }
  for (const auto& row : report.at("clean_per_class")) {
    if (!row.contains("name")) {
      audit.class_names.clear();
      break;
    }
    audit.class_names.push_back(row.at("name").get<std::string>());
  }

  // Timing: stages by name, so each result finds its own.
  const json& timing = report.at("timing");
  audit.total = stage_from(timing, "total");
  std::map<std::string, StageTime> stage_by_name;
  for (const auto& s : timing.at("stages")) {
    audit.stages.push_back(stage_from(s, s.at("name").get<std::string>()));
    stage_by_name.emplace(audit.stages.back().name, audit.stages.back());
  }

  const json& results = report.at("results");
  for (size_t r = 0; r < results.size(); ++r) {
    const json& j = results[r];
    AttackEpsResult res;
    res.attack = j.at("attack").get<std::string>();
    res.name = j.at("name").get<std::string>();
    res.norm = j.at("norm").get<std::string>();
    res.eps = j.at("eps").get<double>();
    res.eps_text = j.value("eps_text", std::string());
    res.black_box = j.at("black_box").get<bool>();
    res.options = j.at("options");
    res.gradient_calls = j.at("gradient_calls").get<int64_t>();
    const std::string stage = res.attack + " eps=" + res.eps_text;
    auto it = stage_by_name.find(stage);
    res.time = it != stage_by_name.end() ? it->second : StageTime{stage, "", "", 0.0};
    res.time.seconds = j.at("seconds").get<double>();
    for (const auto& w : j.at("worst")) {
      WorstExample e;
      e.index = w.at("index").get<int64_t>();
      e.id = w.at("id").get<std::string>();
      e.label = w.at("label").get<int64_t>();
      e.clean_pred = w.at("clean_pred").get<int64_t>();
      e.adv_pred = w.at("adv_pred").get<int64_t>();
      e.margin = w.at("margin").get<double>();
      e.linf = w.at("linf").get<double>();
      e.l2 = w.at("l2").get<double>();
      if (w.contains("images")) {
        e.clean_image = w["images"].at("clean").get<std::string>();
        e.adversarial_image = w["images"].at("adversarial").get<std::string>();
      }
      res.worst.push_back(std::move(e));
    }
    audit.results.push_back(std::move(res));
  }

  // The records, columnar in the report.
  const json& samples = report.at("samples");
  const auto n = static_cast<size_t>(audit.n);
  const json& index = column(samples, "index", "samples.", n, name);
  const json& id = column(samples, "id", "samples.", n, name);
  const json& label = column(samples, "label", "samples.", n, name);
  const json& clean_pred = column(samples, "clean_pred", "samples.", n, name);
  const json& clean_correct = column(samples, "clean_correct", "samples.", n, name);
  const json& outcomes = samples.at("results");
  if (outcomes.size() != audit.results.size()) {
    throw InputError(name + ": samples.results has " + std::to_string(outcomes.size()) + " entries for " +
                     std::to_string(audit.results.size()) + " results");
  }
  audit.samples.resize(n);
  for (size_t i = 0; i < n; ++i) {
    SampleRecord& s = audit.samples[i];
    s.index = index[i].get<int64_t>();
    if (s.index != audit.first + static_cast<int64_t>(i)) {
      throw InputError(name + ": samples.index[" + std::to_string(i) + "] is " + std::to_string(s.index) + ", expected " +
                       std::to_string(audit.first + static_cast<int64_t>(i)) + " (the samples [first, end) in order)");
    }
    s.id = id[i].get<std::string>();
    s.label = label[i].get<int64_t>();
    s.clean_pred = clean_pred[i].get<int64_t>();
    s.clean_correct = clean_correct[i].get<bool>();
    s.outcomes.resize(audit.results.size());
  }
  for (size_t r = 0; r < outcomes.size(); ++r) {
    const json& o = outcomes[r];
    const std::string path = "samples.results[" + std::to_string(r) + "].";
    if (o.at("attack") != audit.results[r].attack || o.at("eps_text") != audit.results[r].eps_text) {
      throw InputError(name + ": " + path + "attack/eps_text do not match results[" + std::to_string(r) + "]");
    }
    const json& correct = column(o, "correct", path, n, name);
    const json& adv_pred = column(o, "adv_pred", path, n, name);
    const json& linf = column(o, "linf", path, n, name);
    const json& l2 = column(o, "l2", path, n, name);
    const json& queries = column(o, "queries", path, n, name);
    for (size_t i = 0; i < n; ++i) {
      SampleOutcome& out = audit.samples[i].outcomes[r];
      out.correct = correct[i].get<bool>();
      out.adv_pred = adv_pred[i].get<int64_t>();
      out.linf = linf[i].get<double>();
      out.l2 = l2[i].get<double>();
      out.queries = queries[i].get<int64_t>();
    }
  }

  summarize_audit(audit, config);
  if (audit.data_sha256 != data.at("sha256").get<std::string>()) {
    throw InputError(name + ": data.sha256 does not match the ids and labels of its samples");
  }
  return audit;
}

json merge_robustness_reports(const std::vector<json>& shards, const std::vector<std::string>& names) {
  if (shards.empty()) throw UsageError("merge: no shard reports given");
  if (names.size() != shards.size()) throw InternalError("merge: one name per report is needed");
  for (size_t i = 0; i < shards.size(); ++i) {
    auto errors = validate_report(shards[i]);
    if (!errors.empty()) throw InputError(names[i] + ": not a valid robustness report: " + errors.front());
    if (shards[i]["kind"] != "robustness") {
      throw UsageError(names[i] + ": a " + shards[i]["kind"].get<std::string>() +
                       " report; only robustness audits are sharded and merged");
    }
  }
  for (size_t i = 0; i < shards.size(); ++i) {
    if (shards[i]["shard"].is_null()) {
      throw UsageError(names[i] + " is not a shard report (its \"shard\" is null: it ran without --shard)");
    }
  }

  // The fields that make reports shards of one audit, as JSON pointers with their report names.
  const std::vector<std::pair<const char*, const char*>> same = {
      {"/schema_version", "schema_version"}, {"/model/sha256", "model.sha256"},
      {"/config", "config"},                 {"/reproducibility/seed", "reproducibility.seed"},
      {"/data/name", "data.name"},           {"/data/num_classes", "data.num_classes"},
      {"/shard/count", "shard.count"},       {"/shard/total_n", "shard.total_n"}};
  for (size_t i = 1; i < shards.size(); ++i) {
    for (const auto& [pointer, field] : same) {
      const json::json_pointer p(pointer);
      if (shards[i].at(p) != shards[0].at(p)) {
        throw UsageError(names[i] + ": shards do not belong together: " + field + " differs from " + names[0]);
      }
    }
  }

  const int64_t count = shards[0]["shard"]["count"].get<int64_t>();
  const int64_t total_n = shards[0]["shard"]["total_n"].get<int64_t>();
  std::vector<int> owner(static_cast<size_t>(count) + 1, -1);
  for (size_t i = 0; i < shards.size(); ++i) {
    const int64_t index = shards[i]["shard"]["index"].get<int64_t>();
    if (index > count) {
      throw UsageError(names[i] + ": shard.index " + std::to_string(index) + " is larger than shard.count " +
                       std::to_string(count));
    }
    int& o = owner[static_cast<size_t>(index)];
    if (o >= 0) {
      throw UsageError(names[i] + ": shard " + shard_text(index, count) + " is given twice (also " +
                       names[static_cast<size_t>(o)] + ")");
    }
    o = static_cast<int>(i);
  }
  for (int64_t index = 1; index <= count; ++index) {
    if (owner[static_cast<size_t>(index)] < 0) {
      std::string given;
      for (const auto& n : names) given += (given.empty() ? "" : ", ") + n;
      throw UsageError("shard " + shard_text(index, count) + " is missing (given: " + given + ")");
    }
  }

  const AuditConfig config = config_of(shards[0], names[0]);
  RobustnessAudit merged;
  for (int64_t index = 1; index <= count; ++index) {
    const auto i = static_cast<size_t>(owner[static_cast<size_t>(index)]);
    RobustnessAudit part = audit_from_report(shards[i], names[i]);
    const auto [first, end] = shard_range(total_n, config.batch_size, part.shard);
    if (part.first != first || part.end != end) {
      throw InputError(names[i] + ": shard.first/end [" + std::to_string(part.first) + ", " + std::to_string(part.end) +
                       ") are not the samples of shard " + shard_text(index, count) + " of " + std::to_string(total_n) +
                       " in batches of " + std::to_string(config.batch_size) + " ([" + std::to_string(first) + ", " +
                       std::to_string(end) + "))");
    }
    if (index == 1) {
      merged = std::move(part);
      continue;
    }
    if (part.results.size() != merged.results.size()) {
      throw InputError(names[i] + ": " + std::to_string(part.results.size()) + " results, " + names[0] + " has " +
                       std::to_string(merged.results.size()));
    }
    for (auto& s : part.samples) merged.samples.push_back(std::move(s));
    for (size_t r = 0; r < part.results.size(); ++r) {
      auto& into = merged.results[r];
      const auto& from = part.results[r];
      if (from.attack != into.attack || from.eps_text != into.eps_text) {
        throw InputError(names[i] + ": results[" + std::to_string(r) + "] is " + from.attack + " eps " + from.eps_text +
                         ", in " + names[0] + " " + into.attack + " eps " + into.eps_text);
      }
      into.gradient_calls += from.gradient_calls;
      into.worst.insert(into.worst.end(), from.worst.begin(), from.worst.end());
    }
    for (const auto& s : part.stages) add_stage(merged.stages, s);
    merged.total.started = std::min(merged.total.started, part.total.started);
    merged.total.finished = std::max(merged.total.finished, part.total.finished);
    merged.total.seconds += part.total.seconds;
  }
  // Each shard kept its own worst_k under the same total order, so the whole run's worst_k are among them.
  for (auto& r : merged.results) {
    std::sort(r.worst.begin(), r.worst.end(), worse_than);
    if (static_cast<int64_t>(r.worst.size()) > config.worst_k) r.worst.resize(static_cast<size_t>(config.worst_k));
    for (const auto& s : merged.stages) {
      if (s.name == r.attack + " eps=" + r.eps_text) r.time = s;
    }
  }
  merged.shard = Shard{};
  merged.first = 0;
  merged.end = merged.total_n = total_n;
  summarize_audit(merged, config);
  const auto gates = evaluate_gates(config, merged);

  const json& first = shards[static_cast<size_t>(owner[1])];
  ReportMetadata meta;
  meta.seed = first["reproducibility"]["seed"].get<uint64_t>();
  meta.model_path = first["model"]["path"].get<std::string>();
  meta.model_sha256 = first["model"]["sha256"].get<std::string>();
  meta.model_spec = first["model"]["spec"];
  meta.data_name = first["data"]["name"].get<std::string>();
  json report = robustness_report_json(merged, config, gates, meta);
  // The runs' own record (versions, command, device of shard 1), not this process's.
  report["reproducibility"] = first["reproducibility"];
  json from = json::array();
  for (int64_t index = 1; index <= count; ++index) {
    from.push_back({{"file", names[static_cast<size_t>(owner[static_cast<size_t>(index)])]},
                    {"shard", shard_text(index, count)}});
  }
  report["merged_from"] = from;
  auto errors = validate_report(report);
  if (!errors.empty()) throw InternalError("the merged report does not match its own schema: " + errors.front());
  return report;
}

}  // namespace mirage
