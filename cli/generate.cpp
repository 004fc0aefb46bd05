// mirage generate — fakes from a trained generator: PNGs, a manifest with each fake's latent
// seed (so any one of them can be regenerated exactly), a summary and a grid.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli/common.h"
#include "gan/sampling.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/image/grid.h"
#include "lib/image/io.h"
#include "lib/image/open_data.h"
#include "lib/image_tensor.h"
#include "lib/log.h"
#include "lib/parse.h"

namespace mirage::cli {

namespace {

std::vector<uint64_t> parse_seed_list(const std::string& text) {
  std::vector<uint64_t> seeds;
  for (const std::string& item : split_list(text)) {
    try {
      size_t used = 0;
      seeds.push_back(std::stoull(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw UsageError("--latent-seeds: '" + item + "' is not a seed (a whole number from a manifest)");
    }
  }
  if (seeds.empty()) throw UsageError("--latent-seeds: no seed given");
  return seeds;
}

}  // namespace

int generate_main(const std::vector<std::string>& args) {
  CommonFlags common;
  std::string gan, out, data, labels, resize, latent_seeds;
  int64_t n = 64, klass = -1, batch_size = 256;
  int bits = 8;
  double truncation = 0;
  bool overwrite = false;
  po::options_description options("options");
  options.add_options()
    ("gan", po::value(&gan)->required(), "checkpoint folder (from train-gan) or its generator.pt")
    ("num,n", po::value(&n)->default_value(64), "how many fakes")
    ("out,o", po::value(&out)->required(), "output folder: images/, manifest.jsonl, summary.json, grid.png")
    ("class", po::value(&klass)->default_value(-1), "conditional generators: draw only this class (default: classes in turn)")
    ("truncation", po::value(&truncation)->default_value(0.0), "redraw latent entries beyond +-T (truncation trick; 0 = off)")
    ("latent-seeds", po::value(&latent_seeds), "regenerate these fakes: comma-separated seeds from a manifest (with their --class and --truncation)")
    ("data", po::value(&data), "translators (pix2pix, cyclegan, srgan): the images to translate")
    ("labels", po::value(&labels), "IDX label file for IDX --data")
    ("resize", po::value(&resize)->default_value("crop"), "how --data image files are fitted: crop or stretch")
    ("batch-size", po::value(&batch_size)->default_value(256), "translators: images per forward pass (noise generators run one fake per pass, so a fake is the same bits alone or in a batch)")
    ("bit-depth", po::value(&bits)->default_value(8), "PNG bits per channel: 8 or 16")
    ("overwrite", po::bool_switch(&overwrite), "replace an existing --out folder");
  add_common_options(options, common);
  po::variables_map vm;
  if (!parse_command("generate", "--gan CHECKPOINT -n N --out DIR [options]",
                     "Draws fakes from a generator trained by 'mirage train-gan'. Fake i of a run with --seed S\n"
                     "has latent seed fake_seed(S, i), recorded in manifest.jsonl: 'mirage generate --latent-seeds\n"
                     "SEED' (with the same --class/--truncation) regenerates it bit for bit on CPU. Translators\n"
                     "(pix2pix, cyclegan, srgan) map the images of --data instead. The folder appears only when\n"
                     "the run completes.",
                     "  mirage generate --gan runs/dcgan/checkpoint -n 1000 --out fakes\n"
                     "  mirage generate --gan runs/cgan/checkpoint -n 100 --class 7 --truncation 1.5 --out sneakers\n"
                     "  mirage generate --gan runs/cgan/checkpoint --latent-seeds 1234567 --class 7 --out one\n"
                     "  mirage generate --gan runs/p2p/checkpoint --data edges/ --out translated\n",
                     args, options, {}, vm)) {
    return kExitOk;
  }
  if (n < 1) throw UsageError("--num: must be at least 1");
  if (bits != 8 && bits != 16) throw UsageError("--bit-depth: must be 8 or 16");
  if (batch_size < 1) throw UsageError("--batch-size: must be at least 1");
  if (truncation < 0) throw UsageError("--truncation: must be >= 0");
  Runtime runtime = start_runtime(common);
  const std::string started = utc_now();
  auto g = GeneratorModel::load(gan, runtime.device);
  const ModelSpec& spec = g->spec();
  std::vector<uint64_t> seeds;
  if (!latent_seeds.empty()) {
    seeds = parse_seed_list(latent_seeds);
    n = static_cast<int64_t>(seeds.size());
  }
  std::shared_ptr<Dataset> inputs;
  if (g->takes_noise()) {
    if (!data.empty()) throw UsageError("--data: a " + g->arch() + " generator maps noise; it takes no images");
    if (g->num_classes() == 0 && klass >= 0) throw UsageError("--class: " + gan + " is not a conditional generator");
    if (klass >= g->num_classes() && g->num_classes() > 0) {
      throw UsageError("--class: " + std::to_string(klass) + " is out of range (the generator has " +
                       std::to_string(g->num_classes()) + " classes, 0.." + std::to_string(g->num_classes() - 1) + ")");
    }
  } else {
    if (data.empty()) throw UsageError("--data: a " + g->arch() + " generator translates images; give them with --data");
    if (!latent_seeds.empty() || truncation > 0 || klass >= 0) {
      throw UsageError("--latent-seeds/--truncation/--class apply to noise generators only");
    }
    inputs = open_data(data, labels, resize, spec.channels, spec.height, spec.width);
    if (!vm.count("num") || vm["num"].defaulted()) n = inputs->size();
    n = std::min(n, inputs->size());
  }

  AtomicDirectory folder(out, overwrite);
  const std::string staging = folder.staging();
  ensure_directory(staging + "/images");
  std::ofstream manifest(staging + "/manifest.jsonl");
  if (!manifest) throw InputError(staging + "/manifest.jsonl: cannot write");
  torch::NoGradGuard no_grad;
  Progress progress("generate", n);
  std::vector<at::Tensor> grid;
  int64_t grid_count = 0;
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t end = std::min(n, start + batch_size);
    std::vector<nlohmann::json> lines;
    at::Tensor images;
    if (g->takes_noise()) {
      const std::vector<uint64_t> batch_seeds =
          seeds.empty() ? fake_seeds(runtime.seed, end - start, start)
                        : std::vector<uint64_t>(seeds.begin() + start, seeds.begin() + end);
      const std::vector<int64_t> classes = fake_classes(g->num_classes(), end - start, start, klass);
      for (int64_t i = start; i < end; ++i) {
        const auto k = static_cast<size_t>(i - start);
        nlohmann::json line = {{"index", i}, {"seed", batch_seeds[k]}};
        if (!classes.empty()) {
          line["class"] = classes[k];
          if (static_cast<int64_t>(spec.class_names.size()) > classes[k]) {
            line["class_name"] = spec.class_names[static_cast<size_t>(classes[k])];
          }
        }
        if (truncation > 0) line["truncation"] = truncation;
        lines.push_back(line);
      }
      // One fake per forward pass, so a fake regenerated alone from its seed (--latent-seeds) is the same bits.
      images = generate_fakes(*g, batch_seeds, classes, truncation, /*one_per_pass=*/true);
    } else {
      std::vector<int64_t> idx;
      for (int64_t i = start; i < end; ++i) idx.push_back(i);
      Batch b = inputs->get(idx);
      images = g->translate(b.images).to(torch::kCPU);
      for (int64_t i = start; i < end; ++i) lines.push_back({{"index", i}, {"source", b.ids[static_cast<size_t>(i - start)]}});
    }
    check_image_batch(images, g->path() + " output");
    for (int64_t i = start; i < end; ++i) {
      char name[48];
      std::snprintf(name, sizeof(name), "images/%06lld.png", static_cast<long long>(i));
      write_image(staging + "/" + name, images[i - start], 95, bits);
      nlohmann::json& line = lines[static_cast<size_t>(i - start)];
      line["file"] = name;
      manifest << line.dump() << "\n";
    }
    if (grid_count < 64) {
      at::Tensor part = images.slice(0, 0, std::min<int64_t>(images.size(0), 64 - grid_count));
      grid.push_back(part);
      grid_count += part.size(0);
    }
    progress.advance(end - start);
  }
  progress.finish();
  manifest.close();
  if (!manifest) throw InputError(staging + "/manifest.jsonl: write failed");
  write_grid(staging + "/grid.png", torch::cat(grid, 0), 8);
  nlohmann::json summary = run_header("generate", runtime, started);
  summary["generator"] = model_file_json(g->path(), spec);
  summary["n"] = n;
  summary["class"] = klass >= 0 ? nlohmann::json(klass) : nlohmann::json(nullptr);
  summary["truncation"] = truncation;
  summary["bit_depth"] = bits;
  summary["data"] = inputs ? nlohmann::json(inputs->info().name) : nlohmann::json(nullptr);
  summary["seconds"] = progress.seconds();
  summary["images_per_second"] = static_cast<double>(n) / std::max(progress.seconds(), 1e-9);
  write_json(staging + "/summary.json", summary);
  folder.commit();
  log_info("wrote " + std::to_string(n) + " images, manifest.jsonl and summary.json to " + out);
  return kExitOk;
}

}  // namespace mirage::cli
