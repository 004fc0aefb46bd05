#include "lib/options.h"

#include <cmath>
#include <cstdio>

#include "lib/error.h"
#include "lib/parse.h"

namespace mirage::options_detail {

double read_double(const nlohmann::json& v, const std::string& what) {
  if (v.is_number()) {
    const double d = v.get<double>();
    if (!std::isfinite(d)) throw UsageError(what + ": must be finite");
    return d;
  }
  if (v.is_string()) return parse_number(v.get<std::string>(), what);
  throw UsageError(what + ": must be a number, got " + v.dump());
}

int64_t read_int(const nlohmann::json& v, const std::string& what) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float() || v.is_string()) {
    const double d = read_double(v, what);
    if (d != std::floor(d) || std::fabs(d) > 9.0e15) throw UsageError(what + ": must be an integer, got " + v.dump());
    return static_cast<int64_t>(d);
  }
  throw UsageError(what + ": must be an integer, got " + v.dump());
}

uint64_t read_uint(const nlohmann::json& v, const std::string& what) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  const int64_t i = read_int(v, what);
  if (i < 0) throw UsageError(what + ": must be >= 0, got " + v.dump());
  return static_cast<uint64_t>(i);
}

bool read_bool(const nlohmann::json& v, const std::string& what) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    if (s == "true" || s == "1" || s == "yes") return true;
    if (s == "false" || s == "0" || s == "no") return false;
  }
  if (v.is_number_integer()) return v.get<int64_t>() != 0;
  throw UsageError(what + ": must be true or false, got " + v.dump());
}

std::string read_string(const nlohmann::json& v, const std::string& what) {
  if (!v.is_string()) throw UsageError(what + ": must be a string, got " + v.dump());
  return v.get<std::string>();
}

std::vector<nlohmann::json> read_list(const nlohmann::json& v, const std::string& what) {
  if (v.is_array()) return std::vector<nlohmann::json>(v.begin(), v.end());
  if (v.is_string()) {  // "a,b,c"; "none" (as parse_number_list) or "" is the empty list
    std::vector<nlohmann::json> out;
    if (v.get<std::string>() == "none") return out;
    for (const auto& item : split_list(v.get<std::string>())) out.emplace_back(item);
    return out;
  }
  bad_value(what, "a list (a JSON array or \"a,b,c\")", v);
}

void bad_value(const std::string& what, const std::string& expected, const nlohmann::json& v) {
  throw UsageError(what + ": must be " + expected + ", got " + v.dump());
}

void check_bounds(double d, double lo, double hi, bool open_lo, const std::string& what, const nlohmann::json& v) {
  if ((open_lo ? d > lo : d >= lo) && d <= hi) return;
  char text[96];
  if (std::isinf(hi)) std::snprintf(text, sizeof(text), "%s %g", open_lo ? ">" : ">=", lo);
  else std::snprintf(text, sizeof(text), "in %s%g, %g]", open_lo ? "(" : "[", lo, hi);
  bad_value(what, text, v);
}

void unknown_key(const std::string& source, const std::string& key, const std::vector<std::string>& known,
                 bool path_naming) {
  std::string list;
  for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
  if (path_naming) throw UsageError(source + "." + key + ": unknown field (expected " + list + ")");
  throw UsageError(source + ": unknown key '" + key + "' (known: " + list + ")");
}

void not_an_object(const std::string& source) { throw UsageError(source + ": expected a JSON object"); }

}  // namespace mirage::options_detail
