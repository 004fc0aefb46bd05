// tests/image/test_transforms.cpp — post-processing transforms (JPEG re-compression, down/up
// scaling) and collecting the image files a scoring run takes.
#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "lib/error.h"
#include "lib/idx.h"
#include "lib/image/convert.h"
#include "lib/image/folder_dataset.h"
#include "lib/image/io.h"
#include "lib/image/transforms.h"
#include "lib/log.h"

#include "tests/test_util.h"

using mirage::test::message_of;
namespace fs = std::filesystem;
using namespace mirage;

namespace {

// A garment-like test image [C, H, W] in [0,1]: a smooth background, a filled ellipse with a
// stripe texture and edges, a little noise; channels differ in tint. `seed` moves the shape.
at::Tensor structured_image(int64_t c, int64_t h, int64_t w, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto ys = torch::linspace(-1, 1, h).view({h, 1});
  const auto xs = torch::linspace(-1, 1, w).view({1, w});
  const double cx = 0.2 * (static_cast<double>(seed % 5) - 2) / 2, cy = 0.1 * (static_cast<double>(seed % 3) - 1);
  const auto inside = ((xs - cx).pow(2) / 0.45 + (ys - cy).pow(2) / 0.7).lt(1).to(torch::kFloat);
  const auto stripes = 0.5 + 0.3 * torch::sin(ys * (6.0 + static_cast<double>(seed % 4)) * 3.14159);
  const auto background = 0.1 + 0.1 * (xs + 1) * 0.5 + 0.0 * ys;
  std::vector<at::Tensor> channels;
  for (int64_t k = 0; k < c; ++k) {
    const double tint = 1.0 - 0.2 * static_cast<double>(k);
    channels.push_back(background * (1 - inside) + inside * stripes * tint);
  }
  return (torch::stack(channels) + 0.02 * torch::randn({c, h, w}, gen)).clamp(0, 1);
}

// N different structured images [N, C, H, W].
at::Tensor structured_batch(int64_t n, int64_t c, int64_t h, int64_t w) {
  std::vector<at::Tensor> images;
  for (int64_t i = 0; i < n; ++i) images.push_back(structured_image(c, h, w, 7 + static_cast<uint64_t>(i)));
  return torch::stack(images);
}

// The first `n` Fashion-MNIST test images when the data set is installed, else structured ones.
at::Tensor garments(int64_t n) {
  if (mirage::test::fashion_mnist_available()) {
    const char* env = std::getenv("MIRAGE_FASHION_MNIST_DIR");
    const std::string dir = env && *env ? env : "/usr/share/datasets/fashion-mnist";
    return read_idx(dir + "/t10k-images-idx3-ubyte.gz").slice(0, 0, n).unsqueeze(1).to(torch::kFloat) / 255.0;
  }
  return structured_batch(n, 1, 28, 28);
}

double mean_abs_error(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().mean().item<double>(); }

void touch(const std::string& path, const std::string& text = "x") { std::ofstream(path) << text; }

}  // namespace

TEST_CASE("jpeg_recompress keeps shape and channels and returns 8-bit levels in [0,1]", "[image][transforms]") {
  const int64_t channels = GENERATE(1, 3);
  const at::Tensor x = structured_batch(3, channels, 24, 20);
  const at::Tensor y = jpeg_recompress(x, 75);
  REQUIRE(y.sizes() == x.sizes());
  CHECK(y.scalar_type() == torch::kFloat);
  CHECK(y.min().item<double>() >= 0.0);
  CHECK(y.max().item<double>() <= 1.0);
  CHECK(((y * 255).round() - y * 255).abs().max().item<double>() < 1e-4);
  CHECK_FALSE(torch::equal(y, quantize(x, 8)));  // quality 75 does change a textured image
}

TEST_CASE("jpeg_recompress at quality 100 is close to identity", "[image][transforms]") {
  const int64_t channels = GENERATE(1, 3);
  at::Tensor x = structured_batch(2, 1, 32, 32);
  // RGB: the gray detail with a constant tint. 4:2:0 chroma subsampling (what JPEG files almost
  // always use) blurs colour detail at any quality, so only constant chroma survives intact.
  if (channels == 3) x = x * 0.8 + torch::tensor({0.0, 0.05, 0.1}).view({1, 3, 1, 1});
  x = quantize(x, 8);
  const at::Tensor y = jpeg_recompress(x, 100);
  REQUIRE(y.sizes() == x.sizes());
  // Quantisation tables of all ones leave only DCT rounding, plus YCbCr<->RGB rounding in colour
  // (measured: 1 level gray, 4 RGB).
  CHECK((y - x).abs().max().item<double>() <= (channels == 1 ? 2.5 : 5.5) / 255);
  CHECK(mean_abs_error(y, x) < 1.0 / 255);
}

