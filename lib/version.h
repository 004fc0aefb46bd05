// lib/version.h — versions recorded by --version and every report.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace mirage {

std::string mirage_version();
std::string git_revision();
std::string torch_version();
bool cuda_available();
// {"mirage": ..., "git": ..., "libtorch": ..., "cuda": bool}; image-aware code adds "opencv".
nlohmann::json version_info();

}  // namespace mirage
