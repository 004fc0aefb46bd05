// lib/image/io.cpp
#include "lib/image/io.h"

#include <ATen/Parallel.h>
#include <opencv2/imgcodecs.hpp>
#include <torch/torch.h>

#include <cctype>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "lib/atomic_file.h"
#include "lib/error.h"

namespace mirage {

namespace fs = std::filesystem;

namespace {

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

// Reading the bytes ourselves (rather than cv::imread) tells a missing or unreadable file
// apart from one OpenCV cannot decode, which imread reports alike as an empty Mat.
std::vector<uchar> read_bytes(const std::string& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) throw InputError(path + ": no such file");
  if (fs::is_directory(status)) throw InputError(path + ": is a folder, not an image");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open file for reading");
  std::vector<uchar> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw InputError(path + ": read error");
  return bytes;
}

// libjpeg decodes a truncated JPEG "successfully", filling the missing rows with gray, so a cut
// download would enter a data set silently. Entropy-coded data never holds FF D9 (an FF there is
// stuffed with 00), so a complete file has its last end-of-image marker after its last
// start-of-scan; an embedded EXIF thumbnail's markers both come before the main scan.
bool is_truncated_jpeg(const std::vector<uchar>& b) {
  if (b.size() < 3 || b[0] != 0xFF || b[1] != 0xD8 || b[2] != 0xFF) return false;
  size_t last_sos = 0, last_eoi = 0;
  for (size_t i = 0; i + 1 < b.size(); ++i) {
    if (b[i] != 0xFF) continue;
    if (b[i + 1] == 0xDA) last_sos = i;
    if (b[i + 1] == 0xD9) last_eoi = i;
  }
  return last_eoi <= last_sos;
}

// Errors from conversion know no file name; the caller's path goes in front.
template <typename F>
auto naming_file(const std::string& path, F&& f) {
  try {
    return f();
  } catch (const InputError& e) {
    throw InputError(path + ": " + e.what());
  }
}

}  // namespace

cv::Mat read_image_mat(const std::string& path) {
  const std::vector<uchar> bytes = read_bytes(path);
  if (bytes.empty()) throw InputError(path + ": cannot decode image (empty file)");
  if (is_truncated_jpeg(bytes)) {
    throw InputError(path + ": cannot decode image (truncated JPEG: no end-of-image marker)");
  }
  cv::Mat mat;
  try {
    mat = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    // Some decoders assert on malformed headers (and on images over OpenCV's pixel limit).
    throw InputError(path + ": cannot decode image (" + e.err + ")");
  }
  if (mat.empty()) throw InputError(path + ": cannot decode image (corrupt or unsupported format)");
  return mat;
}

at::Tensor read_image(const std::string& path) {
  cv::Mat mat = read_image_mat(path);
  return naming_file(path, [&] { return mat_to_tensor(mat); });
}

at::Tensor read_image(const std::string& path, int64_t channels, int64_t height, int64_t width,
                      ResizePolicy policy) {
  cv::Mat mat = read_image_mat(path);
  return naming_file(path,
                     [&] { return mat_to_tensor(fit_mat(mat, channels, height, width, policy)); });
}

at::Tensor read_images(const std::vector<std::string>& paths, const ImageShape& shape,
                       ResizePolicy policy) {
  if (shape.channels <= 0 || shape.height <= 0 || shape.width <= 0) {
    throw UsageError("read_images: the target shape must be complete (channels, height, width)");
  }
  const auto n = static_cast<int64_t>(paths.size());
  at::Tensor out = torch::empty({n, shape.channels, shape.height, shape.width}, torch::kFloat);
  std::vector<std::exception_ptr> errors(paths.size());
  // Decoding dominates for photos; one file per task keeps large JPEGs from serialising.
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      try {
        out[i].copy_(read_image(paths[i], shape.channels, shape.height, shape.width, policy));
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  });
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
  return out;
}

void write_image(const std::string& path, const at::Tensor& chw, int quality, int bits) {
  const std::string ext = lower_extension(path);
  std::vector<int> params;
  if (ext == ".jpg" || ext == ".jpeg") {
    params = {cv::IMWRITE_JPEG_QUALITY, quality};
  } else if (ext == ".webp") {
    params = {cv::IMWRITE_WEBP_QUALITY, quality};
  } else if (ext != ".png" && ext != ".bmp") {
    throw UsageError(path + ": unknown image format '" + ext +
                     "' (use .png, .jpg, .jpeg, .bmp or .webp)");
  }
  if (quality < 1 || quality > 100) {
    throw UsageError("image quality " + std::to_string(quality) + ": expected 1..100");
  }
  if (bits != 8 && ext != ".png") throw UsageError(path + ": only PNG files can hold " + std::to_string(bits) + "-bit images");
  const cv::Mat mat = naming_file(path, [&] { return tensor_to_mat(chw, bits); });
  std::vector<uchar> bytes;
  bool ok = false;
  try {
    ok = cv::imencode(ext, mat, bytes, params);
  } catch (const cv::Exception& e) {
    throw InternalError(path + ": OpenCV cannot encode " + ext + " (" + e.err + ")");
  }
  if (!ok) throw InternalError(path + ": OpenCV cannot encode " + ext);
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) ensure_directory(parent.string());
  write_file_atomic(path, [&](std::ostream& out) {
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  });
}

std::string opencv_version() { return CV_VERSION; }

bool is_image_path(const std::string& path) {
  static const char* const kExtensions[] = {".png", ".jpg", ".jpeg", ".bmp", ".webp",
                                            ".tif", ".tiff", ".pgm", ".ppm"};
  const std::string ext = lower_extension(path);
  return std::find(std::begin(kExtensions), std::end(kExtensions), ext) != std::end(kExtensions);
}

}  // namespace mirage
