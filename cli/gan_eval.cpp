// mirage gan-eval — how good a generator's fakes are, measured on the features of a domain
// classifier mirage trained (no Inception weights here): Fréchet distance, KID, precision /
// recall, density / coverage and class coverage, each named for its feature extractor; for the
// 2-D toy, the modes covered.
#include <torch/torch.h>

#include <cctype>
#include <filesystem>

#include "cli/common.h"
#include "gan/metrics.h"
#include "gan/sampling.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/image/open_data.h"
#include "lib/image_tensor.h"
#include "lib/log.h"

namespace mirage::cli {

int gan_eval_main(const std::vector<std::string>& args) {
  CommonFlags common;
  SpecFlags spec_flags;
  std::string gan, fake_data, real_data, reference, classifier, out, tag, resize;
  int64_t n = 5000, batch_size = 256, k_pr = 3, k_dc = 5, kid_subsets = 100, kid_subset_size = 1000, klass = -1;
  double truncation = 0, min_share = 0.1;
  po::options_description options("options");
  options.add_options()
    ("gan", po::value(&gan), "checkpoint folder or generator.pt to draw fakes from")
    ("fake", po::value(&fake_data), "or: fakes already on disk (folder, IDX, list)")
    ("real", po::value(&real_data)->default_value("fashion-mnist:test"), "real images to compare with")
    ("reference", po::value(&reference), "more real images, scored against --real the same way: the floor a perfect generator would reach")
    ("classifier", po::value(&classifier), "domain classifier whose features() (else logits) are the feature space (required for images)")
    ("features-name", po::value(&tag), "name of the feature space in metric keys, e.g. fd_fmnist (default: fmnist for Fashion-MNIST, else domain)")
    ("num,n", po::value(&n)->default_value(5000), "fakes and real images to use (each)")
    ("class", po::value(&klass)->default_value(-1), "conditional generators: only this class (default: all classes in turn)")
    ("truncation", po::value(&truncation)->default_value(0.0), "latent truncation of the fakes (0 = off)")
    ("k-pr", po::value(&k_pr)->default_value(3), "k of precision/recall (Kynkaanniemi et al. use 3)")
    ("k-dc", po::value(&k_dc)->default_value(5), "k of density/coverage (Naeem et al. use 5)")
    ("kid-subsets", po::value(&kid_subsets)->default_value(100), "KID: random subsets")
    ("kid-subset-size", po::value(&kid_subset_size)->default_value(1000), "KID: subset size")
    ("min-share", po::value(&min_share)->default_value(0.1), "a class counts as covered with at least this share of N/K fakes")
    ("batch-size", po::value(&batch_size)->default_value(256), "images per forward pass")
    ("resize", po::value(&resize)->default_value("crop"), "how image files are fitted: crop or stretch")
    ("out,o", po::value(&out)->default_value("-"), "report JSON ('-' = stdout)");
  add_common_options(options, common);
  po::variables_map vm;
  if (!parse_command("gan-eval", "(--gan CHECKPOINT | --fake DATA) --classifier MODEL.pt [options]",
                     "Scores fakes against real images on the features of a domain classifier (train one with\n"
                     "'mirage train-classifier'; its penultimate layer is used). Metric names carry the feature\n"
                     "space (fd_fmnist, kid_fmnist, precision_fmnist, ...): they are not Inception FID and are\n"
                     "comparable only with figures on the same classifier. Class coverage: the entropy of the\n"
                     "classifier's predicted-class histogram of the fakes and the classes covered. --reference adds\n"
                     "the same figures for real-vs-real, the floor. A 2-D toy checkpoint reports modes covered.",
                     "  mirage gan-eval --gan runs/dcgan/checkpoint --classifier fmnist.pt --reference fashion-mnist:train\n"
                     "  mirage gan-eval --fake fakes/images --classifier fmnist.pt -n 2000 --out eval.json\n"
                     "  mirage gan-eval --gan runs/toy/checkpoint -n 2500\n",
                     args, options, {}, vm, describe_data_specs())) {
    return kExitOk;
  }
  if (gan.empty() == fake_data.empty()) throw UsageError("give exactly one of --gan and --fake");
  if (n < 2) throw UsageError("--num: must be at least 2");
  if (batch_size < 1 || k_pr < 1 || k_dc < 1 || kid_subsets < 1 || kid_subset_size < 2) {
    throw UsageError("--batch-size, --k-pr, --k-dc, --kid-subsets must be >= 1 and --kid-subset-size >= 2");
  }
  if (out != "-") check_output_path(out);
  Runtime runtime = start_runtime(common);
  const std::string started = utc_now();
  nlohmann::json report = run_header("gan-eval", runtime, started);

  std::unique_ptr<GeneratorModel> g;
  if (!gan.empty()) g = GeneratorModel::load(gan, runtime.device);
  if (g && g->arch() == "toy") {
    // The 2-D mode-collapse benchmark: samples against the mixture the toy was trained on.
    const std::string mixture_name = g->spec().extra["config"].value("mixture", std::string("ring8"));
    at::Tensor points = generate_fakes(*g, fake_seeds(runtime.seed, n), {}, truncation);
    ModeCoverage mc = mode_coverage(toy_mixture(mixture_name), points);
    report["generator"] = model_file_json(g->path(), g->spec());
    report["mode_coverage"] = mode_coverage_json(mc, mixture_name, n);
    write_json(out, report);
    log_info("modes covered " + std::to_string(mc.modes_covered) + "/" + std::to_string(mc.modes));
    return kExitOk;
  }
  if (classifier.empty()) throw UsageError("--classifier: required for image GANs (train one with 'mirage train-classifier')");
  if (g && !g->takes_noise()) throw UsageError("--gan: " + gan + " is a " + g->arch() + " translator; evaluate its outputs with --fake");
  if (tag.empty()) {
    tag = real_data.rfind("fashion-mnist", 0) == 0 || real_data.rfind("fmnist", 0) == 0 ? "fmnist" : "domain";
  }
  for (char ch : tag) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_') throw UsageError("--features-name: letters, digits and _ only");
  }

