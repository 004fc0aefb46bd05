// tests/cli/cli_util.h — what the CLI test files share: running the built mirage binary, and a
// tiny DCGAN trained once per test process for the commands that need fakes.
#pragma once
#include <map>
#include <string>

#include "tests/test_util.h"

namespace mirage::test {

// `mirage ARGS` (the binary under test), stdout and stderr captured.
inline CommandResult mirage_run(const std::string& args) { return run_command(std::string(MIRAGE_BIN) + " " + args); }

// The checkpoint of a DCGAN (widths 8, seed 1) trained `steps` steps of `batch` on the first
// `limit` Fashion-MNIST training images; trained once per process for each setting.
inline const std::string& tiny_gan(int steps, int limit, int batch) {
  static TempDir dir;
  static std::map<std::string, std::string> made;
  const std::string key = std::to_string(steps) + "-" + std::to_string(limit) + "-" + std::to_string(batch);
  auto it = made.find(key);
  if (it == made.end()) {
    const std::string out = dir.file("gan-" + key);
    require_ok(mirage_run("train-gan --out " + out + " --steps " + std::to_string(steps) + " --limit " +
                          std::to_string(limit) + " --batch-size " + std::to_string(batch) +
                          " --g-width 8 --d-width 8 --seed 1 --quiet --threads 1"));
    it = made.emplace(key, out + "/checkpoint").first;
  }
  return it->second;
}

}  // namespace mirage::test
