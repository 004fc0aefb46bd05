#include "reports/svg.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <iterator>
#include <sstream>

#include "reports/escape.h"
#include "reports/report_view.h"

namespace mirage::view {

using nlohmann::json;

namespace {

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

struct Plot {
  double x0, x1, y0, y1;       // data ranges
  double width, height;        // whole svg
  double left = 56, right = 16, top = 16, bottom = 44;
  double px(double x) const { return left + (x - x0) / (x1 - x0) * (width - left - right); }
  double py(double y) const { return height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom); }
};

std::string coord(double v) { return fixed(v, 1); }

// Frame, grid, ticks and axis titles.
std::string svg_axes(const Plot& p, const std::string& x_title, const std::string& y_title, const std::vector<double>& xt,
                     const std::vector<double>& yt, const std::function<std::string(double)>& x_label) {
  std::ostringstream s;
  s << "<rect x=\"" << coord(p.left) << "\" y=\"" << coord(p.top) << "\" width=\"" << coord(p.width - p.left - p.right)
    << "\" height=\"" << coord(p.height - p.top - p.bottom) << "\" fill=\"none\" stroke=\"#888\"/>\n";
  for (double t : xt) {
    s << "<line x1=\"" << coord(p.px(t)) << "\" y1=\"" << coord(p.top) << "\" x2=\"" << coord(p.px(t)) << "\" y2=\""
      << coord(p.height - p.bottom + 5) << "\" stroke=\"#ddd\"/>"
      << "<text x=\"" << coord(p.px(t)) << "\" y=\"" << coord(p.height - p.bottom + 18)
      << "\" text-anchor=\"middle\">" << html_escape(x_label(t)) << "</text>\n";
  }
  for (double t : yt) {
    s << "<line x1=\"" << coord(p.left - 5) << "\" y1=\"" << coord(p.py(t)) << "\" x2=\"" << coord(p.width - p.right)
      << "\" y2=\"" << coord(p.py(t)) << "\" stroke=\"#ddd\"/>"
      << "<text x=\"" << coord(p.left - 8) << "\" y=\"" << coord(p.py(t) + 4) << "\" text-anchor=\"end\">"
      << general(t) << "</text>\n";
  }
  s << "<text x=\"" << coord((p.left + p.width - p.right) / 2) << "\" y=\"" << coord(p.height - 6)
    << "\" text-anchor=\"middle\">" << html_escape(x_title) << "</text>\n"
    << "<text transform=\"translate(14," << coord((p.top + p.height - p.bottom) / 2)
    << ") rotate(-90)\" text-anchor=\"middle\">" << html_escape(y_title) << "</text>\n";
  return s.str();
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int count) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / count;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * power;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + 1e-9 * step; t += step) ticks.push_back(std::fabs(t) < 1e-12 ? 0 : t);
  return ticks;
}

