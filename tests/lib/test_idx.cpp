#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <fstream>

#include "lib/dataset.h"
#include "lib/error.h"
#include "lib/idx.h"
#include "tests/test_util.h"

using namespace mirage;

namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace

TEST_CASE("IDX round trip keeps values, type and shape, raw and gzip", "[idx]") {
  test::TempDir dir;
  bool gz = GENERATE(false, true);
  auto dtype = GENERATE(torch::kByte, torch::kChar, torch::kShort, torch::kInt, torch::kFloat, torch::kDouble);
  torch::Tensor t = (torch::arange(2 * 3 * 5) * 7 - 40).to(dtype).view({2, 3, 5});
  if (dtype == torch::kByte) t = torch::arange(30).to(torch::kByte).view({2, 3, 5}) * 8;
  std::string path = dir.file(gz ? "t.idx.gz" : "t.idx");
  write_idx(path, t, gz);
  torch::Tensor back = read_idx(path);
  CHECK(back.scalar_type() == t.scalar_type());
  CHECK(back.sizes() == t.sizes());
  CHECK(torch::equal(back, t));
}

TEST_CASE("IDX header is big-endian as in the MNIST files", "[idx]") {
  test::TempDir dir;
  write_idx(dir.file("a.idx"), torch::tensor({1, 256}, torch::kInt), false);
  std::string bytes = read_bytes(dir.file("a.idx"));
  REQUIRE(bytes.size() == 4 + 4 + 8);
  CHECK(bytes.substr(0, 4) == std::string("\0\0\x0c\x01", 4));
  CHECK(bytes.substr(4, 4) == std::string("\0\0\0\x02", 4));
  CHECK(bytes.substr(12, 4) == std::string("\0\0\x01\0", 4));  // 256 big-endian
}

TEST_CASE("corrupt or truncated IDX files are InputErrors naming the file", "[idx][errors]") {
  test::TempDir dir;
  std::string good = dir.file("good.idx");
  write_idx(good, torch::zeros({4, 3, 3}, torch::kByte), false);
  std::string bytes = read_bytes(good);
  std::string bad = dir.file("bad.idx");

  SECTION("truncated data") { write_bytes(bad, bytes.substr(0, bytes.size() - 5)); }
  SECTION("trailing bytes") { write_bytes(bad, bytes + "xyz"); }
  SECTION("bad magic") { write_bytes(bad, "\x01\x02" + bytes.substr(2)); }
  SECTION("unknown type code") { write_bytes(bad, std::string("\0\0\x42", 3) + bytes.substr(3)); }
  SECTION("truncated header") { write_bytes(bad, bytes.substr(0, 9)); }
  SECTION("empty file") { write_bytes(bad, ""); }
  SECTION("truncated gzip stream") {
    write_idx(dir.file("g.idx.gz"), torch::randint(0, 255, {64, 28, 28}).to(torch::kByte), true);
    std::string gz = read_bytes(dir.file("g.idx.gz"));
    write_bytes(bad, gz.substr(0, gz.size() / 2));
  }
  try {
    read_idx(bad);
    FAIL("no error for a corrupt file");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).find(bad) != std::string::npos);
  }
}

TEST_CASE("missing IDX file is an InputError naming it", "[idx][errors]") {
  CHECK_THROWS_WITH(read_idx("/nonexistent/x.idx"), Catch::Contains("/nonexistent/x.idx"));
}

TEST_CASE("IDX data set pairs images with labels and rejects mismatched counts", "[idx][dataset]") {
  test::TempDir dir;
  write_idx(dir.file("img.idx"), torch::full({5, 4, 4}, 255, torch::kByte), false);
  write_idx(dir.file("lab.idx"), torch::tensor({0, 1, 2, 1, 0}, torch::kByte), false);
  write_idx(dir.file("lab3.idx"), torch::tensor({0, 1, 2}, torch::kByte), false);
  auto ds = open_idx_dataset(dir.file("img.idx"), dir.file("lab.idx"), "toy");
  CHECK(ds->size() == 5);
  CHECK(ds->info().num_classes == 3);
  CHECK(ds->info().channels == 1);
  Batch b = ds->get({4, 1});
  CHECK(b.images.sizes() == torch::IntArrayRef({2, 1, 4, 4}));
  CHECK(b.images.max().item<float>() == 1.0f);
  CHECK(b.labels[0].item<int64_t>() == 0);
  CHECK(b.labels[1].item<int64_t>() == 1);
  CHECK(b.ids[0] == "toy:4");
  CHECK_THROWS_AS(open_idx_dataset(dir.file("img.idx"), dir.file("lab3.idx"), "toy"), InputError);
}

TEST_CASE("Fashion-MNIST opens with 10 named classes", "[idx][fmnist]") {
  if (!test::fashion_mnist_available()) {
    WARN("Fashion-MNIST not installed; skipped");
    return;
  }
  auto test_set = open_fashion_mnist("test");
  CHECK(test_set->size() == 10000);
  CHECK(test_set->info().num_classes == 10);
  CHECK(test_set->info().class_names.at(9) == "Ankle boot");
  CHECK(test_set->info().height == 28);
  CHECK_THROWS_AS(open_fashion_mnist("valid"), UsageError);
}
