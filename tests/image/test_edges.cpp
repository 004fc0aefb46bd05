// tests/image/test_edges.cpp — Canny edge maps of image batches.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "lib/error.h"
#include "lib/image/edges.h"

using namespace mirage;

namespace {

// A [N, C, 32, 32] batch: black with a square of colour `rgb` (or gray level rgb[0]) on rows and
// columns 8..23.
torch::Tensor square(int64_t n, int64_t channels, std::vector<float> rgb = {1, 1, 1}) {
  auto x = torch::zeros({n, channels, 32, 32});
  for (int64_t c = 0; c < channels; ++c) x.select(1, c).slice(1, 8, 24).slice(2, 8, 24).fill_(rgb[c]);
  return x;
}

// Pixels within one of the square's boundary (rows/cols 7..9 or 22..24, inside 7..24).
torch::Tensor border_band() {
  auto band = torch::zeros({32, 32}, torch::kBool);
  band.slice(0, 7, 25).slice(1, 7, 25).fill_(true);
  band.slice(0, 10, 22).slice(1, 10, 22).fill_(false);
  return band;
}

}  // namespace

TEST_CASE("Canny edges of a white square lie on its border only, as a binary map", "[edges]") {
  auto e = canny_edges(square(2, 1));
  REQUIRE(e.sizes() == torch::IntArrayRef({2, 1, 32, 32}));
  CHECK(e.scalar_type() == torch::kFloat);
  CHECK(((e == 0) | (e == 1)).all().item<bool>());
  auto m = e[0][0];
  CHECK(m.slice(0, 10, 22).slice(1, 10, 22).sum().item<double>() == 0.0);  // interior
  CHECK(m.masked_select(border_band().logical_not()).sum().item<double>() == 0.0);  // background
  // Every side is found: each row 10..21 has an edge on the left and on the right side.
  CHECK(m.slice(0, 10, 22).slice(1, 7, 10).sum(1).min().item<double>() >= 1.0);
  CHECK(m.slice(0, 10, 22).slice(1, 22, 25).sum(1).min().item<double>() >= 1.0);
  CHECK(m.slice(1, 10, 22).slice(0, 7, 10).sum(0).min().item<double>() >= 1.0);
  CHECK(torch::equal(e[0], e[1]));
  CHECK(canny_edges(torch::full({1, 1, 16, 16}, 0.6)).sum().item<double>() == 0.0);
}

TEST_CASE("Canny edges of RGB images go through BT.601 gray", "[edges]") {
  // White: the same map as gray.
  CHECK(torch::equal(canny_edges(square(1, 3)), canny_edges(square(1, 1))));
  // Pure green is gray 150 (0.587): the same edges as that gray square.
  auto green = canny_edges(square(1, 3, {0, 1, 0}));
  CHECK(green.sum().item<double>() > 0);
  CHECK(torch::equal(green, canny_edges(square(1, 1, {150.0f / 255}))));
  // Pure blue is gray 29 (0.114): Sobel steps of 4 * 29 = 116 along the sides and 174 (|dx| + |dy|)
  // at the corners, under thresholds 120 / 250: no edge. A channel mean (85) or reading RGB as BGR
  // (red's 76) steps over 250 and would.
  CHECK(canny_edges(square(1, 3, {0, 0, 1}), 120, 250).sum().item<double>() == 0.0);
  CHECK(canny_edges(square(1, 1, {85.0f / 255}), 120, 250).sum().item<double>() > 0);
  CHECK(canny_edges(square(1, 1, {76.0f / 255}), 120, 250).sum().item<double>() > 0);
  CHECK(canny_edges(square(1, 3, {0, 0, 1}), 20, 100).sum().item<double>() > 0);
}

TEST_CASE("Canny edges reject shapes other than [N, 1 or 3, H, W] and inverted thresholds", "[edges]") {
  CHECK_THROWS_AS(canny_edges(torch::rand({2, 2, 8, 8})), UsageError);
  CHECK_THROWS_WITH(canny_edges(torch::rand({1, 8, 8})), Catch::Contains("[1, 8, 8]"));
  CHECK_THROWS_AS(canny_edges(torch::rand({1, 1, 8, 8}), 100, 50), UsageError);
  CHECK(canny_edges(torch::rand({0, 3, 8, 8})).sizes() == torch::IntArrayRef({0, 1, 8, 8}));
}
