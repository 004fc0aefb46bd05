#include "lib/error.h"

#include <new>

#include <c10/util/Exception.h>

namespace mirage {

int exit_code_for(const std::exception& e) {
  if (auto* typed = dynamic_cast<const Error*>(&e)) return typed->exit_code();
  return kExitInternal;
}

std::string one_line(const std::exception& e) {
  std::string text;
  if (auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    text = c10_error->what_without_backtrace();
  } else {
    text = e.what();
  }
  // LibTorch's messages span lines (source excerpts, "Exception raised from ..."): keep the
  // first line that says something.
  std::string line;
  std::istringstream lines(text);
  while (std::getline(lines, line)) {
    auto start = line.find_first_not_of(" \t\r");
    if (start == std::string::npos) continue;
    line = line.substr(start);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    return line;
  }
  return "unknown error";
}

std::string torch_error_text(const std::exception& e) {
  const std::string text = e.what();
  const std::string marker = "RuntimeError: ";
  const size_t at = text.rfind(marker);
  if (at == std::string::npos) return one_line(e);
  std::string what = text.substr(at + marker.size());
  const size_t end = what.find('\n');
  if (end != std::string::npos) what = what.substr(0, end);
  while (!what.empty() && (what.back() == '\r' || what.back() == ' ')) what.pop_back();
  return what.empty() ? one_line(e) : what;
}

bool is_out_of_memory(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) return true;
  const std::string text = e.what();
  return text.find("out of memory") != std::string::npos || text.find("can't allocate memory") != std::string::npos ||
         text.find("Cannot allocate memory") != std::string::npos;
}

}  // namespace mirage
