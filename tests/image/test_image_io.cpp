// tests/image/test_image_io.cpp — decode/encode, conversions, fitting and grids.
#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "lib/error.h"
#include "lib/image/convert.h"
#include "lib/image/grid.h"
#include "lib/image/io.h"

#include "tests/test_util.h"

using mirage::test::message_of;
namespace fs = std::filesystem;
using namespace mirage;

namespace {

using ScratchDir = mirage::test::TempDir;

at::Tensor random_levels(int64_t c, int64_t h, int64_t w, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randint(0, 256, {c, h, w}, gen, torch::kFloat);
}

}  // namespace

TEST_CASE("PNG round trip keeps every 8-bit level exactly, gray and RGB", "[io]") {
  const int64_t channels = GENERATE(1, 3);
  ScratchDir dir;
  const at::Tensor levels = random_levels(channels, 9, 13, 42);
  const std::string path = dir.file("x.png");
  write_image(path, levels / 255.0);
  const at::Tensor back = read_image(path);
  REQUIRE(back.sizes() == levels.sizes());
  REQUIRE(back.scalar_type() == torch::kFloat);
  CHECK(torch::equal(back.mul(255.0).round(), levels));
  CHECK((back - levels / 255.0).abs().max().item<double>() < 1e-6);
}

TEST_CASE("reading RGBA drops alpha and returns channels in RGB order", "[io]") {
  ScratchDir dir;
  const std::string path = dir.file("rgba.png");
  cv::Mat bgra(4, 6, CV_8UC4, cv::Scalar(10, 20, 200, 128));  // B, G, R, A
  REQUIRE(cv::imwrite(path, bgra));
  REQUIRE(read_image_mat(path).channels() == 4);
  const at::Tensor t = read_image(path);
  REQUIRE(t.sizes() == at::IntArrayRef({3, 4, 6}));
  CHECK(t[0].mean().item<double>() == Approx(200.0 / 255));
  CHECK(t[1].mean().item<double>() == Approx(20.0 / 255));
  CHECK(t[2].mean().item<double>() == Approx(10.0 / 255));
}

TEST_CASE("a 16-bit PNG keeps its depth and is scaled by 1/65535", "[io]") {
  ScratchDir dir;
  const std::string path = dir.file("deep.png");
  cv::Mat deep(1, 4, CV_16UC1);
  deep.at<uint16_t>(0, 0) = 0;
  deep.at<uint16_t>(0, 1) = 1000;  // not a multiple of 257: 8-bit decoding would lose it
  deep.at<uint16_t>(0, 2) = 32768;
  deep.at<uint16_t>(0, 3) = 65535;
  REQUIRE(cv::imwrite(path, deep));
  REQUIRE(read_image_mat(path).depth() == CV_16U);
  const at::Tensor t = read_image(path);
  REQUIRE(t.sizes() == at::IntArrayRef({1, 1, 4}));
  CHECK(t[0][0][0].item<double>() == 0.0);
  CHECK(t[0][0][1].item<double>() == Approx(1000.0 / 65535).epsilon(1e-6));
  CHECK(t[0][0][2].item<double>() == Approx(32768.0 / 65535).epsilon(1e-6));
  CHECK(t[0][0][3].item<double>() == 1.0);
}

TEST_CASE("JPEG round trip of a smooth image stays within 0.02 mean absolute error", "[io]") {
  ScratchDir dir;
  const std::string ext = GENERATE(std::string(".jpg"), std::string(".jpeg"));
  const at::Tensor ramp = torch::linspace(0.0, 1.0, 32);
  const at::Tensor image = torch::stack({ramp.view({1, 32}).expand({32, 32}),
                                         ramp.view({32, 1}).expand({32, 32}),
                                         torch::full({32, 32}, 0.3)});
  const std::string path = dir.file("smooth" + ext);
  write_image(path, image, 95);
  const at::Tensor back = read_image(path);
  REQUIRE(back.sizes() == image.sizes());
  CHECK((back - image).abs().mean().item<double>() < 0.02);
}

TEST_CASE("a corrupt image is an InputError naming the file", "[io][errors]") {
  ScratchDir dir;
  const std::string path = dir.file("corrupt.png");
  {
    std::ofstream out(path, std::ios::binary);
    std::mt19937 rng(7);
    for (int i = 0; i < 512; ++i) out.put(static_cast<char>(rng() & 0xff));
  }
  const std::string message = message_of<InputError>([&] { read_image(path); });
  CHECK_THAT(message, Catch::Contains(path) && Catch::Contains("cannot decode"));

  const std::string empty = dir.file("empty.jpg");
  std::ofstream(empty).close();
  CHECK_THAT(message_of<InputError>([&] { read_image(empty); }), Catch::Contains(empty));
}

