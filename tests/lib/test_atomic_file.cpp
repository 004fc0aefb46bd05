#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "lib/atomic_file.h"
#include "lib/error.h"
#include "tests/test_util.h"

using namespace mirage;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

size_t entries(const fs::path& dir) {
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

}  // namespace

TEST_CASE("a writer that throws leaves the old file and no temporary behind", "[atomic]") {
  test::TempDir dir;
  std::string path = dir.file("report.json");
  write_text_atomic(path, "old contents");
  CHECK_THROWS_AS(write_file_atomic(path,
                                    [](std::ostream& out) {
                                      out << "half of a new rep";
                                      throw InputError("writer failed");
                                    }),
                  InputError);
  CHECK(slurp(path) == "old contents");
  CHECK(entries(dir.path()) == 1);
}

TEST_CASE("a writer that throws before the first write leaves nothing", "[atomic]") {
  test::TempDir dir;
  std::string path = dir.file("new.bin");
  CHECK_THROWS(save_atomic(path, [](const std::string& tmp) {
    std::ofstream(tmp) << "partial";
    throw std::runtime_error("boom");
  }));
  CHECK_FALSE(fs::exists(path));
  CHECK(entries(dir.path()) == 0);
}

TEST_CASE("atomic writes replace the file whole", "[atomic]") {
  test::TempDir dir;
  std::string path = dir.file("a.txt");
  write_text_atomic(path, "first");
  write_text_atomic(path, "second, longer");
  CHECK(slurp(path) == "second, longer");
  CHECK(entries(dir.path()) == 1);
}

TEST_CASE("an AtomicFile appears only on commit", "[atomic]") {
  test::TempDir dir;
  std::string path = dir.file("items.jsonl");
  {
    AtomicFile f(path);
    f.stream() << "{\"a\": 1}\n";
    CHECK_FALSE(fs::exists(path));
  }
  CHECK_FALSE(fs::exists(path));
  CHECK(entries(dir.path()) == 0);
  {
    AtomicFile f(path);
    f.stream() << "{\"a\": 2}\n";
    f.commit();
  }
  CHECK(slurp(path) == "{\"a\": 2}\n");
}

TEST_CASE("writing into a missing folder or onto a folder is a UsageError naming it", "[atomic][errors]") {
  test::TempDir dir;
  CHECK_THROWS_WITH(write_text_atomic(dir.file("nope/x.json"), "x"), Catch::Contains("nope"));
  CHECK_THROWS_AS(write_text_atomic(dir.path().string(), "x"), UsageError);
}

TEST_CASE("save_atomic hands the writer a temporary path with the target's file name", "[atomic]") {
  test::TempDir dir;
  std::string seen;
  save_atomic(dir.file("model.pt"), [&](const std::string& tmp) {
    seen = tmp;
    std::ofstream(tmp) << "x";
  });
  CHECK(fs::path(seen).filename() == "model.pt");
  CHECK(fs::path(seen).parent_path() != dir.path());
  CHECK(entries(dir.path()) == 1);  // the temporary folder is gone
}
