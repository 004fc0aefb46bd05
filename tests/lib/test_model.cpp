#include <catch2/catch.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include <fstream>

#include "lib/classifier.h"
#include "lib/dataset.h"
#include "lib/error.h"
#include "lib/export.h"
#include "lib/model.h"
#include "tests/test_util.h"

using namespace mirage;

namespace {

SmallCnn tiny_cnn() {
  torch::manual_seed(3);
  SmallCnnOptions o;
  o.filters = 4;
  o.hidden = 8;
  SmallCnn net(o);
  // Non-trivial running statistics, so a wrong BN export would show.
  net->train();
  torch::NoGradGuard g;
  for (int i = 0; i < 3; ++i) net->forward(torch::rand({8, 1, 28, 28}));
  net->eval();
  return net;
}

std::vector<std::string> ten_names() {
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) names.push_back("c" + std::to_string(i));
  return names;
}

// A TorchScript module without metadata: flattens [N,1,1,2] pixels into 2 "logits".
void save_identity(const std::string& path) {
  torch::jit::Module m(c10::QualifiedName("__torch__.Identity"));
  m.define("def forward(self, x):\n    return torch.flatten(x, 1)\n");
  m.save(path);
}

nlohmann::json tensor_json(const torch::Tensor& x) {
  auto c = x.contiguous();
  return {{"shape", c.sizes().vec()},
          {"data", std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())}};
}

}  // namespace

TEST_CASE("an exported SmallCnn reloads with its spec and computes the same logits", "[model][export]") {
  test::TempDir dir;
  auto net = tiny_cnn();
  std::string path = dir.file("cnn.pt");
  export_small_cnn(net, ten_names(), path);
  auto model = TorchScriptModel::load(path, torch::kCPU);
  CHECK(model->had_metadata());
  const auto& spec = model->spec();
  CHECK(spec.channels == 1);
  CHECK(spec.height == 28);
  CHECK(spec.num_classes == 10);
  CHECK(spec.class_names == ten_names());
  CHECK(spec.extra.at("architecture") == "small_cnn");
  auto x = torch::rand({5, 1, 28, 28});
  torch::NoGradGuard g;
  CHECK(torch::allclose(model->logits(x), net->forward(x), 1e-5, 1e-5));
}

TEST_CASE("exporting the same net twice gives byte-identical files", "[model][export][determinism]") {
  test::TempDir a, b;
  auto net = tiny_cnn();
  export_small_cnn(net, ten_names(), a.file("cnn.pt"));
  export_small_cnn(net, ten_names(), b.file("cnn.pt"));
  std::ifstream fa(a.file("cnn.pt"), std::ios::binary), fb(b.file("cnn.pt"), std::ios::binary);
  std::string sa(std::istreambuf_iterator<char>(fa), {}), sb(std::istreambuf_iterator<char>(fb), {});
  CHECK(sa == sb);
}

TEST_CASE("exported logits are differentiable with respect to the input", "[model][export]") {
  test::TempDir dir;
  auto net = tiny_cnn();
  export_small_cnn(net, {}, dir.file("cnn.pt"));
  auto model = TorchScriptModel::load(dir.file("cnn.pt"), torch::kCPU);
  auto x = torch::rand({2, 1, 28, 28}).requires_grad_(true);
  model->logits(x).sum().backward();
  REQUIRE(x.grad().defined());
  CHECK(x.grad().abs().sum().item<float>() > 0);
  for (const auto& p : model->module().parameters()) CHECK_FALSE(p.requires_grad());
}

