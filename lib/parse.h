// lib/parse.h — numbers as users write them in flags and configs.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace mirage {

// "0.03", "1e-3" or a fraction "8/255". `what` names the flag or field for the UsageError.
double parse_number(const std::string& text, const std::string& what);

// "1/255,2/255,0.5": parse_number of each comma-separated item (empty items skipped); "none"
// gives an empty list, so a flag with a default grid can be switched off.
std::vector<double> parse_number_list(const std::string& text, const std::string& what);

// "MIN,MAX" as two numbers of parse_number's syntax ("0.1,3/2"); anything else is a UsageError
// naming `what`.
std::pair<double, double> parse_number_range(const std::string& text, const std::string& what);

// "a, b,,c" -> {"a", "b", "c"}: items split at `sep`, surrounding white space trimmed, empty items
// skipped.
std::vector<std::string> split_list(const std::string& text, char sep = ',');

}  // namespace mirage