TEST_CASE("jpeg_recompress error grows as the quality drops", "[image][transforms]") {
  const at::Tensor x = garments(16);
  const double e100 = mean_abs_error(jpeg_recompress(x, 100), x);
  const double e95 = mean_abs_error(jpeg_recompress(x, 95), x);
  const double e50 = mean_abs_error(jpeg_recompress(x, 50), x);
  const double e10 = mean_abs_error(jpeg_recompress(x, 10), x);
  INFO("mean abs error q100 " << e100 << ", q95 " << e95 << ", q50 " << e50 << ", q10 " << e10);
  CHECK(e100 < e95);
  CHECK(e95 < e50);
  CHECK(e50 < e10);
  CHECK(e10 > 2 * e50);
}

TEST_CASE("jpeg_recompress gives each image exactly what decode(encode(image)) gives", "[image][transforms]") {
  const int64_t channels = GENERATE(1, 3);
  const int quality = GENERATE(10, 90);
  const at::Tensor x = structured_batch(4, channels, 28, 28);
  const at::Tensor y = jpeg_recompress(x, quality);
  for (int64_t i = 0; i < x.size(0); ++i) {
    std::vector<uchar> bytes;
    REQUIRE(cv::imencode(".jpg", tensor_to_mat(x[i], 8), bytes, {cv::IMWRITE_JPEG_QUALITY, quality}));
    const cv::Mat back = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
    REQUIRE(back.channels() == channels);
    CHECK(torch::equal(y[i], mat_to_tensor(back)));
    // Batching changes nothing: the image alone gives the same pixels.
    CHECK(torch::equal(y[i], jpeg_recompress(x.slice(0, i, i + 1), quality)[0]));
  }
}

TEST_CASE("jpeg_recompress refuses a quality outside 1..100 and a bad batch", "[image][transforms]") {
  const at::Tensor x = structured_batch(1, 1, 8, 8);
  const int quality = GENERATE(0, -5, 101);
  CHECK(message_of<UsageError>([&] { jpeg_recompress(x, quality); }).find("expected 1..100") != std::string::npos);
  CHECK_THROWS_AS(jpeg_recompress(torch::rand({2, 2, 8, 8}), 90), InputError);  // 2 channels
  CHECK_THROWS_AS(jpeg_recompress(torch::rand({1, 8, 8}), 90), InputError);     // no batch axis
  CHECK_NOTHROW(jpeg_recompress(x, 1));
  CHECK_NOTHROW(jpeg_recompress(x, 100));
}

TEST_CASE("resize_roundtrip keeps shape, is the identity at scale 1 and keeps constant images",
          "[image][transforms]") {
  const int64_t channels = GENERATE(1, 3);
  const double scale = GENERATE(0.25, 0.5, 0.7, 1.0, 1.5, 2.0);
  const at::Tensor x = structured_batch(2, channels, 28, 20);
  const at::Tensor y = resize_roundtrip(x, scale);
  REQUIRE(y.sizes() == x.sizes());
  CHECK(y.min().item<double>() >= 0.0);
  CHECK(y.max().item<double>() <= 1.0);
  if (scale == 1.0) CHECK(torch::equal(y, x));
  const at::Tensor flat = torch::full({1, channels, 28, 20}, 0.3);
  CHECK((resize_roundtrip(flat, scale) - 0.3).abs().max().item<double>() < 1e-5);
}

TEST_CASE("resize_roundtrip at scale 1/2 averages 2x2 blocks: a pixel checkerboard turns flat gray",
          "[image][transforms]") {
  // INTER_AREA halving averages each 2x2 block, which holds two 0s and two 1s; enlarging a flat
  // image changes nothing. A wrong down-scaler (nearest, linear at the block corner) keeps
  // the 0/1 pattern.
  const auto ys = torch::arange(16).view({16, 1}), xs = torch::arange(16).view({1, 16});
  const at::Tensor checker = (ys + xs).remainder(2).to(torch::kFloat).expand({1, 1, 16, 16}).contiguous();
  CHECK((resize_roundtrip(checker, 0.5) - 0.5).abs().max().item<double>() < 1e-5);
  // Enlarging twice then shrinking back is not exact (bilinear then area), but a ramp survives.
  const at::Tensor smooth = torch::linspace(0, 1, 16).view({1, 1, 1, 16}).expand({1, 1, 16, 16}).contiguous();
  CHECK((resize_roundtrip(smooth, 2.0) - smooth).abs().max().item<double>() < 0.02);
  // Shrinking loses detail: a textured image changes more at 1/4 than at 1/2.
  const at::Tensor x = garments(8);
  CHECK(mean_abs_error(resize_roundtrip(x, 0.25), x) > mean_abs_error(resize_roundtrip(x, 0.5), x));
}

