#include "lib/version.h"

#include <torch/cuda.h>
#include <torch/version.h>

namespace mirage {

std::string mirage_version() { return MIRAGE_VERSION; }
std::string git_revision() { return MIRAGE_GIT_REVISION; }
std::string torch_version() { return TORCH_VERSION; }
bool cuda_available() { return torch::cuda::is_available(); }

nlohmann::json version_info() {
  return {{"mirage", mirage_version()},
          {"git", git_revision()},
          {"libtorch", torch_version()},
          {"cuda", cuda_available()}};
}

}  // namespace mirage