TEST_CASE("a model without metadata takes its spec from flags or from the data", "[model]") {
  test::TempDir dir;
  save_identity(dir.file("id.pt"));
  auto model = TorchScriptModel::load(dir.file("id.pt"), torch::kCPU);
  CHECK_FALSE(model->had_metadata());
  CHECK_FALSE(model->spec().complete());
  DatasetInfo data;
  data.channels = 1;
  data.height = 1;
  data.width = 2;
  data.class_names = {"a", "b"};
  model->complete_spec(data);
  CHECK(model->spec().num_classes == 2);  // from one probing forward pass
  CHECK(model->spec().class_names == std::vector<std::string>{"a", "b"});

  ModelSpec flags;
  flags.channels = 1;
  flags.height = 1;
  flags.width = 2;
  flags.num_classes = 2;
  flags.mean = {0.5};
  flags.std = {0.25};
  auto normalised = TorchScriptModel::load(dir.file("id.pt"), torch::kCPU, flags);
  auto out = normalised->logits(torch::tensor({1.0f, 0.5f}).view({1, 1, 1, 2}));
  CHECK(out[0][0].item<float>() == Approx(2.0));  // (1 - 0.5) / 0.25
  CHECK(out[0][1].item<float>() == Approx(0.0));
}

TEST_CASE("flags override the file's metadata", "[model]") {
  test::TempDir dir;
  auto net = tiny_cnn();
  export_small_cnn(net, ten_names(), dir.file("cnn.pt"));
  ModelSpec flags;
  flags.class_names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  auto model = TorchScriptModel::load(dir.file("cnn.pt"), torch::kCPU, flags);
  CHECK(model->spec().class_names.at(3) == "3");
  CHECK(model->spec().height == 28);  // the rest still from mirage.json
}

TEST_CASE("bad model files and inputs are InputErrors naming the file", "[model][errors]") {
  test::TempDir dir;
  std::string corrupt = dir.file("corrupt.pt");
  std::ofstream(corrupt) << "this is not a zip archive";
  CHECK_THROWS_WITH(TorchScriptModel::load(corrupt, torch::kCPU), Catch::Contains(corrupt));
  CHECK_THROWS_AS(TorchScriptModel::load(corrupt, torch::kCPU), InputError);
  CHECK_THROWS_AS(TorchScriptModel::load(dir.file("missing.pt"), torch::kCPU), InputError);

  auto net = tiny_cnn();
  export_small_cnn(net, {}, dir.file("cnn.pt"));
  auto model = TorchScriptModel::load(dir.file("cnn.pt"), torch::kCPU);
  CHECK_THROWS_WITH(model->logits(torch::rand({1, 3, 28, 28})), Catch::Contains("expects images [N, 1, 28, 28]"));

  torch::jit::Module bad_meta(c10::QualifiedName("__torch__.M"));
  bad_meta.define("def forward(self, x):\n    return torch.flatten(x, 1)\n");
  bad_meta.save(dir.file("badmeta.pt"), {{"mirage.json", "{not json"}});
  CHECK_THROWS_WITH(TorchScriptModel::load(dir.file("badmeta.pt"), torch::kCPU), Catch::Contains("mirage.json"));
  bad_meta.save(dir.file("badfield.pt"), {{"mirage.json", R"({"input": {"channels": "one"}})"}});
  CHECK_THROWS_WITH(TorchScriptModel::load(dir.file("badfield.pt"), torch::kCPU), Catch::Contains("input.channels"));
}

TEST_CASE("a model that outputs NaN is an InputError, not a result", "[model][errors]") {
  test::TempDir dir;
  torch::jit::Module m(c10::QualifiedName("__torch__.Nan"));
  m.define("def forward(self, x):\n    return torch.flatten(x, 1) / 0.0 * 0.0\n");
  m.save(dir.file("nan.pt"));
  auto model = TorchScriptModel::load(dir.file("nan.pt"), torch::kCPU);
  CHECK_THROWS_WITH(model->logits(torch::rand({2, 1, 1, 2})), Catch::Contains("NaN"));
}

TEST_CASE("the query counter counts images, not calls", "[model]") {
  test::TempDir dir;
  save_identity(dir.file("id.pt"));
  auto model = TorchScriptModel::load(dir.file("id.pt"), torch::kCPU);
  QueryCountingModel counted(*model);
  counted.logits(torch::rand({5, 1, 1, 2}));
  counted.logits(torch::rand({3, 1, 1, 2}));
  CHECK(counted.queries() == 8);
}

