// tests/image/test_folder_dataset.cpp — image folders, image lists and the --data parser.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "lib/cifar.h"
#include "lib/dataset.h"
#include "lib/error.h"
#include "lib/idx.h"
#include "lib/image/folder_dataset.h"
#include "lib/image/io.h"
#include "lib/image/open_data.h"

#include "tests/test_util.h"

using mirage::test::message_of;
namespace fs = std::filesystem;
using namespace mirage;

namespace {

using ScratchFolder = mirage::test::TempDir;

// A uniform PNG whose 8-bit level identifies it.
void write_level(const std::string& path, int level, int64_t channels = 3, int64_t h = 8,
                 int64_t w = 12) {
  write_image(path, torch::full({channels, h, w}, level / 255.0));
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

void corrupt(const std::string& path) { write_text(path, "this is not a PNG file at all"); }

// root/zebra/{0,1,2}.png at levels 20-22 and root/ant/{0,1,2}.png at levels 10-12, created
// zebra first so that only sorting can put "ant" first.
void make_two_classes(const ScratchFolder& root) {
  for (const auto& [name, base] : {std::pair<std::string, int>{"zebra", 20}, {"ant", 10}}) {
    fs::create_directories(root.path() / name);
    for (int k = 2; k >= 0; --k) {
      write_level(root.file(name + "/" + std::to_string(k) + ".png"), base + k);
    }
  }
}

std::vector<int64_t> all_indices(const Dataset& data) {
  std::vector<int64_t> out(static_cast<size_t>(data.size()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int64_t>(i);
  return out;
}

std::vector<int64_t> labels_of(const Batch& batch) {
  const at::Tensor labels = batch.labels.contiguous();
  return {labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel()};
}

// The 8-bit level of each (uniform) image in the batch.
std::vector<int> levels_of(const Batch& batch) {
  std::vector<int> out;
  for (int64_t i = 0; i < batch.size(); ++i) {
    out.push_back(static_cast<int>(std::lround(batch.images[i].mean().item<double>() * 255)));
  }
  return out;
}

}  // namespace

TEST_CASE("ImageFolderDataset labels classes by sorted folder name, files in sorted order",
          "[folder]") {
  ScratchFolder root;
  make_two_classes(root);
  ImageFolderDataset data(root.path().string(), ImageShape{3, 8, 8});
  REQUIRE(data.size() == 6);
  CHECK(data.info().class_names == std::vector<std::string>{"ant", "zebra"});
  CHECK(data.info().num_classes == 2);
  CHECK(data.info().channels == 3);
  CHECK(data.info().height == 8);
  CHECK(data.info().width == 8);

  const Batch batch = data.get(all_indices(data));
  REQUIRE(batch.images.sizes() == at::IntArrayRef({6, 3, 8, 8}));
  CHECK(batch.images.scalar_type() == torch::kFloat);
  CHECK(labels_of(batch) == std::vector<int64_t>{0, 0, 0, 1, 1, 1});
  CHECK(levels_of(batch) == std::vector<int>{10, 11, 12, 20, 21, 22});
  CHECK(batch.ids[0] == root.file("ant/0.png"));
  CHECK(batch.ids[5] == root.file("zebra/2.png"));

  // get() returns the requested samples in the requested order.
  const Batch picked = data.get({4, 0});
  CHECK(levels_of(picked) == std::vector<int>{21, 10});
  CHECK(labels_of(picked) == std::vector<int64_t>{1, 0});
  CHECK_THROWS_AS(data.get({6}), UsageError);
}

TEST_CASE("ImageFolderDataset lists the same files in the same order every time", "[folder]") {
  ScratchFolder root;
  make_two_classes(root);
  fs::create_directories(root.path() / "ant" / "nested");
  write_level(root.file("ant/nested/9.png"), 19);
  write_text(root.file("ant/notes.txt"), "not an image");
  write_level(root.file("ant/._0.png"), 0);  // a hidden file is skipped
  const ImageFolderDataset a(root.path().string(), ImageShape{3, 8, 8});
  const ImageFolderDataset b(root.path().string(), ImageShape{3, 8, 8});
  CHECK(a.paths() == b.paths());
  REQUIRE(a.size() == 7);
  CHECK(a.paths()[3] == root.file("ant/nested/9.png"));
  CHECK(std::is_sorted(a.paths().begin(), a.paths().begin() + 4));
}

TEST_CASE("ImageFolderDataset reads lazily: a corrupt file fails only the get() that needs it",
          "[folder][errors]") {
  ScratchFolder root;
  make_two_classes(root);
  const std::string bad = root.file("zebra/1.png");
  corrupt(bad);
  ImageFolderDataset data(root.path().string(), ImageShape{3, 8, 8});  // no file decoded here
  CHECK(levels_of(data.get({0, 1, 2, 3, 5})) == std::vector<int>{10, 11, 12, 20, 22});
  const std::string message = message_of<InputError>([&] { data.get({0, 4}); });
  CHECK_THAT(message, Catch::Contains(bad));

  // A file deleted after listing is reported by name, too.
  fs::remove(root.file("ant/2.png"));
  CHECK_THAT(message_of<InputError>([&] { data.get({2}); }),
             Catch::Contains(root.file("ant/2.png")) && Catch::Contains("no such file"));
}

TEST_CASE("ImageFolderDataset takes a missing target shape from the first image",
          "[folder]") {
  ScratchFolder root;
  make_two_classes(root);
  write_level(root.file("ant/0.png"), 10, 1, 6, 9);  // the first file: gray, 6 x 9
  ImageFolderDataset data(root.path().string());
  CHECK(data.info().channels == 1);
  CHECK(data.info().height == 6);
  CHECK(data.info().width == 9);
  const Batch batch = data.get(all_indices(data));
  CHECK(batch.images.sizes() == at::IntArrayRef({6, 1, 6, 9}));

  ImageFolderDataset partial(root.path().string(), ImageShape{3, 0, 0},
                             ResizePolicy::kStretch);
  CHECK(partial.get({3}).images.sizes() == at::IntArrayRef({1, 3, 6, 9}));
}

TEST_CASE("a folder of images without class subfolders is unlabelled", "[folder]") {
  ScratchFolder root;
  for (int k = 0; k < 3; ++k) write_level(root.file("img" + std::to_string(k) + ".png"), 30 + k);
  ImageFolderDataset data(root.path().string(), ImageShape{3, 4, 4});
  CHECK(data.info().num_classes == 0);
  CHECK(data.info().class_names.empty());
  const Batch batch = data.get(all_indices(data));
  CHECK(labels_of(batch) == std::vector<int64_t>{-1, -1, -1});
  CHECK(levels_of(batch) == std::vector<int>{30, 31, 32});
}

TEST_CASE("ImageFolderDataset rejects folders without images", "[folder][errors]") {
  ScratchFolder root;
  CHECK_THAT(message_of<InputError>([&] { ImageFolderDataset(root.path().string()); }),
             Catch::Contains(root.path().string()));
  fs::create_directories(root.path() / "cats");
  fs::create_directories(root.path() / "dogs");
  write_level(root.file("cats/a.png"), 1);
  CHECK_THAT(message_of<InputError>([&] { ImageFolderDataset(root.path().string()); }),
             Catch::Contains(root.file("dogs")));
  CHECK_THROWS_AS(ImageFolderDataset(root.file("nope")), InputError);
  write_level(root.file("dogs/b.png"), 2);
  CHECK_THROWS_AS(ImageFolderDataset(root.path().string(), ImageShape{2, 8, 8}), UsageError);
}

TEST_CASE("FileListDataset resolves paths against the list's folder, skipping comments",
          "[list]") {
  ScratchFolder root;
  make_two_classes(root);
  fs::create_directories(root.path() / "sub dir");
  write_level(root.file("sub dir/x y.png"), 40);
  write_text(root.file("list.txt"),
             "# path label\n"
             "\n"
             "zebra/1.png 1\n"
             "   ant/2.png\t0  \r\n"
             "sub dir/x y.png\n" +
                 root.file("ant/0.png") + " 3\n");
  FileListDataset data(root.file("list.txt"), ImageShape{3, 8, 8});
  REQUIRE(data.size() == 4);
  CHECK(data.info().num_classes == 4);
  CHECK(data.info().class_names == std::vector<std::string>{"0", "1", "2", "3"});
  const Batch batch = data.get(all_indices(data));
  CHECK(labels_of(batch) == std::vector<int64_t>{1, 0, -1, 3});
  CHECK(levels_of(batch) == std::vector<int>{21, 12, 40, 10});
  CHECK(batch.ids[0] == root.file("zebra/1.png"));
  CHECK(batch.ids[3] == root.file("ant/0.png"));
}

TEST_CASE("a bad line in an image list is an InputError naming the list and line number",
          "[list][errors]") {
  ScratchFolder root;
  make_two_classes(root);
  const std::string list = root.file("list.lst");
  write_text(list, "ant/0.png 0\n# fine\nzebra/1.png cat\n");
  CHECK_THAT(message_of<InputError>([&] { FileListDataset data(list); }),
             Catch::Contains(list + ":3:") && Catch::Contains("cat"));
  write_text(list, "ant/0.png -2\n");
  CHECK_THAT(message_of<InputError>([&] { FileListDataset data(list); }),
             Catch::Contains(list + ":1:"));
  write_text(list, "ant/0.png 0\nant/missing.png 0\n");
  CHECK_THAT(message_of<InputError>([&] { FileListDataset data(list); }),
             Catch::Contains(list + ":2:") && Catch::Contains("no such file"));
  write_text(list, "# only a comment\n");
  CHECK_THROWS_AS(FileListDataset(list), InputError);
}

TEST_CASE("a CSV image list splits on commas and skips its header", "[list]") {
  ScratchFolder root;
  make_two_classes(root);
  write_text(root.file("list.csv"), "path,label\nant/1.png,0\nzebra/0.png, 1\nzebra/2.png,\n");
  FileListDataset data(root.file("list.csv"), ImageShape{1, 4, 4});
  const Batch batch = data.get(all_indices(data));
  CHECK(batch.images.sizes() == at::IntArrayRef({3, 1, 4, 4}));
  CHECK(labels_of(batch) == std::vector<int64_t>{0, 1, -1});
}

TEST_CASE("open_dataset dispatches folders, lists and IDX files, and names missing paths",
          "[open]") {
  ScratchFolder root;
  fs::create_directories(root.path() / "images");
  ScratchFolder holder;  // keeps the list outside the image folder
  for (const auto& [name, base] : {std::pair<std::string, int>{"b", 20}, {"a", 10}}) {
    fs::create_directories(root.path() / "images" / name);
    write_level(root.file("images/" + name + "/0.png"), base);
  }
  write_text(holder.file("list.txt"), root.file("images/b/0.png") + " 1\n");

  const auto folder = open_dataset(root.file("images"), ImageShape{3, 8, 8});
  CHECK(dynamic_cast<ImageFolderDataset*>(folder.get()) != nullptr);
  CHECK(folder->info().class_names == std::vector<std::string>{"a", "b"});

  const auto list = open_dataset(holder.file("list.txt"), ImageShape{1, 5, 5});
  CHECK(dynamic_cast<FileListDataset*>(list.get()) != nullptr);
  CHECK(list->get({0}).images.sizes() == at::IntArrayRef({1, 1, 5, 5}));

  const std::string missing = root.file("nothing-here");
  CHECK(message_of<InputError>([&] { open_dataset(missing); }) ==
        missing + ": no such file or directory");
  write_text(root.file("weights.bin"), "x");
  CHECK_THROWS_AS(open_dataset(root.file("weights.bin")), UsageError);
  CHECK_THROWS_AS(open_dataset(root.file("images"), {}, ResizePolicy::kShorterSideCrop,
                               root.file("labels.idx")),
                  UsageError);
  CHECK_THROWS_AS(open_dataset(""), UsageError);
}

TEST_CASE("open_dataset finds IDX labels beside the images and fits IDX images to the target",
          "[open][idx]") {
  ScratchFolder root;
  const at::Tensor images = torch::arange(4 * 6 * 6, torch::kLong).remainder(256)
                                .to(torch::kByte).view({4, 6, 6});
  write_idx(root.file("toy-images-idx3-ubyte.gz"), images, true);
  write_idx(root.file("toy-labels-idx1-ubyte.gz"), torch::tensor({3, 1, 2, 0}, torch::kByte),
            true);

  const auto own = open_dataset(root.file("toy-images-idx3-ubyte.gz"));
  CHECK(own->info().height == 6);
  const Batch batch = own->get({0, 1, 2, 3});
  CHECK(labels_of(batch) == std::vector<int64_t>{3, 1, 2, 0});
  CHECK(batch.images.sizes() == at::IntArrayRef({4, 1, 6, 6}));

  const auto fitted = open_dataset(root.file("toy-images-idx3-ubyte.gz"), ImageShape{3, 12, 12});
  CHECK(fitted->info().channels == 3);
  CHECK(fitted->info().height == 12);
  const Batch big = fitted->get({1, 2});
  CHECK(big.images.sizes() == at::IntArrayRef({2, 3, 12, 12}));
  CHECK(labels_of(big) == std::vector<int64_t>{1, 2});
  CHECK(big.images.min().item<double>() >= 0.0);
  CHECK(big.images.max().item<double>() <= 1.0);

  // Without a sibling labels file the images are unlabelled.
  write_idx(root.file("lonely.idx"), images, false);
  CHECK(labels_of(open_dataset(root.file("lonely.idx"))->get({0, 1})) ==
        std::vector<int64_t>{-1, -1});
}

TEST_CASE("open_dataset names Fashion-MNIST with or without a split", "[open][fashion-mnist]") {
  CHECK_THROWS_AS(open_dataset("fashion-mnist:validation"), UsageError);
  if (!fs::exists(fs::path(fashion_mnist_dir()) / "t10k-images-idx3-ubyte.gz")) {
    WARN("Fashion-MNIST not installed; skipping the loading checks");
    return;
  }
  const auto test = open_dataset("fashion-mnist");
  CHECK(test->size() == 10000);
  CHECK(test->info().num_classes == 10);
  CHECK(open_dataset("FMNIST:test")->size() == 10000);
  const auto fitted = open_dataset("fashion-mnist:test", ImageShape{3, 32, 32});
  CHECK(fitted->get({0, 1}).images.sizes() == at::IntArrayRef({2, 3, 32, 32}));
  CHECK_FALSE(describe_data_specs().empty());
}

TEST_CASE("open_dataset opens CIFAR and IDX folders at a split, fitted to the target", "[open]") {
  ScratchFolder cifar;
  at::Tensor images = torch::randint(0, 256, {4, 3, 32, 32}, torch::kLong).to(torch::kUInt8);
  at::Tensor labels = torch::arange(4, torch::kLong);
  write_cifar_file(cifar.file("test_batch.bin"), images, labels, CifarKind::kCifar10);
  write_cifar_file(cifar.file("data_batch_1.bin"), images.narrow(0, 0, 3), labels.narrow(0, 0, 3), CifarKind::kCifar10);
  const auto test = open_dataset(cifar.path().string());
  CHECK(test->size() == 4);
  CHECK(test->info().name == cifar.path().string() + ":test");
  CHECK(open_dataset(cifar.path().string() + ":train")->size() == 3);
  const auto small = open_dataset(cifar.path().string() + ":test", ImageShape{1, 28, 28});
  CHECK(small->get({0}).images.sizes() == at::IntArrayRef({1, 1, 28, 28}));
  CHECK(open_dataset(cifar.path().string())->get({2}).labels[0].item<int64_t>() == 2);

  // A folder of MNIST-style IDX files (as /usr/share/datasets/fashion-mnist is).
  ScratchFolder idx;
  write_idx(idx.file("t10k-images-idx3-ubyte.gz"), torch::zeros({5, 6, 6}, torch::kUInt8), true);
  write_idx(idx.file("t10k-labels-idx1-ubyte.gz"), torch::arange(5, torch::kLong).to(torch::kUInt8), true);
  write_idx(idx.file("train-images-idx3-ubyte"), torch::zeros({7, 6, 6}, torch::kUInt8), false);
  const auto idx_test = open_dataset(idx.path().string());
  CHECK(idx_test->size() == 5);
  CHECK(idx_test->get({4}).labels[0].item<int64_t>() == 4);
  const auto idx_train = open_dataset(idx.path().string() + ":train");
  CHECK(idx_train->size() == 7);
  CHECK(idx_train->get({0}).labels[0].item<int64_t>() == -1);  // no train labels file: unlabelled

  // A split on an image folder, or a labels file for an archive folder, is a usage error.
  ScratchFolder plain;
  write_level(plain.file("0.png"), 10);
  CHECK_THROWS_AS(open_dataset(plain.path().string() + ":train"), UsageError);
  CHECK_THROWS_AS(open_dataset(cifar.path().string(), {}, ResizePolicy::kShorterSideCrop, cifar.file("l.idx")), UsageError);
}

TEST_CASE("tensor-held data takes the imagenet policy as image files do: the frame is cropped away", "[open]") {
  ScratchFolder dir;
  at::Tensor images = torch::zeros({2, 256, 256}, torch::kUInt8);
  images.narrow(1, 16, 224).narrow(2, 16, 224).fill_(200);  // the centre CenterCrop(224) keeps
  write_idx(dir.file("images.idx"), images, false);
  const auto data = open_dataset(dir.file("images.idx"), ImageShape{1, 224, 224}, ResizePolicy::kImageNet);
  const at::Tensor x = data->get({0, 1}).images;
  REQUIRE(x.sizes() == at::IntArrayRef({2, 1, 224, 224}));
  CHECK(x.min().item<float>() == Approx(200 / 255.0));
  const auto cropped = open_dataset(dir.file("images.idx"), ImageShape{1, 224, 224}, ResizePolicy::kShorterSideCrop);
  CHECK(cropped->get({0}).images.min().item<float>() < 0.5);  // the plain crop keeps the dark frame
}
