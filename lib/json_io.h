// lib/json_io.h — JSON files and texts as users hand them to mirage, and the JSON of shared metrics.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "lib/metrics.h"

namespace mirage {

// Reads and parses a JSON file. A missing or unreadable file, or invalid JSON, is an InputError
// "<what> <path>: cannot read" / "<what> <path>: not valid JSON (<parser's message>)"; `what`
// (e.g. "--config", "checkpoint") may be empty.
nlohmann::json read_json_file(const std::string& path, const std::string& what = "");

// Parses JSON given on a flag or in a field; invalid text is a UsageError "<what>: not valid JSON (...)".
nlohmann::json parse_json_text(const std::string& text, const std::string& what);

// A Rate as {value_key: ratio, count_key: count, of_key: of, "ci95": [lo, hi]}. Reports name the
// three fields for what they count (e.g. "rate", "failures", "n" for a blind-spot slice).
struct RateKeys {
  const char* value = "value";
  const char* count = "count";
  const char* of = "of";
};
nlohmann::json rate_json(const Rate& rate, const RateKeys& keys = {});
// The same, from the counts.
nlohmann::json rate_json(int64_t count, int64_t of, const RateKeys& keys = {});

// {"n", "mean", "median", "p95", "max"} of a sample (the four statistics null when it is empty).
nlohmann::json stats_json(const ValueStats& stats);

}  // namespace mirage
