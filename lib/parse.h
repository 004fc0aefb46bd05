// lib/parse.h — numbers as users write them in flags and configs.
#pragma once
#include <string>

namespace mirage {

// "0.03", "1e-3" or a fraction "8/255". `what` names the flag or field for the UsageError.
double parse_number(const std::string& text, const std::string& what);

}  // namespace mirage
