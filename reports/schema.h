// reports/schema.h — validates reports against their JSON Schemas (reports/schemas/), which are
// compiled into the binary, so an installed mirage needs no source tree to check a report.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace mirage {

// The schema of a report kind ("robustness", "detector"); an unknown kind is a UsageError.
const nlohmann::json& report_schema(const std::string& kind);

// Every way `report` breaks the schema of its "kind", one line each, as
// "$.results[0].robust_accuracy.value: <what>"; empty when valid. A report without a known
// "kind" gives one error saying so.
std::vector<std::string> validate_report(const nlohmann::json& report);

}  // namespace mirage
