// lib/image/folder_dataset.h — data sets of image files on disk, read lazily.
//
// Construction only lists files (and reads the first one when the target shape is not given);
// get() decodes just the requested images and fits each to the target shape, so memory is
// bounded by the batch. A file that cannot be read or decoded makes get() throw InputError
// naming it; callers that want to skip bad files catch it.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "lib/dataset.h"
#include "lib/image/convert.h"

namespace mirage {

// What an image-file data set is made of, before any image is read.
struct ImageFileList {
  std::string name;                      // the folder or list file
  std::vector<std::string> paths;
  std::vector<int64_t> labels;           // one per path; -1 where unlabelled
  std::vector<std::string> class_names;  // label k is class_names[k]; empty when unlabelled
};

// root/<class>/**/<image>: classes are the sorted names of root's subfolders (label = index,
// as torchvision's ImageFolder); files within a class are sorted by path. A root with no
// subfolders is an unlabelled set of its images. Names starting with '.' are skipped (macOS
// "._x.jpg" resource forks are not images); image files are those is_image_path accepts.
// No images, or a class folder without any, is an InputError.
ImageFileList list_image_folder(const std::string& root);

// A text file listing one image per line: `path [label]`, label an integer >= 0. Relative
// paths are relative to the list file's folder; blank lines and lines starting with '#' are
// skipped. A .csv list separates path and label by a comma instead of whitespace and may start
// with a header line whose first field is "path", "file", "filename" or "image". Lines without
// a label get -1; the classes are "0" .. the largest label. A bad line or a listed file that
// does not exist is an InputError "<list>:<line>: ...".
ImageFileList read_image_list(const std::string& list_path);

// The images a scoring run takes, in the order given: each input is an image file (an
// extension is_image_path accepts), a list file (.txt, .lst, .csv, read as read_image_list does,
// its labels dropped) or a folder walked recursively (sorted paths; names starting with '.' and
// files that are not images skipped). Labels are -1 and there are no classes. A missing input
// is an InputError "<path>: no such file or directory", a file of any other kind an InputError
// naming it, and no images at all an InputError.
ImageFileList collect_image_paths(const std::vector<std::string>& inputs);

// Image files read lazily; ids are the paths. A zero field of `target` comes from the first
// image (channels: 1 for a gray image, else 3), the one file read at construction.
class ImageFilesDataset : public Dataset {
 public:
  explicit ImageFilesDataset(ImageFileList files, ImageShape target = {},
                             ResizePolicy policy = ResizePolicy::kShorterSideCrop);
  int64_t size() const override { return static_cast<int64_t>(paths_.size()); }
  const DatasetInfo& info() const override { return info_; }
  Batch get(const std::vector<int64_t>& indices) override;
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  std::vector<std::string> paths_;
  std::vector<int64_t> labels_;
  ImageShape shape_;
  ResizePolicy policy_;
  DatasetInfo info_;
};

class ImageFolderDataset final : public ImageFilesDataset {
 public:
  explicit ImageFolderDataset(const std::string& root, ImageShape target = {},
                              ResizePolicy policy = ResizePolicy::kShorterSideCrop)
      : ImageFilesDataset(list_image_folder(root), target, policy) {}
};

class FileListDataset final : public ImageFilesDataset {
 public:
  explicit FileListDataset(const std::string& list_path, ImageShape target = {},
                           ResizePolicy policy = ResizePolicy::kShorterSideCrop)
      : ImageFilesDataset(read_image_list(list_path), target, policy) {}
};

}  // namespace mirage
