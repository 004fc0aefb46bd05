// cli/render_flags.h — the renderings every report-writing command offers (--markdown, --junit,
// --html), shared by `audit robustness`, `audit detector`, `report merge` and `report render`.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "cli/common.h"

namespace mirage::cli {

struct RenderFlags {
  std::string markdown, junit, html;
  std::string images_base;  // relative image paths in the report are read from here (HTML)
  bool any() const { return !markdown.empty() || !junit.empty() || !html.empty(); }
};
void add_render_options(po::options_description& options, RenderFlags& flags);
// Fails fast (UsageError) when an output could not be written, before any long work.
void check_render_outputs(const RenderFlags& flags);
// Writes each requested rendering atomically (or to stdout for "-"), logging where.
void write_renderings(const nlohmann::json& report, const RenderFlags& flags);

}  // namespace mirage::cli
