// lib/image/open_data.h — the one parser for every --data flag.
#pragma once
#include <memory>
#include <string>

#include "lib/dataset.h"
#include "lib/image/convert.h"

namespace mirage {

// Opens a data set from a spec, tried in this order:
//   fashion-mnist[:train|test], fmnist[:train|test]  the embedded set (default split: test)
//   <folder>[:train|test]         a folder of CIFAR-10/100 binary batches (lib/cifar.h) or of
//                                 MNIST-style IDX files (t10k-*, train-*), split test by default
//   <folder>                      otherwise ImageFolderDataset (root/<class>/<image>, or unlabelled)
//   <file>.idx | .gz | *-ubyte*   IDX images; labels from `labels_path`, else from a sibling
//                                 named with "images" -> "labels" (and "idx3" -> "idx1", as
//                                 Fashion-MNIST's files are) when it exists, else unlabelled
//   <file>.txt | .lst | .csv      FileListDataset ("path [label]" per line)
// Every set comes out fitted to `target` (a 0 field keeps the data's own): image files are
// fitted per image by fit_mat with `policy`; IDX sets, held as tensors, by fit_batch after a
// centre crop to the target's aspect ratio when `policy` is kShorterSideCrop.
// A path that does not exist is an InputError "<spec>: no such file or directory"; a file of
// another kind, or `labels_path` given for anything but IDX, is a UsageError.
std::shared_ptr<Dataset> open_dataset(const std::string& spec, const ImageShape& target = {},
                                      ResizePolicy policy = ResizePolicy::kShorterSideCrop,
                                      const std::string& labels_path = "");

// The forms above as a few lines of help text for the CLI's --help.
std::string describe_data_specs();

}  // namespace mirage
