// The CIFAR binary format: planes in R, G, B order, labels from the right byte (CIFAR-100: the
// fine one), batches concatenated in order, class names from the archive's meta file, and a
// truncated file refused naming its length.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <fstream>

#include "lib/cifar.h"
#include "lib/error.h"
#include "tests/test_util.h"

using mirage::CifarKind;
using mirage::test::message_of;

namespace {

// n images whose R plane is 10*i, G 10*i+1, B 10*i+2 at pixel (0,0), label i % 10.
std::pair<at::Tensor, at::Tensor> known_images(int64_t n, int64_t first = 0) {
  at::Tensor images = torch::zeros({n, 3, 32, 32}, torch::kUInt8);
  at::Tensor labels = torch::zeros({n}, torch::kLong);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < 3; ++c) images[i][c][0][0] = static_cast<int>(10 * (first + i) + c);
    images[i][2][31][31] = 200;  // the last byte of a record
    labels[i] = (first + i) % 10;
  }
  return {images, labels};
}

}  // namespace

TEST_CASE("CIFAR-10 batches read as R, G, B planes with their labels, in file order", "[cifar]") {
  mirage::test::TempDir dir;
  auto [a, la] = known_images(3, 0);
  auto [b, lb] = known_images(2, 3);
  mirage::write_cifar_file(dir.file("data_batch_1.bin"), a, la, CifarKind::kCifar10);
  mirage::write_cifar_file(dir.file("data_batch_2.bin"), b, lb, CifarKind::kCifar10);
  mirage::write_cifar_file(dir.file("test_batch.bin"), b, lb, CifarKind::kCifar10);
  CHECK(std::filesystem::file_size(dir.file("data_batch_1.bin")) == 3 * 3073);
  {
    std::ofstream meta(dir.file("batches.meta.txt"));
    for (const char* name : {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}) meta << name << "\n";
    meta << "\n";
  }
  auto train = mirage::open_cifar_dir(dir.path().string(), "train");
  REQUIRE(train);
  REQUIRE(train->size() == 5);
  CHECK(train->info().channels == 3);
  CHECK(train->info().height == 32);
  CHECK(train->info().num_classes == 10);
  REQUIRE(train->info().class_names.size() == 10);
  CHECK(train->info().class_names[9] == "truck");
  mirage::Batch batch = train->get({0, 4});
  CHECK(batch.images[1][0][0][0].item<float>() == Approx(40 / 255.0));  // image 4, red plane
  CHECK(batch.images[1][1][0][0].item<float>() == Approx(41 / 255.0));
  CHECK(batch.images[1][2][0][0].item<float>() == Approx(42 / 255.0));
  CHECK(batch.images[0][2][31][31].item<float>() == Approx(200 / 255.0));
  CHECK(batch.labels[1].item<int64_t>() == 4);
  auto test = mirage::open_cifar_dir(dir.path().string(), "test");
  REQUIRE(test);
  CHECK(test->size() == 2);
  CHECK(test->get({1}).labels[0].item<int64_t>() == 4);
  // A folder without CIFAR files is not CIFAR.
  mirage::test::TempDir other;
  CHECK_FALSE(mirage::open_cifar_dir(other.path().string(), "test"));
}

TEST_CASE("CIFAR-100 takes the fine label and its names", "[cifar]") {
  mirage::test::TempDir dir;
  auto [images, labels] = known_images(4);
  labels[3] = 99;
  mirage::write_cifar_file(dir.file("test.bin"), images, labels, CifarKind::kCifar100);
  CHECK(std::filesystem::file_size(dir.file("test.bin")) == 4 * 3074);
  {
    std::ofstream names(dir.file("fine_label_names.txt"));
    for (int i = 0; i < 100; ++i) names << "class" << i << "\n";
  }
  auto data = mirage::open_cifar_dir(dir.path().string(), "test");
  REQUIRE(data);
  CHECK(data->info().num_classes == 100);
  CHECK(data->info().class_names[99] == "class99");
  CHECK(data->get({3}).labels[0].item<int64_t>() == 99);
  CHECK_THROWS_AS(mirage::open_cifar_dir(dir.path().string(), "train"), mirage::InputError);  // no train.bin
}

TEST_CASE("a CIFAR file of the wrong length or with a label beyond the classes is refused naming it", "[cifar]") {
  mirage::test::TempDir dir;
  auto [images, labels] = known_images(2);
  const std::string file = dir.file("data_batch_1.bin");
  mirage::write_cifar_file(file, images, labels, CifarKind::kCifar10);
  std::filesystem::resize_file(file, 2 * 3073 - 5);
  const std::string e = message_of<mirage::InputError>([&] { mirage::open_cifar_files({file}, CifarKind::kCifar10, "x"); });
  CHECK(e.find(file) == 0);
  CHECK(e.find("6141 bytes") != std::string::npos);
  CHECK(e.find("3073") != std::string::npos);
  std::ofstream(dir.file("empty.bin")).close();
  CHECK_THROWS_AS(mirage::open_cifar_files({dir.file("empty.bin")}, CifarKind::kCifar10, "x"), mirage::InputError);
  labels[1] = 10;
  mirage::write_cifar_file(file, images, labels, CifarKind::kCifar10);
  const std::string l = message_of<mirage::InputError>([&] { mirage::open_cifar_files({file}, CifarKind::kCifar10, "x"); });
  CHECK(l.find("record 1 has label 10") != std::string::npos);
  CHECK_THROWS_AS(mirage::open_cifar_files({dir.file("missing.bin")}, CifarKind::kCifar10, "x"), mirage::InputError);
}
