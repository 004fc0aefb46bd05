// mirage latent-search — unrestricted adversarial examples (Song et al., NeurIPS 2018) and
// detector-evading fakes, found by searching a GAN's latent space: start and found PNGs, one JSON
// line per start, a summary; written into one folder that appears only when the run completes.
#include <torch/torch.h>

#include <cstdio>

#include "cli/common.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/log.h"
#include "reports/latent_search_run.h"

namespace mirage::cli {

namespace {

// A default for --help as a person writes it (0.1, not 0.10000000000000001).
std::string shortest(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

}  // namespace

int latent_search_main(const std::vector<std::string>& args) {
  CommonFlags common;
  LatentSearchRunConfig c;
  std::string out;
  bool overwrite = false;
  LatentSearchOptions& o = c.search;
  po::options_description options("options");
  options.add_options()
    ("gan", po::value(&c.gan)->required(), "noise GAN: checkpoint folder (from train-gan) or its generator.pt")
    ("model,m", po::value(&c.model), "target classifier (.pt): unrestricted adversarial search")
    ("aux", po::value(&c.aux), "auxiliary classifier (.pt) that must still see the GAN's class (conditional GAN)")
    ("detector", po::value(&c.detector), "target detector (.pt): search for fakes it calls real")
    ("num,n", po::value(&c.n)->default_value(64), "how many starts; start i has latent seed fake_seed(--seed, i), as in 'mirage generate'")
    ("classes", po::value(&c.classes), "conditional GAN: all (default, classes in turn), K, or K1,K2 (in turn)")
    ("target", po::value(&c.target_class)->default_value(-1), "--model: search for images the model calls class K (default: any class but the start's)")
    ("steps", po::value(&o.steps)->default_value(o.steps), "Adam steps on z")
    ("lr", po::value(&o.lr)->default_value(o.lr, shortest(o.lr)), "Adam learning rate on z")
    ("eps-z", po::value(&o.eps_z)->default_value(o.eps_z, shortest(o.eps_z)), "per-coordinate distance from z0 that costs nothing")
    ("lambda-z", po::value(&o.lambda_z)->default_value(o.lambda_z), "weight of the distance term beyond --eps-z")
    ("lambda-aux", po::value(&o.lambda_aux)->default_value(o.lambda_aux), "weight of the auxiliary classifier's cross-entropy")
    ("kappa", po::value(&o.kappa)->default_value(o.kappa, shortest(o.kappa)), "margin (logits) past the target's decision boundary at which its term stops pulling")
    ("gradient-free", po::bool_switch(&o.gradient_free), "estimate gradients by NES from model outputs only (no backward through the target)")
    ("nes-samples", po::value(&o.nes_samples)->default_value(o.nes_samples), "NES antithetic pairs per step")
    ("nes-sigma", po::value(&o.nes_sigma)->default_value(o.nes_sigma, shortest(o.nes_sigma)), "NES sampling radius in z")
    ("truncation", po::value(&o.truncation)->default_value(0.0), "start codes: redraw latent entries beyond +-T (0 = off; as 'mirage generate')")
    ("no-early-stop", "keep searching after a success (returns the closest success)")
    ("batch-size", po::value(&o.batch_size)->default_value(64), "starts searched together")
    ("bit-depth", po::value(&c.bits)->default_value(8), "PNG bits per channel: 8 or 16")
    ("out,o", po::value(&out)->required(), "output folder: found/, start/, results.jsonl, summary.json")
    ("overwrite", po::bool_switch(&overwrite), "replace an existing --out folder");
  add_common_options(options, common);
  po::variables_map vm;
  if (!parse_command("latent-search", "--gan CHECKPOINT (--model M.pt [--aux A.pt] | --detector D.pt) --out DIR [options]",
                     "Searches a GAN's latent space, from the latent seeds 'mirage generate' would use, for images a\n"
                     "classifier gets wrong (unrestricted adversarial examples, Song et al. 2018) or that a detector\n"
                     "calls real. With --model the target must stop predicting the start's class (or predict\n"
                     "--target); for a conditional GAN the class is the one given to the generator, and --aux names\n"
                     "a classifier that must still see it (success requires both). With --detector the goal is its\n"
                     "verdict 'real'. The code z moves by Adam on the target's margin plus a distance penalty beyond\n"
                     "--eps-z (and the auxiliary cross-entropy); --gradient-free estimates that gradient by NES.\n"
                     "Writes into --out (which appears only when the run completes): found/ and start/ PNGs named\n"
                     "<index>_seed<seed>.png, results.jsonl (one line per start) and summary.json.",
                     "  mirage latent-search --gan runs/cgan/checkpoint --model fmnist.pt --aux aux.pt -n 100 --out unrestricted\n"
                     "  mirage latent-search --gan runs/cgan/checkpoint --model fmnist.pt --classes 7 --target 5 --out sneaker-to-sandal\n"
                     "  mirage latent-search --gan runs/dcgan/checkpoint --detector det.pt -n 200 --out evading\n"
                     "  mirage latent-search --gan runs/dcgan/checkpoint --detector det.pt --gradient-free --nes-samples 20 --out nes\n",
                     args, options, {}, vm)) {
    return kExitOk;
  }
  o.early_stop = !vm.count("no-early-stop");
  check_latent_search_config(c);
  AtomicDirectory folder(out, overwrite);
  Runtime runtime = start_runtime(common);
  const std::string started = utc_now();
  LatentSearchRun run(c, runtime.seed, runtime.device);
  nlohmann::json summary = run_header("latent-search", runtime, started);
  summary.update(run.run(folder.staging()));
  summary["gan"] = model_file_json(run.gan().path(), run.gan().spec());
  if (run.classifier()) summary["model"] = model_file_json(c.model, run.classifier()->spec());
  if (run.detector()) summary["detector"] = model_file_json(c.detector, run.detector()->spec());
  summary["aux"] = run.aux() ? model_file_json(c.aux, run.aux()->spec()) : nlohmann::json(nullptr);
  write_json(folder.staging() + "/summary.json", summary);
  folder.commit();
  const auto successes = summary["successes"].get<int64_t>();
  char msg[200];
  std::snprintf(msg, sizeof(msg), "%lld/%lld searches succeeded (%.1f%%) in %.1f s, wrote %s", static_cast<long long>(successes),
                static_cast<long long>(c.n), 100.0 * static_cast<double>(successes) / static_cast<double>(c.n),
                summary["seconds"].get<double>(), out.c_str());
  log_info(msg);
  return kExitOk;
}

}  // namespace mirage::cli
