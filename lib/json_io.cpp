#include "lib/json_io.h"

#include <fstream>

#include "lib/error.h"

namespace mirage {

namespace {

std::string prefixed(const std::string& what, const std::string& path) {
  return what.empty() ? path : what + " " + path;
}

}  // namespace

nlohmann::json read_json_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(prefixed(what, path) + ": cannot read");
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw InputError(prefixed(what, path) + ": not valid JSON (" + one_line(e) + ")");
  }
}

nlohmann::json parse_json_text(const std::string& text, const std::string& what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw UsageError(what + ": not valid JSON (" + one_line(e) + ")");
  }
}

nlohmann::json rate_json(const Rate& r, const RateKeys& keys) {
  return {{keys.value, r.value}, {keys.count, r.count}, {keys.of, r.of}, {"ci95", {r.lo, r.hi}}};
}

nlohmann::json rate_json(int64_t count, int64_t of, const RateKeys& keys) {
  return rate_json(make_rate(count, of), keys);
}

nlohmann::json stats_json(const ValueStats& s) {
  if (s.n == 0) return {{"n", 0}, {"mean", nullptr}, {"median", nullptr}, {"p95", nullptr}, {"max", nullptr}};
  return {{"n", s.n}, {"mean", s.mean}, {"median", s.median}, {"p95", s.p95}, {"max", s.max}};
}

}  // namespace mirage
