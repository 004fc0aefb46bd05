// render_junit (reports/render.h): one JUnit test case per gate, for CI test dashboards.
#include <sstream>

#include "reports/escape.h"
#include "reports/render.h"
#include "reports/report_view.h"

namespace mirage {

std::string render_junit(const nlohmann::json& report) {
  using namespace view;
  const Summary s = summarize(report);
  const nlohmann::json& timing = get(report, "timing");
  const std::string seconds = fixed(number_of(get(timing, "seconds")).value_or(0.0), 3);
  size_t failures = 0;
  for (const auto& g : s.gates) failures += g.passed ? 0 : 1;
  const size_t tests = s.gates.empty() ? 1 : s.gates.size();
  const std::string classname = "mirage.audit." + s.kind;
  std::ostringstream x;
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<testsuites name=\"mirage audit\" tests=\"" << tests << "\" failures=\"" << failures << "\" errors=\"0\" time=\""
    << seconds << "\">\n"
    << "  <testsuite name=\"mirage audit " << s.kind << "\" tests=\"" << tests << "\" failures=\"" << failures
    << "\" errors=\"0\" skipped=\"0\" time=\"" << seconds << "\"";
  if (get(timing, "started").is_string()) x << " timestamp=\"" << xml_escape(get(timing, "started").get<std::string>()) << "\"";
  x << ">\n    <properties>\n";
  auto property = [&](const std::string& name, const std::string& value) {
    x << "      <property name=\"" << xml_escape(name) << "\" value=\"" << xml_escape(value) << "\"/>\n";
  };
  property(s.subject, s.path);
  property(s.subject + ".sha256", s.sha256);
  property("seed", s.seed);
  property("n", s.n);
  if (!s.shard.empty()) property("shard", s.shard);
  x << "    </properties>\n";
  for (const auto& g : s.gates) {
    std::string name = g.metric;
    if (!g.what.empty()) name += " " + g.what;
    name += " " + g.op + " " + general(g.threshold);
    x << "    <testcase classname=\"" << classname << "\" name=\"" << xml_escape(name) << "\" time=\"0\"";
    if (g.passed) {
      x << "/>\n";
      continue;
    }
    x << ">\n      <failure message=\"" << xml_escape(g.message) << "\" type=\"gate\">" << xml_escape(g.details)
      << "</failure>\n    </testcase>\n";
  }
  if (s.gates.empty()) x << "    <testcase classname=\"" << classname << "\" name=\"audit completed\" time=\"0\"/>\n";
  x << "  </testsuite>\n</testsuites>\n";
  return x.str();
}

}  // namespace mirage
