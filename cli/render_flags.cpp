// The --markdown/--junit/--html flags shared by the audits, `report render` and `report merge`.
#include "cli/render_flags.h"

#include <iostream>

#include "cli/common.h"
#include "lib/atomic_file.h"
#include "lib/log.h"
#include "reports/render.h"

namespace mirage::cli {

void add_render_options(po::options_description& options, RenderFlags& flags) {
  options.add_options()
    ("markdown", po::value(&flags.markdown), "also write a Markdown summary (for a CI job summary), or - for stdout")
    ("junit", po::value(&flags.junit), "also write JUnit XML, one test case per gate")
    ("html", po::value(&flags.html), "also write a self-contained HTML page (curves, ROC, example images)")
    ("images-base", po::value(&flags.images_base), "folder the report's relative image paths are read from for --html (default: current folder)");
}

void check_render_outputs(const RenderFlags& flags) {
  for (const auto* path : {&flags.markdown, &flags.junit, &flags.html}) {
    if (!path->empty() && *path != "-") check_output_path(*path);
  }
}

void write_renderings(const nlohmann::json& report, const RenderFlags& flags) {
  auto put = [](const std::string& path, const std::string& text, const char* what) {
    if (path.empty()) return;
    if (path == "-") {
      std::cout << text << std::flush;
      return;
    }
    write_text_atomic(path, text);
    log_info(std::string("wrote ") + what + " " + path);
  };
  put(flags.markdown, render_markdown(report), "Markdown summary");
  put(flags.junit, render_junit(report), "JUnit XML");
  if (!flags.html.empty()) put(flags.html, render_html(report, flags.images_base), "HTML page");
}

}  // namespace mirage::cli