  auto classifier_model = open_model(classifier, spec_flags, runtime.device);
  ClassifierFeatures fx(*classifier_model);
  const ModelSpec& cs = classifier_model->spec();
  auto real = open_data(real_data, "", resize, cs.channels, cs.height, cs.width);
  FeatureSet real_set = fx.of_data(*real, n, batch_size, "real");

  FeatureSet fake_set;
  nlohmann::json fake_json;
  if (g) {
    if (g->num_classes() == 0 && klass >= 0) throw UsageError("--class: " + gan + " is not a conditional generator");
    if (klass >= g->num_classes() && g->num_classes() > 0) throw UsageError("--class: " + std::to_string(klass) + " is out of range");
    fake_set = fx.of_fakes(*g, runtime.seed, n, batch_size, truncation, klass);
    fake_json = {{"generator", model_file_json(g->path(), g->spec())}, {"n", n}, {"truncation", truncation},
                 {"class", klass >= 0 ? nlohmann::json(klass) : nlohmann::json(nullptr)}};
    // A conditional generator should draw what was asked for: the classifier's agreement.
    if (!fake_set.requested.empty()) fake_json["class_agreement"] = class_agreement(fake_set);
  } else {
    auto fakes = open_data(fake_data, "", resize, cs.channels, cs.height, cs.width);
    fake_set = fx.of_data(*fakes, n, batch_size, "fakes");
    fake_json = {{"data", fakes->info().name}, {"n", fake_set.features.size(0)}};
  }
  SampleQualityOptions quality;
  quality.k_pr = k_pr;
  quality.k_dc = k_dc;
  quality.kid_subsets = kid_subsets;
  quality.kid_subset_size = kid_subset_size;
  quality.kid_seed = derive_seed(runtime.seed, "kid");
  auto metrics = [&](const FeatureSet& a, const FeatureSet& b) {
    return sample_quality_json(sample_quality(a.features, b.features, quality), tag);
  };
  auto coverage = [&](const FeatureSet& f) {
    return class_coverage_json(class_coverage(f.predictions, cs.num_classes, min_share), cs.num_classes, min_share,
                               cs.class_names);
  };
  report["features"] = {{"name", tag}, {"classifier", model_file_json(classifier, cs)},
                        {"layer", fx.layer()}, {"dim", real_set.features.size(1)},
                        {"note", "not Inception features: compare only with figures on the same classifier"}};
  report["real"] = {{"data", real_set.name}, {"n", real_set.features.size(0)}};
  report["fake"] = fake_json;
  report["metrics"] = metrics(real_set, fake_set);
  report["class_coverage"] = coverage(fake_set);
  if (!reference.empty()) {
    auto ref = open_data(reference, "", resize, cs.channels, cs.height, cs.width);
    FeatureSet ref_set = fx.of_data(*ref, n, batch_size, "reference");
    report["floor"] = {{"data", ref_set.name}, {"n", ref_set.features.size(0)},
                       {"metrics", metrics(real_set, ref_set)}, {"class_coverage", coverage(ref_set)}};
  }
  report["config"] = {{"n", n}, {"k_pr", k_pr}, {"k_dc", k_dc}, {"kid_subsets", kid_subsets},
                      {"kid_subset_size", kid_subset_size}, {"min_share", min_share}, {"truncation", truncation}};
  write_json(out, report);
  const auto& m = report["metrics"];
  char line[200];
  std::snprintf(line, sizeof(line), "fd_%s %.3f, precision %.3f, recall %.3f, classes covered %lld/%lld", tag.c_str(),
                m["fd_" + tag].get<double>(), m["precision_" + tag].get<double>(), m["recall_" + tag].get<double>(),
                static_cast<long long>(report["class_coverage"]["classes_covered"].get<int64_t>()),
                static_cast<long long>(cs.num_classes));
  log_info(line);
  return kExitOk;
}

}  // namespace mirage::cli