TEST_CASE("mirage's export loads in PyTorch with its metadata and the same outputs", "[model][export][python]") {
  if (!test::python_has_torch()) {
    WARN("python3 with torch not found; skipped (install python3-torch)");
    return;
  }
  test::TempDir dir;
  auto net = tiny_cnn();
  export_small_cnn(net, ten_names(), dir.file("cnn.pt"));
  auto x = torch::rand({3, 1, 28, 28});
  std::ofstream(dir.file("in.json")) << tensor_json(x).dump();
  auto r = test::run_command(std::string(MIRAGE_PYTHON) + " " + MIRAGE_SOURCE_DIR + "/tests/python/check_export.py " +
                             dir.file("cnn.pt") + " " + dir.file("in.json"));
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  CHECK(j["metadata"]["num_classes"] == 10);
  CHECK(j["metadata"]["input"]["channels"] == 1);
  auto py = j["logits"].get<std::vector<std::vector<float>>>();
  torch::NoGradGuard g;
  auto cpp = net->forward(x);
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 10; ++k) CHECK(py[i][k] == Approx(cpp[i][k].item<float>()).margin(1e-4));
}

TEST_CASE("a classifier scripted in PyTorch with no metadata works as is", "[model][python]") {
  if (!test::python_has_torch()) {
    WARN("python3 with torch not found; skipped (install python3-torch)");
    return;
  }
  test::TempDir dir;
  auto r = test::run_command(std::string(MIRAGE_PYTHON) + " " + MIRAGE_SOURCE_DIR + "/tests/python/make_plain_model.py " +
                             dir.file("plain.pt") + " " + dir.file("expected.json"));
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  auto model = TorchScriptModel::load(dir.file("plain.pt"), torch::kCPU);
  CHECK_FALSE(model->had_metadata());
  DatasetInfo data;
  data.channels = 1;
  data.height = 28;
  data.width = 28;
  model->complete_spec(data);
  CHECK(model->spec().num_classes == 10);
  std::ifstream in(dir.file("expected.json"));
  auto j = nlohmann::json::parse(in);
  auto x = torch::tensor(j["data"].get<std::vector<float>>()).view(j["shape"].get<std::vector<int64_t>>());
  auto expected = j["logits"].get<std::vector<std::vector<float>>>();
  auto logits = model->logits(x);
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 10; ++k) CHECK(logits[i][k].item<float>() == Approx(expected[i][k]).margin(1e-4));
}

TEST_CASE("a model fed the wrong input shape says which shape, where it came from, and the model's complaint", "[model][errors]") {
  test::TempDir dir;
  torch::jit::Module rgb(c10::QualifiedName("__torch__.Rgb"));
  rgb.define("def forward(self, x):\n    return torch.conv2d(x, torch.ones(4, 3, 1, 1)).mean([2, 3])\n");
  rgb.save(dir.file("rgb.pt"));
  DatasetInfo gray;
  gray.name = "fashion-mnist:test";
  gray.channels = 1;
  gray.height = gray.width = 28;
  auto model = TorchScriptModel::load(dir.file("rgb.pt"), torch::kCPU);
  const std::string from_data = test::message_of<InputError>([&] { model->complete_spec(gray); });
  CHECK(from_data.find(dir.file("rgb.pt") + ": forward failed on images [2, 1, 28, 28]") == 0);
  CHECK(from_data.find("from the data (fashion-mnist:test)") != std::string::npos);
  CHECK(from_data.find("--channels") != std::string::npos);
  CHECK(from_data.find("3 channels") != std::string::npos);  // the model's own complaint, not the interpreter's banner
  CHECK(from_data.find("The following operation failed") == std::string::npos);
  ModelSpec flags;
  flags.channels = 1;
  flags.height = flags.width = 8;
  flags.num_classes = 4;
  auto flagged = TorchScriptModel::load(dir.file("rgb.pt"), torch::kCPU, flags);
  const std::string from_flags = test::message_of<InputError>([&] { flagged->logits(torch::rand({1, 1, 8, 8})); });
  CHECK(from_flags.find("from flags (--channels/--height/--width)") != std::string::npos);
  // The right shape works.
  ModelSpec right = flags;
  right.channels = 3;
  CHECK(TorchScriptModel::load(dir.file("rgb.pt"), torch::kCPU, right)->logits(torch::rand({2, 3, 8, 8})).sizes() ==
        at::IntArrayRef({2, 4}));
}
