// tests/test_util.h — helpers shared by the suites: temp folders, running commands.
#pragma once
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <sys/wait.h>

namespace mirage::test {

// A fresh folder under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("mirage-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};

// Runs a shell command, capturing stdout and stderr.
inline CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// True when the configured Python (MIRAGE_PYTHON) imports torch.
inline bool python_has_torch() {
#ifdef MIRAGE_PYTHON
  static int cached = -1;
  if (cached < 0) cached = run_command(std::string(MIRAGE_PYTHON) + " -c 'import torch'").exit_code == 0;
  return cached == 1;
#else
  return false;
#endif
}

inline bool fashion_mnist_available() {
  const char* env = std::getenv("MIRAGE_FASHION_MNIST_DIR");
  std::string dir = env && *env ? env : "/usr/share/datasets/fashion-mnist";
  return std::filesystem::exists(dir + "/t10k-images-idx3-ubyte.gz");
}

}  // namespace mirage::test