TEST_CASE("resize_roundtrip refuses a scale that is not a positive number", "[image][transforms]") {
  const at::Tensor x = structured_batch(1, 1, 8, 8);
  const double scale = GENERATE(0.0, -0.5, std::nan(""), std::numeric_limits<double>::infinity(), 5000.0);
  CHECK_THROWS_AS(resize_roundtrip(x, scale), UsageError);
}

TEST_CASE("collect_image_paths walks folders recursively in sorted order, skipping hidden and non-image files",
          "[image][transforms][collect]") {
  mirage::test::TempDir dir;
  const auto img = [](const std::string& path) { write_image(path, torch::full({1, 4, 4}, 0.5)); };
  fs::create_directories(dir.path() / "photos/b_sub/deeper");
  fs::create_directories(dir.path() / "photos/.cache");
  img(dir.file("photos/z.png"));
  img(dir.file("photos/a.JPG"));
  img(dir.file("photos/b_sub/m.png"));
  img(dir.file("photos/b_sub/deeper/c.bmp"));
  img(dir.file("photos/.hidden.png"));
  img(dir.file("photos/.cache/x.png"));
  touch(dir.file("photos/notes.txt"));  // in a folder, a .txt is not an image and not read as a list
  touch(dir.file("photos/readme.md"));
  img(dir.file("single.png"));

  const ImageFileList files = collect_image_paths({dir.file("single.png"), dir.file("photos")});
  const std::vector<std::string> expected = {
      dir.file("single.png"),          dir.file("photos") + "/a.JPG", dir.file("photos") + "/b_sub/deeper/c.bmp",
      dir.file("photos") + "/b_sub/m.png", dir.file("photos") + "/z.png"};
  CHECK(files.paths == expected);
  CHECK(files.labels == std::vector<int64_t>(expected.size(), -1));
  CHECK(files.class_names.empty());
  // Inputs keep the order they were given in; a hidden file named explicitly is taken.
  CHECK(collect_image_paths({dir.file("photos/.hidden.png"), dir.file("single.png")}).paths ==
        std::vector<std::string>{dir.file("photos/.hidden.png"), dir.file("single.png")});
}

TEST_CASE("collect_image_paths reads list files and refuses missing, non-image and empty inputs",
          "[image][transforms][collect]") {
  mirage::test::TempDir dir;
  write_image(dir.file("a.png"), torch::full({1, 4, 4}, 0.5));
  write_image(dir.file("b.png"), torch::full({1, 4, 4}, 0.5));
  touch(dir.file("list.txt"), "# two images\nb.png 3\n\na.png\n");
  const ImageFileList files = collect_image_paths({dir.file("list.txt")});
  CHECK(files.paths == std::vector<std::string>{dir.file("b.png"), dir.file("a.png")});
  CHECK(files.labels == std::vector<int64_t>{-1, -1});  // list labels are not scores' business

  CHECK(message_of<InputError>([&] { collect_image_paths({dir.file("a.png"), dir.file("gone.png")}); }) ==
        dir.file("gone.png") + ": no such file or directory");
  touch(dir.file("model.pt"));
  CHECK(message_of<InputError>([&] { collect_image_paths({dir.file("model.pt")}); }).find(dir.file("model.pt")) == 0);
  fs::create_directories(dir.path() / "empty/.hidden");
  write_image(dir.file("empty/.hidden/x.png"), torch::full({1, 4, 4}, 0.5));
  touch(dir.file("empty/notes.md"));
  std::vector<std::string> warnings;
  set_log_sink([&](const std::string& line) { warnings.push_back(line); });
  CHECK(message_of<InputError>([&] { collect_image_paths({dir.file("empty")}); }).find("no images") != std::string::npos);
  CHECK(warnings.empty());  // the error says it all
  CHECK_THROWS_AS(collect_image_paths({}), InputError);
  // An empty folder beside images is no error, the run has images; it is only warned about.
  const ImageFileList mixed = collect_image_paths({dir.file("empty"), dir.file("a.png")});
  set_log_sink(nullptr);
  CHECK(mixed.paths == std::vector<std::string>{dir.file("a.png")});
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find(dir.file("empty") + ": no image files") != std::string::npos);
}