std::string curve_svg(const json& curves, const std::string& norm, std::optional<double> clean) {
  double max_eps = 0;
  for (const auto& c : items(curves)) {
    if (text_of(get(c, "norm")) != norm) continue;
    for (const auto& pt : items(get(c, "points"))) max_eps = std::max(max_eps, number_of(get(pt, "eps")).value_or(0));
  }
  if (max_eps <= 0) return "";
  Plot p{0, max_eps * 1.05, 0, 1, 640, 340};
  p.right = 180;  // the legend
  std::ostringstream s;
  s << "<svg class=\"chart\" width=\"" << p.width << "\" height=\"" << p.height << "\" viewBox=\"0 0 " << p.width << " "
    << p.height << "\" role=\"img\" aria-label=\"robust accuracy against eps " << html_escape(norm) << "\">\n";
  s << svg_axes(p, norm.empty() ? "eps" : "eps (" + norm + ")", "robust accuracy", nice_ticks(0, max_eps, 5), nice_ticks(0, 1, 5),
                [](double t) { return general(t); });
  if (clean) {
    s << "<line x1=\"" << coord(p.px(0)) << "\" y1=\"" << coord(p.py(*clean)) << "\" x2=\"" << coord(p.px(p.x1))
      << "\" y2=\"" << coord(p.py(*clean)) << "\" stroke=\"#555\" stroke-dasharray=\"4 3\"><title>clean accuracy "
      << fixed(*clean, 3) << "</title></line>\n";
  }
  int k = 0;
  double legend_y = p.top + 8;
  for (const auto& c : items(curves)) {
    if (text_of(get(c, "norm")) != norm) continue;
    const char* color = kColors[k++ % std::size(kColors)];
    std::string points;
    std::ostringstream dots;
    for (const auto& pt : items(get(c, "points"))) {
      auto e = number_of(get(pt, "eps"));
      auto a = number_of(get(pt, "robust_accuracy"));
      if (!e || !a) continue;
      points += coord(p.px(*e)) + "," + coord(p.py(*a)) + " ";
      dots << "<circle cx=\"" << coord(p.px(*e)) << "\" cy=\"" << coord(p.py(*a)) << "\" r=\"3\" fill=\"" << color
           << "\"><title>" << html_escape(text_of(get(c, "attack"))) << " eps " << html_escape(eps_text_of(pt)) << ": "
           << fixed(*a, 3) << "</title></circle>";
    }
    s << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\" points=\"" << points << "\"/>" << dots.str()
      << "\n";
    const double lx = p.width - p.right + 12;
    s << "<line x1=\"" << coord(lx) << "\" y1=\"" << coord(legend_y) << "\" x2=\"" << coord(lx + 18) << "\" y2=\""
      << coord(legend_y) << "\" stroke=\"" << color << "\" stroke-width=\"2\"/><text x=\"" << coord(lx + 24)
      << "\" y=\"" << coord(legend_y + 4) << "\">" << html_escape(text_of(get(c, "attack"))) << "</text>\n";
    legend_y += 18;
  }
  if (clean) {
    const double lx = p.width - p.right + 12;
    s << "<line x1=\"" << coord(lx) << "\" y1=\"" << coord(legend_y) << "\" x2=\"" << coord(lx + 18) << "\" y2=\""
      << coord(legend_y) << "\" stroke=\"#555\" stroke-dasharray=\"4 3\"/><text x=\"" << coord(lx + 24) << "\" y=\""
      << coord(legend_y + 4) << "\">clean</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

std::string roc_svg(const json& roc, const json& overall) {
  Plot p{0, 1, 0, 1, 400, 380};
  std::ostringstream s;
  s << "<svg class=\"chart\" width=\"" << p.width << "\" height=\"" << p.height << "\" viewBox=\"0 0 " << p.width << " "
    << p.height << "\" role=\"img\" aria-label=\"ROC curve\">\n";
  s << svg_axes(p, "false positive rate (reals called fake)", "true positive rate", nice_ticks(0, 1, 5),
                nice_ticks(0, 1, 5), [](double t) { return general(t); });
  s << "<line x1=\"" << coord(p.px(0)) << "\" y1=\"" << coord(p.py(0)) << "\" x2=\"" << coord(p.px(1)) << "\" y2=\""
    << coord(p.py(1)) << "\" stroke=\"#aaa\" stroke-dasharray=\"4 3\"/>\n";
  std::string points;
  for (const auto& pt : items(roc)) {
    auto f = number_of(get(pt, "fpr"));
    auto t = number_of(get(pt, "tpr"));
    if (f && t) points += coord(p.px(*f)) + "," + coord(p.py(*t)) + " ";
  }
  s << "<polyline class=\"roc\" fill=\"none\" stroke=\"" << kColors[0] << "\" stroke-width=\"2\" points=\"" << points
    << "\"/>\n";
  auto fpr = number_of(get(overall, "fpr"));
  auto tpr = number_of(get(overall, "tpr"));
  if (fpr && tpr) {
    s << "<circle cx=\"" << coord(p.px(*fpr)) << "\" cy=\"" << coord(p.py(*tpr)) << "\" r=\"4\" fill=\"" << kColors[1]
      << "\"><title>threshold " << fixed_or_none(get(overall, "threshold"), 3) << ": TPR " << fixed(*tpr, 3) << ", FPR "
      << fixed(*fpr, 3) << "</title></circle>\n";
  }
  if (auto auc = number_of(get(overall, "auc"))) {
    s << "<text x=\"" << coord(p.px(0.55)) << "\" y=\"" << coord(p.py(0.08)) << "\">AUC " << fixed(*auc, 3) << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

}  // namespace mirage::view
