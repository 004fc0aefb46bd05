#include "reports/schema.h"

// Without it valijson prints and aborts on a schema it cannot parse; mirage wants an exception.
#define VALIJSON_USE_EXCEPTIONS 1
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <cctype>
#include <map>
#include <memory>

#include "lib/error.h"

namespace mirage {

// Generated from reports/schemas/ (schema_text.cpp.in).
const char* robustness_schema_text();
const char* detector_schema_text();

namespace {

struct CompiledSchema {
  nlohmann::json document;
  valijson::Schema schema;
};

// Debian's valijson parses draft 7; the schemas use only keywords draft 7 also has, and reach
// "$defs" by JSON pointer, so the 2020-12 header is only a label to it.
const CompiledSchema& compiled(const std::string& kind) {
  static std::map<std::string, std::unique_ptr<CompiledSchema>> cache;
  auto it = cache.find(kind);
  if (it != cache.end()) return *it->second;
  const char* text = nullptr;
  if (kind == "robustness") text = robustness_schema_text();
  if (kind == "detector") text = detector_schema_text();
  if (!text) throw UsageError("kind: '" + kind + "' is not a report kind mirage knows (robustness, detector)");
  auto c = std::make_unique<CompiledSchema>();
  try {
    c->document = nlohmann::json::parse(text);
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(c->document);
    parser.populateSchema(adapter, c->schema);
  } catch (const std::exception& e) {
    throw InternalError("the built-in " + kind + " schema does not parse: " + std::string(e.what()));
  }
  return *cache.emplace(kind, std::move(c)).first->second;
}

// valijson's context ["<root>", "[results]", "[0]", "[value]"] as "$.results[0].value".
std::string json_path(const std::vector<std::string>& context) {
  std::string out = "$";
  for (const auto& part : context) {
    if (part == "<root>") continue;
    std::string inner = part.size() >= 2 && part.front() == '[' && part.back() == ']' ? part.substr(1, part.size() - 2) : part;
    bool index = !inner.empty();
    for (char ch : inner) index = index && std::isdigit(static_cast<unsigned char>(ch));
    out += index ? "[" + inner + "]" : "." + inner;
  }
  return out;
}

}  // namespace

const nlohmann::json& report_schema(const std::string& kind) { return compiled(kind).document; }

std::vector<std::string> validate_report(const nlohmann::json& report) {
  if (!report.is_object()) return {"$: a report must be a JSON object"};
  if (!report.contains("kind") || !report["kind"].is_string()) return {"$.kind: missing (a report names its kind)"};
  const std::string kind = report["kind"];
  if (kind != "robustness" && kind != "detector") {
    return {"$.kind: '" + kind + "' is not a report kind mirage knows (robustness, detector)"};
  }
  const CompiledSchema& c = compiled(kind);
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(report);
  std::vector<std::string> errors;
  if (validator.validate(c.schema, target, &results)) return errors;
  valijson::ValidationResults::Error error;
  std::vector<std::string> wrappers;
  while (results.popError(error)) {
    // valijson repeats each failure at every enclosing object and array; the leaf says it all.
    const bool wrapper = error.description.rfind("Failed to validate against schema associated", 0) == 0 ||
                         error.description.rfind("Failed to validate item #", 0) == 0;
    (wrapper ? wrappers : errors).push_back(json_path(error.context) + ": " + error.description);
  }
  if (errors.empty()) errors = wrappers;
  if (errors.empty()) errors.push_back("$: does not match the " + kind + " schema");
  return errors;
}

}  // namespace mirage
