#include "lib/parse.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "lib/error.h"

namespace mirage {

double parse_number(const std::string& text, const std::string& what) {
  auto parse_plain = [&](const std::string& s) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != s.size() || !std::isfinite(v)) {
      throw UsageError(what + ": '" + text + "' is not a number");
    }
    return v;
  };
  auto slash = text.find('/');
  if (slash == std::string::npos) return parse_plain(text);
  double num = parse_plain(text.substr(0, slash)), den = parse_plain(text.substr(slash + 1));
  if (den == 0) throw UsageError(what + ": '" + text + "' divides by zero");
  return num / den;
}

std::vector<double> parse_number_list(const std::string& text, const std::string& what) {
  std::vector<double> out;
  if (text == "none") return out;
  for (const std::string& item : split_list(text)) out.push_back(parse_number(item, what));
  return out;
}

std::pair<double, double> parse_number_range(const std::string& text, const std::string& what) {
  const auto parts = split_list(text);
  if (parts.size() != 2) throw UsageError(what + ": expected MIN,MAX, got '" + text + "'");
  return {parse_number(parts[0], what), parse_number(parts[1], what)};
}

std::vector<std::string> split_list(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, sep);) {
    const auto first = item.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) continue;
    const auto last = item.find_last_not_of(" \t\r\n");
    out.push_back(item.substr(first, last - first + 1));
  }
  return out;
}

}  // namespace mirage
