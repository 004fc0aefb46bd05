// tests/test_util.h — helpers shared by the suites: temp folders, running commands, reading what
// a command wrote, checking how it refused.
#pragma once
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

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
  std::string out;     // stdout and stderr together, as a terminal shows them
  std::string stdout_text;  // stdout alone: the data a command promises there
  std::string stderr_text;  // stderr alone: progress, logs and errors
};

namespace detail {
inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
}  // namespace detail

// Runs a shell command, capturing stdout and stderr both together (`out`) and apart: each stream
// is copied by a tee into a file of its own on its way to the shared pipe.
inline CommandResult run_command(const std::string& command) {
  CommandResult r;
  static int counter = 0;
  std::random_device rd;
  const auto base = std::filesystem::temp_directory_path() /
                    ("mirage-run-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
                     std::to_string(rd()));
  const auto script = base.string() + ".sh", out_file = base.string() + ".out", err_file = base.string() + ".err";
  {
    std::ofstream s(script);
    s << "{\n" << command << "\n} 2> >(tee '" << err_file << "' >&2) > >(tee '" << out_file << "')\n";
  }
  FILE* pipe = ::popen(("bash '" + script + "' 2>&1").c_str(), "r");
  if (pipe) {
    std::array<char, 4096> buf{};
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
    int status = ::pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // The pipe reaches EOF only once both tees have exited, so both files are complete.
  r.stdout_text = detail::slurp(out_file);
  r.stderr_text = detail::slurp(err_file);
  std::error_code ec;
  for (const auto& f : {script, out_file, err_file}) std::filesystem::remove(f, ec);
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

// Ends a test case that needs the real data set with a warning when it is not installed.
#define MIRAGE_NEEDS_FASHION_MNIST()                \
  do {                                              \
    if (!mirage::test::fashion_mnist_available()) { \
      WARN("Fashion-MNIST not installed; skipped"); \
      return;                                       \
    }                                               \
  } while (0)

// Runs `f` and returns the message of the E it throws; a failed test case when it throws none.
template <typename E, typename F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  FAIL("expected an exception of the given type");
  return "";
}

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// A JSON Lines file: one value a line.
inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// A file's bytes, exactly: for comparing outputs that must be the same to the bit.
inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// True when `out` is a single line ending in a newline: the shape of every refusal.
inline bool one_line(const std::string& out) { return !out.empty() && out.find('\n') == out.size() - 1; }

// Entries (files and folders) directly in `dir`.
inline int64_t count_files(const std::filesystem::path& dir) {
  return std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator{});
}

// A usage or input error: exit 2, one line on stdout+stderr that mentions `mentions`.
// A command that must succeed: its output is shown when it does not.
inline void require_ok(const CommandResult& r) {
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
}

inline void check_refused(const CommandResult& r, const std::string& mentions) {
  INFO(r.out);
  CHECK(r.exit_code == 2);
  CHECK(one_line(r.out));
  CHECK(r.out.find(mentions) != std::string::npos);
}

}  // namespace mirage::test
