// lib/cifar.h — the binary CIFAR-10 / CIFAR-100 format (Krizhevsky 2009, "binary version",
// the cifar-10-batches-bin/ and cifar-100-binary/ archives): fixed-size records, each the label
// byte(s) then 3072 pixel bytes, the red plane, then green, then blue, each 32x32 row-major.
// CIFAR-10 records are 3073 bytes (one label byte); CIFAR-100 records 3074 (coarse, then fine
// label: the fine label is the class, as torchvision's CIFAR100).
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "lib/dataset.h"

namespace mirage {

enum class CifarKind { kCifar10, kCifar100 };

// The records of `files`, in order, as one data set of [N, 3, 32, 32] images. A file that is
// empty or not a whole number of records is an InputError naming it, its length and the record
// size; a label beyond the kind's classes is an InputError naming the file and record.
std::shared_ptr<Dataset> open_cifar_files(const std::vector<std::string>& files, CifarKind kind, const std::string& name,
                                          std::vector<std::string> class_names = {});

// A folder of the archive's files: split "train" (CIFAR-10 data_batch_1..5.bin, CIFAR-100
// train.bin) or "test" (test_batch.bin, test.bin); class names from batches.meta.txt
// (CIFAR-10) or fine_label_names.txt (CIFAR-100) when present. nullptr when `dir` is not a
// CIFAR folder: CIFAR-10 is known by test_batch.bin or data_batch_1.bin, CIFAR-100 (whose
// train.bin / test.bin names are generic) only with its fine_label_names.txt or
// coarse_label_names.txt beside them. A split missing from a CIFAR folder is an InputError.
std::shared_ptr<Dataset> open_cifar_dir(const std::string& dir, const std::string& split);

// Writes [N, 3, 32, 32] u8 images and [N] labels as one CIFAR file (CIFAR-100: the label as
// both coarse and fine), atomically: test fixtures and small extracts.
void write_cifar_file(const std::string& path, const at::Tensor& images, const at::Tensor& labels, CifarKind kind);

}  // namespace mirage
