// reports/svg.h — the HTML report's charts as inline SVG (the page fetches nothing): robust
// accuracy against eps, and a detector's ROC curve. Each returns one <svg class="chart"> element
// with a <title> on every point; strings from the report are HTML-escaped.
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace mirage::view {

// About `count` round ticks (1, 2 or 5 times a power of ten) from the first multiple of the step
// at or above lo to the last at or below hi; {lo} when the range is empty.
std::vector<double> nice_ticks(double lo, double hi, int count);

// Robust accuracy against eps: one polyline per curve of `curves` whose norm is `norm`, with
// `clean` accuracy as a dashed line; "" when those curves have no positive eps.
std::string curve_svg(const nlohmann::json& curves, const std::string& norm, std::optional<double> clean);

// The ROC points [{"fpr","tpr"}], the chance diagonal, and the operating point and AUC from the
// report's "overall".
std::string roc_svg(const nlohmann::json& roc, const nlohmann::json& overall);

}  // namespace mirage::view