TEST_CASE("a truncated PNG or JPEG is an InputError, not a partly gray image", "[io][errors]") {
  ScratchDir dir;
  const std::string ext = GENERATE(std::string(".png"), std::string(".jpg"));
  const std::string whole = dir.file("whole" + ext);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  write_image(whole, torch::rand({3, 48, 48}, gen));
  std::ifstream in(whole, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(read_image(whole).size(1) == 48);
  const std::string cut = dir.file("cut" + ext);
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  CHECK_THAT(message_of<InputError>([&] { read_image(cut); }), Catch::Contains(cut));
  // Bytes after the end-of-image marker (some cameras append data) do not make it truncated.
  const std::string tail = dir.file("tail" + ext);
  std::ofstream(tail, std::ios::binary) << bytes << std::string(16, '\0');
  CHECK(read_image(tail).size(1) == 48);
}

TEST_CASE("a missing image is an InputError 'no such file'", "[io][errors]") {
  ScratchDir dir;
  const std::string path = dir.file("absent.png");
  CHECK(message_of<InputError>([&] { read_image(path); }) == path + ": no such file");
  CHECK_THAT(message_of<InputError>([&] { read_image(dir.path().string()); }),
             Catch::Contains("folder"));
}

TEST_CASE("write_image picks the format from the extension and creates the folder", "[io]") {
  ScratchDir dir;
  const at::Tensor image = torch::full({3, 5, 5}, 0.5);
  for (const std::string ext : {".png", ".PNG", ".bmp", ".webp", ".jpg"}) {
    const std::string path = dir.file("nested/deeper/img" + ext);
    write_image(path, image);
    CHECK(read_image(path).sizes() == image.sizes());
  }
  CHECK_THAT(message_of<UsageError>([&] { write_image(dir.file("img.gif"), image); }),
             Catch::Contains(".gif"));
  CHECK_THROWS_AS(write_image(dir.file("img.jpg"), image, 0), UsageError);
  CHECK_THROWS_AS(write_image(dir.file("img.png"), torch::full({2, 5, 5}, 0.5)), InputError);
  // Nothing is left behind by the failed writes.
  CHECK_FALSE(fs::exists(dir.file("img.gif")));
  CHECK_FALSE(fs::exists(dir.file("img.png")));
}

TEST_CASE("tensor_to_mat clamps, rounds to the nearest level and rejects NaN", "[convert]") {
  const at::Tensor t = torch::tensor({-0.2, 0.5, 1.5, 1.0 / 255 * 0.49}).view({1, 1, 4});
  const cv::Mat mat = tensor_to_mat(t);
  REQUIRE(mat.type() == CV_8UC1);
  CHECK(mat.at<uint8_t>(0, 0) == 0);
  CHECK(mat.at<uint8_t>(0, 1) == 128);  // 127.5 rounds up
  CHECK(mat.at<uint8_t>(0, 2) == 255);
  CHECK(mat.at<uint8_t>(0, 3) == 0);
  CHECK_THROWS_AS(tensor_to_mat(torch::full({3, 2, 2}, std::nan(""))), InputError);

  // RGB tensor -> BGR Mat -> RGB tensor.
  const at::Tensor rgb = torch::tensor({1.0, 0.0, 0.0}).view({3, 1, 1});
  const cv::Mat bgr = tensor_to_mat(rgb);
  CHECK(bgr.at<cv::Vec3b>(0, 0) == cv::Vec3b(0, 0, 255));
  CHECK((mat_to_tensor(bgr) - rgb.to(torch::kFloat)).abs().max().item<double>() < 1e-6);
}

TEST_CASE("mat_to_tensor rejects depths and channel counts it cannot map", "[convert][errors]") {
  CHECK_THROWS_AS(mat_to_tensor(cv::Mat(2, 2, CV_64FC1, cv::Scalar(0.5))), InputError);
  CHECK_THROWS_AS(mat_to_tensor(cv::Mat::zeros(2, 2, CV_8UC(5))), InputError);
  CHECK_THROWS_AS(mat_to_tensor(cv::Mat()), InputError);
  const at::Tensor f = mat_to_tensor(cv::Mat(2, 2, CV_32FC1, cv::Scalar(1.7)));
  CHECK(f.max().item<double>() == 1.0);
}

namespace {

// 20 rows x 40 columns (BGR): red in columns 0-9, green 10-29, blue 30-39.
cv::Mat striped() {
  cv::Mat mat(20, 40, CV_8UC3, cv::Scalar(0, 255, 0));
  mat(cv::Rect(0, 0, 10, 20)).setTo(cv::Scalar(0, 0, 255));
  mat(cv::Rect(30, 0, 10, 20)).setTo(cv::Scalar(255, 0, 0));
  return mat;
}

}  // namespace

TEST_CASE("shorter-side crop of a 40x20 image to 10x10 keeps exactly the centre", "[fit]") {
  const cv::Mat out = fit_mat(striped(), 3, 10, 10, ResizePolicy::kShorterSideCrop);
  REQUIRE(out.rows == 10);
  REQUIRE(out.cols == 10);
  REQUIRE(out.type() == CV_8UC3);
  cv::Mat not_green;
  cv::inRange(out, cv::Scalar(0, 255, 0), cv::Scalar(0, 255, 0), not_green);
  CHECK(cv::countNonZero(not_green) == 100);
}

TEST_CASE("stretch keeps the whole image: both side stripes survive", "[fit]") {
  const cv::Mat out = fit_mat(striped(), 3, 10, 10, ResizePolicy::kStretch);
  REQUIRE(out.size() == cv::Size(10, 10));
  CHECK(out.at<cv::Vec3b>(5, 0) == cv::Vec3b(0, 0, 255));
  CHECK(out.at<cv::Vec3b>(5, 5) == cv::Vec3b(0, 255, 0));
  CHECK(out.at<cv::Vec3b>(5, 9) == cv::Vec3b(255, 0, 0));
}

TEST_CASE("the imagenet policy is Resize(256) then CenterCrop(224): the outer 16/256 of each side goes", "[fit]") {
  // A red frame of 1/16 of each side around a green centre: exactly what CenterCrop(224) of 256 drops.
  for (const int side : {256, 512}) {
    cv::Mat framed(side, side, CV_8UC3, cv::Scalar(0, 0, 255));
    framed(cv::Rect(side / 16, side / 16, side * 14 / 16, side * 14 / 16)).setTo(cv::Scalar(0, 255, 0));
    const cv::Mat out = fit_mat(framed, 3, 224, 224, ResizePolicy::kImageNet);
    REQUIRE(out.size() == cv::Size(224, 224));
    cv::Mat green;
    cv::inRange(out, cv::Scalar(0, 255, 0), cv::Scalar(0, 255, 0), green);
    CHECK(cv::countNonZero(green) == 224 * 224);
    // The plain centre crop keeps the frame.
    const cv::Mat cropped = fit_mat(framed, 3, 224, 224, ResizePolicy::kShorterSideCrop);
    CHECK(cropped.at<cv::Vec3b>(0, 0) == cv::Vec3b(0, 0, 255));
  }
  CHECK(parse_resize_policy("imagenet") == ResizePolicy::kImageNet);
  CHECK(resize_policy_name(ResizePolicy::kImageNet) == "imagenet");
  CHECK_THROWS_AS(parse_resize_policy("imagenett"), UsageError);
}

TEST_CASE("fit_mat always returns exactly the target size", "[fit]") {
  const auto policy = GENERATE(ResizePolicy::kShorterSideCrop, ResizePolicy::kStretch, ResizePolicy::kImageNet);
  const auto [rows, cols] = GENERATE(std::pair<int, int>{7, 13}, std::pair<int, int>{13, 7},
                                     std::pair<int, int>{1, 50}, std::pair<int, int>{50, 1},
                                     std::pair<int, int>{5, 6});
  const cv::Mat src(rows, cols, CV_8UC1, cv::Scalar(9));
  for (const auto& [h, w] : {std::pair<int, int>{5, 6}, {6, 5}, {32, 32}, {1, 1}}) {
    const cv::Mat out = fit_mat(src, 1, h, w, policy);
    CHECK(out.rows == h);
    CHECK(out.cols == w);
  }
  // Zero fields keep the source's size and channels.
  const cv::Mat same = fit_mat(src, 0, 0, 0, policy);
  CHECK(same.size() == src.size());
  CHECK(same.channels() == 1);
}

TEST_CASE("gray replicates to RGB and RGB converts to BT.601 luma gray", "[fit][convert]") {
  const cv::Mat gray(3, 3, CV_8UC1, cv::Scalar(77));
  const at::Tensor rgb = mat_to_tensor(fit_mat(gray, 3, 3, 3));
  REQUIRE(rgb.size(0) == 3);
  CHECK(torch::equal(rgb[0], rgb[1]));
  CHECK(torch::equal(rgb[1], rgb[2]));
  CHECK(rgb[0][0][0].item<double>() == Approx(77.0 / 255));

  const cv::Mat bgr(3, 3, CV_8UC3, cv::Scalar(10, 20, 200));
  const cv::Mat luma = fit_mat(bgr, 1, 3, 3);
  REQUIRE(luma.channels() == 1);
  const double expected = 0.299 * 200 + 0.587 * 20 + 0.114 * 10;
  CHECK(std::abs(luma.at<uint8_t>(1, 1) - expected) <= 1.0);

  const cv::Mat bgra(3, 3, CV_8UC4, cv::Scalar(10, 20, 200, 0));
  CHECK(fit_mat(bgra, 0, 0, 0).channels() == 3);
  CHECK_THROWS_AS(fit_mat(gray, 2, 3, 3), UsageError);
}

TEST_CASE("read_image with a target shape fits the file to it", "[io][fit]") {
  ScratchDir dir;
  const std::string path = dir.file("wide.png");
  REQUIRE(cv::imwrite(path, striped()));
  const at::Tensor t = read_image(path, 1, 10, 10, ResizePolicy::kShorterSideCrop);
  REQUIRE(t.sizes() == at::IntArrayRef({1, 10, 10}));
  // The centre is pure green: luma 0.587 * 255 ~ 150.
  CHECK(t.mul(255).round().min().item<double>() == Approx(150).margin(1));
  CHECK(t.mul(255).round().max().item<double>() == Approx(150).margin(1));
}

TEST_CASE("make_grid of 10 images in rows of 4 is 3 x 4 cells with padding", "[grid]") {
  std::vector<at::Tensor> images;
  for (int k = 0; k < 10; ++k) images.push_back(torch::full({3, 8, 8}, (k + 1) / 10.0));
  const at::Tensor batch = torch::stack(images);
  const at::Tensor grid = make_grid(batch, 4, 2, 0.5);
  REQUIRE(grid.sizes() == at::IntArrayRef({3, 3 * 10 + 2, 4 * 10 + 2}));
  // Image 9 is in row 2, column 1; row 2, column 2 is an empty cell.
  CHECK(grid.narrow(1, 22, 8).narrow(2, 12, 8).eq(1.0).all().item<bool>());
  CHECK(grid.narrow(1, 22, 8).narrow(2, 22, 8).eq(0.5).all().item<bool>());
  CHECK(grid.narrow(1, 0, 2).eq(0.5).all().item<bool>());  // top padding
  // Fewer images than a row: the grid is only as wide as the images.
  CHECK(make_grid(batch.narrow(0, 0, 3), 8, 2).sizes() == at::IntArrayRef({3, 12, 32}));
  CHECK(make_grid(batch, 4, 0).sizes() == at::IntArrayRef({3, 24, 32}));
  CHECK_THROWS_AS(make_grid(batch, 0), UsageError);

  ScratchDir dir;
  const std::string path = dir.file("grid.png");
  write_grid(path, batch, 4, 2, 0.5);
  CHECK(read_image(path).sizes() == grid.sizes());
}

TEST_CASE("image paths and resize policies are recognised by name", "[io][convert]") {
  CHECK(is_image_path("a/b/photo.JPG"));
  CHECK(is_image_path("x.tiff"));
  CHECK(is_image_path("x.pgm"));
  CHECK_FALSE(is_image_path("x.txt"));
  CHECK_FALSE(is_image_path("png"));
  CHECK(parse_resize_policy("crop") == ResizePolicy::kShorterSideCrop);
  CHECK(parse_resize_policy("stretch") == ResizePolicy::kStretch);
  CHECK(resize_policy_name(parse_resize_policy("stretch")) == "stretch");
  CHECK_THROWS_AS(parse_resize_policy("fill"), UsageError);
  CHECK(opencv_version().rfind("4.", 0) == 0);
}

TEST_CASE("write_image with 16 bits keeps floats to 1/65535, and quantize() says what a file holds", "[io][convert]") {
  ScratchDir dir;
  torch::manual_seed(3);
  auto img = torch::rand({3, 9, 7});
  for (int bits : {8, 16}) {
    const std::string path = dir.file("q" + std::to_string(bits) + ".png");
    write_image(path, img, 95, bits);
    auto back = read_image(path);
    const double levels = bits == 8 ? 255.0 : 65535.0;
    CHECK((back - img).abs().max().item<double>() <= 0.5 / levels + 1e-7);
    CHECK(torch::allclose(back, quantize(img, bits), 0.0, 1e-7));  // the file is exactly quantize()
  }
  CHECK(cv::imread(dir.file("q16.png"), cv::IMREAD_UNCHANGED).depth() == CV_16U);
  CHECK_THROWS_AS(write_image(dir.file("x.jpg"), img, 95, 16), UsageError);
  CHECK_THROWS_AS(quantize(img, 12), UsageError);
}
