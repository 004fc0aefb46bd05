// lib/image/folder_dataset.cpp
#include "lib/image/folder_dataset.h"

#include <torch/torch.h>

#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>

#include "lib/error.h"
#include "lib/image/io.h"
#include "lib/log.h"

namespace mirage {

namespace fs = std::filesystem;

namespace {

void check_target(const ImageShape& target) {
  if (target.channels < 0 || target.height < 0 || target.width < 0) {
    throw UsageError("target image shape must not be negative");
  }
  if (target.channels != 0 && target.channels != 1 && target.channels != 3) {
    throw UsageError("target channels " + std::to_string(target.channels) + ": expected 1 or 3");
  }
}

// Fills the zero fields of `target` from the first image: the only read at construction.
ImageShape complete_shape(ImageShape target, const std::string& first_image) {
  if (target.channels != 0 && target.height != 0 && target.width != 0) return target;
  const cv::Mat mat = read_image_mat(first_image);
  if (target.channels == 0) target.channels = mat.channels() <= 2 ? 1 : 3;  // 2 = gray + alpha
  if (target.height == 0) target.height = mat.rows;
  if (target.width == 0) target.width = mat.cols;
  return target;
}

bool is_hidden(const fs::path& path) {
  const std::string name = path.filename().string();
  return !name.empty() && name[0] == '.';
}

// Image files under `dir`, recursively, sorted by path so every run sees the same order.
std::vector<std::string> list_images(const fs::path& dir) {
  std::vector<std::string> out;
  try {
    const auto options = fs::directory_options::follow_directory_symlink |
                         fs::directory_options::skip_permission_denied;
    for (auto it = fs::recursive_directory_iterator(dir, options);
         it != fs::recursive_directory_iterator(); ++it) {
      if (is_hidden(it->path())) {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file() && is_image_path(it->path().string())) {
        out.push_back(it->path().string());
      }
    }
  } catch (const fs::filesystem_error& e) {
    throw InputError(dir.string() + ": cannot list folder (" + e.code().message() + ")");
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string trim(const std::string& s) {
  const char* const kSpace = " \t\r\n";
  const size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<int64_t> parse_label(const std::string& text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto result = std::from_chars(text.data(), end, value);
  if (result.ec != std::errc() || result.ptr != end || value < 0) return std::nullopt;
  return value;
}

}  // namespace

ImageFileList list_image_folder(const std::string& root) {
  std::error_code ec;
  if (!fs::exists(root, ec)) throw InputError(root + ": no such folder");
  if (!fs::is_directory(root, ec)) throw InputError(root + ": not a folder");

  std::vector<fs::path> class_dirs;
  int64_t loose_images = 0;
  try {
    for (const auto& entry : fs::directory_iterator(root)) {
      if (is_hidden(entry.path())) continue;
      if (entry.is_directory()) {
        class_dirs.push_back(entry.path());
      } else if (entry.is_regular_file() && is_image_path(entry.path().string())) {
        ++loose_images;
      }
    }
  } catch (const fs::filesystem_error& e) {
    throw InputError(root + ": cannot list folder (" + e.code().message() + ")");
  }
  std::sort(class_dirs.begin(), class_dirs.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });

  ImageFileList files;
  files.name = root;
  if (class_dirs.empty()) {
    files.paths = list_images(root);
    files.labels.assign(files.paths.size(), -1);
  } else {
    if (loose_images > 0) {
      log_warn(root + ": ignoring " + std::to_string(loose_images) +
               " image(s) directly in the folder; classes come from its subfolders");
    }
    for (size_t label = 0; label < class_dirs.size(); ++label) {
      std::vector<std::string> images = list_images(class_dirs[label]);
      if (images.empty()) {
        throw InputError(class_dirs[label].string() + ": class folder has no images");
      }
      files.paths.insert(files.paths.end(), images.begin(), images.end());
      files.labels.insert(files.labels.end(), images.size(), static_cast<int64_t>(label));
      files.class_names.push_back(class_dirs[label].filename().string());
    }
  }
  if (files.paths.empty()) {
    throw InputError(root + ": no images found (expected <root>/<class>/<image> or images in " +
                     "<root>)");
  }
  return files;
}

ImageFileList read_image_list(const std::string& list_path) {
  std::error_code ec;
  if (!fs::is_regular_file(list_path, ec)) throw InputError(list_path + ": no such file");
  std::ifstream in(list_path);
  if (!in) throw InputError(list_path + ": cannot open file for reading");
  const fs::path base = fs::path(list_path).parent_path();
  const bool csv = lower(fs::path(list_path).extension().string()) == ".csv";
  auto resolve = [&](const std::string& text) {
    const fs::path p(text);
    return (p.is_absolute() || base.empty() ? p : base / p).string();
  };

  ImageFileList files;
  files.name = list_path;
  int64_t max_label = -1;
  bool first_line = true;
  std::string raw;
  for (int64_t line_no = 1; std::getline(in, raw); ++line_no) {
    const std::string line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    const std::string where = list_path + ":" + std::to_string(line_no) + ": ";
    std::string path_text = line, label_text;
    const size_t split = csv ? line.rfind(',') : line.find_last_of(" \t");
    if (split != std::string::npos) {
      path_text = trim(line.substr(0, split));
      label_text = trim(line.substr(split + 1));
    }
    if (csv && first_line) {
      first_line = false;
      const std::string first_field = lower(trim(line.substr(0, line.find(','))));
      if (first_field == "path" || first_field == "file" || first_field == "filename" ||
          first_field == "image") {
        continue;
      }
    }
    first_line = false;
    int64_t label = -1;
    if (!label_text.empty()) {
      if (const auto parsed = parse_label(label_text)) {
        label = *parsed;
      } else if (!csv && fs::is_regular_file(resolve(line), ec)) {
        path_text = line;  // an unlabelled path that contains whitespace
      } else {
        throw InputError(where + "label '" + label_text +
                         "' is not an integer >= 0 (expected 'path [label]')");
      }
    }
    if (path_text.empty()) throw InputError(where + "no path (expected 'path [label]')");
    const std::string resolved = resolve(path_text);
    if (!fs::is_regular_file(resolved, ec)) throw InputError(where + resolved + ": no such file");
    files.paths.push_back(resolved);
    files.labels.push_back(label);
    max_label = std::max(max_label, label);
  }
  if (in.bad()) throw InputError(list_path + ": read error");
  if (files.paths.empty()) throw InputError(list_path + ": lists no images");
  for (int64_t k = 0; k <= max_label; ++k) files.class_names.push_back(std::to_string(k));
  return files;
}

ImageFileList collect_image_paths(const std::vector<std::string>& inputs) {
  if (inputs.empty()) throw InputError("no input files or folders given");
  ImageFileList files;
  std::vector<std::string> empty_folders;
  for (const auto& input : inputs) {
    files.name += (files.name.empty() ? "" : " ") + input;
    std::error_code ec;
    const fs::file_status status = fs::status(input, ec);
    if (!fs::exists(status)) throw InputError(input + ": no such file or directory");
    std::vector<std::string> found;
    if (fs::is_directory(status)) {
      found = list_images(input);
      if (found.empty()) empty_folders.push_back(input);
    } else {
      const std::string ext = lower(fs::path(input).extension().string());
      if (ext == ".txt" || ext == ".lst" || ext == ".csv") {
        found = read_image_list(input).paths;
      } else if (is_image_path(input)) {
        found = {input};  // named by the user: taken even if hidden
      } else {
        throw InputError(input + ": not an image file (png, jpg, jpeg, bmp, webp, tif, tiff, pgm, ppm), " +
                         "an image list (.txt, .lst, .csv) or a folder");
      }
    }
    files.paths.insert(files.paths.end(), found.begin(), found.end());
  }
  if (files.paths.empty()) throw InputError(files.name + ": no images found");
  // Only beside other images: alone, an empty folder is the error above.
  for (const auto& folder : empty_folders) log_warn(folder + ": no image files in this folder");
  files.labels.assign(files.paths.size(), -1);
  return files;
}

ImageFilesDataset::ImageFilesDataset(ImageFileList files, ImageShape target, ResizePolicy policy)
    : paths_(std::move(files.paths)), labels_(std::move(files.labels)), policy_(policy) {
  check_target(target);
  if (paths_.empty()) throw InputError(files.name + ": no images");
  if (labels_.size() != paths_.size()) {
    throw InternalError(files.name + ": " + std::to_string(labels_.size()) + " labels for " +
                        std::to_string(paths_.size()) + " images");
  }
  shape_ = complete_shape(target, paths_.front());
  info_.name = std::move(files.name);
  info_.channels = shape_.channels;
  info_.height = shape_.height;
  info_.width = shape_.width;
  info_.num_classes = static_cast<int64_t>(files.class_names.size());
  info_.class_names = std::move(files.class_names);
}

Batch ImageFilesDataset::get(const std::vector<int64_t>& indices) {
  Batch batch;
  std::vector<int64_t> labels;
  labels.reserve(indices.size());
  batch.ids.reserve(indices.size());
  for (int64_t i : indices) {
    if (i < 0 || i >= size()) {
      throw UsageError(info_.name + ": sample index " + std::to_string(i) +
                       " out of range (size " + std::to_string(size()) + ")");
    }
    batch.ids.push_back(paths_[i]);
    labels.push_back(labels_[i]);
  }
  batch.images = read_images(batch.ids, shape_, policy_);
  batch.labels = torch::tensor(labels, torch::kLong);
  return batch;
}

}  // namespace mirage
