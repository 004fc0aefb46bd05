#include "lib/idx.h"

#include <torch/torch.h>
#include <zlib.h>

#include <cstring>
#include <fstream>

#include "lib/atomic_file.h"
#include "lib/error.h"

namespace mirage {
namespace {

struct IdxType {
  uint8_t code;
  c10::ScalarType dtype;
  size_t bytes;
};

const IdxType kTypes[] = {
    {0x08, c10::kByte, 1},  {0x09, c10::kChar, 1},  {0x0B, c10::kShort, 2},
    {0x0C, c10::kInt, 4},   {0x0D, c10::kFloat, 4}, {0x0E, c10::kDouble, 8},
};

const IdxType* type_for_code(uint8_t code) {
  for (const auto& t : kTypes)
    if (t.code == code) return &t;
  return nullptr;
}

const IdxType* type_for_dtype(c10::ScalarType dtype) {
  for (const auto& t : kTypes)
    if (t.dtype == dtype) return &t;
  return nullptr;
}

// The whole file, inflated when it starts with gzip's magic bytes.
std::string read_all(const std::string& path) {
  std::ifstream probe(path, std::ios::binary);
  if (!probe) throw InputError(path + ": cannot open (no such file or not readable)");
  unsigned char magic[2] = {0, 0};
  probe.read(reinterpret_cast<char*>(magic), 2);
  bool gz = probe.gcount() == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  if (!gz) {
    probe.clear();
    probe.seekg(0);
    std::ostringstream all;
    all << probe.rdbuf();
    return all.str();
  }
  probe.close();
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw InputError(path + ": cannot open gzip stream");
  gzbuffer(f, 1 << 18);
  std::string data;
  std::vector<char> chunk(1 << 20);
  while (true) {
    int n = gzread(f, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int err = 0;
      std::string msg = gzerror(f, &err);
      gzclose(f);
      throw InputError(path + ": corrupt gzip data (" + msg + ")");
    }
    if (n == 0) {
      int err = Z_OK;
      gzerror(f, &err);
      if (err == Z_BUF_ERROR) {
        gzclose(f);
        throw InputError(path + ": truncated gzip stream");
      }
      break;
    }
    data.append(chunk.data(), static_cast<size_t>(n));
  }
  // A gzip stream cut short reads as a clean end of data in zlib; gzclose_r reports it.
  int rc = gzclose(f);
  if (rc == Z_BUF_ERROR) throw InputError(path + ": truncated gzip stream");
  if (rc != Z_OK) throw InputError(path + ": corrupt gzip stream");
  return data;
}

uint32_t read_be32(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

bool host_is_little_endian() {
  uint16_t one = 1;
  return *reinterpret_cast<unsigned char*>(&one) == 1;
}

void swap_bytes(char* data, size_t count, size_t width) {
  if (width == 1 || !host_is_little_endian()) return;
  for (size_t i = 0; i < count; ++i) std::reverse(data + i * width, data + (i + 1) * width);
}

}  // namespace

at::Tensor read_idx(const std::string& path) {
  std::string data = read_all(path);
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  if (data.size() < 4) throw InputError(path + ": not an IDX file (shorter than its 4-byte magic)");
  if (bytes[0] != 0 || bytes[1] != 0) {
    throw InputError(path + ": not an IDX file (magic number must start with two zero bytes)");
  }
  const IdxType* type = type_for_code(bytes[2]);
  if (!type) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "0x%02X", bytes[2]);
    throw InputError(path + ": unknown IDX type code " + hex);
  }
  int ndims = bytes[3];
  if (ndims < 1 || ndims > 8) {
    throw InputError(path + ": IDX header has " + std::to_string(ndims) + " dimensions (1 to 8 allowed)");
  }
  size_t header = 4 + 4 * static_cast<size_t>(ndims);
  if (data.size() < header) throw InputError(path + ": truncated IDX header");
  std::vector<int64_t> dims;
  size_t count = 1;
  for (int d = 0; d < ndims; ++d) {
    uint32_t n = read_be32(bytes + 4 + 4 * d);
    dims.push_back(n);
    if (n != 0 && count > (size_t(1) << 40) / n) throw InputError(path + ": IDX dimensions too large");
    count *= n;
  }
  size_t expected = count * type->bytes;
  size_t found = data.size() - header;
  if (found < expected) {
    throw InputError(path + ": truncated: header promises " + std::to_string(expected) +
                     " bytes of data, file has " + std::to_string(found));
  }
  if (found > expected) {
    throw InputError(path + ": " + std::to_string(found - expected) +
                     " unexpected bytes after the data the header describes");
  }
  at::Tensor out = torch::empty(dims, torch::TensorOptions().dtype(type->dtype));
  std::memcpy(out.data_ptr(), data.data() + header, expected);
  swap_bytes(static_cast<char*>(out.data_ptr()), count, type->bytes);
  return out;
}

void write_idx(const std::string& path, const at::Tensor& tensor, bool gzip) {
  const IdxType* type = type_for_dtype(tensor.scalar_type());
  if (!type) throw UsageError(path + ": IDX cannot hold tensors of type " + std::string(c10::toString(tensor.scalar_type())));
  if (tensor.dim() < 1 || tensor.dim() > 8) throw UsageError(path + ": IDX holds 1 to 8 dimensions");
  at::Tensor t = tensor.to(torch::kCPU).contiguous().clone();
  swap_bytes(static_cast<char*>(t.data_ptr()), static_cast<size_t>(t.numel()), type->bytes);
  std::string blob;
  blob.push_back(0);
  blob.push_back(0);
  blob.push_back(static_cast<char>(type->code));
  blob.push_back(static_cast<char>(t.dim()));
  for (int64_t d : t.sizes()) {
    uint32_t n = static_cast<uint32_t>(d);
    for (int s = 24; s >= 0; s -= 8) blob.push_back(static_cast<char>((n >> s) & 0xFF));
  }
  blob.append(static_cast<const char*>(t.data_ptr()), static_cast<size_t>(t.numel()) * type->bytes);
  if (!gzip) {
    write_text_atomic(path, blob);
    return;
  }
  save_atomic(path, [&](const std::string& tmp) {
    gzFile f = gzopen(tmp.c_str(), "wb6");
    if (!f) throw InputError(path + ": cannot create gzip file");
    size_t off = 0;
    while (off < blob.size()) {
      unsigned n = static_cast<unsigned>(std::min<size_t>(blob.size() - off, 1 << 24));
      if (gzwrite(f, blob.data() + off, n) != static_cast<int>(n)) {
        gzclose(f);
        throw InputError(path + ": gzip write failed");
      }
      off += n;
    }
    if (gzclose(f) != Z_OK) throw InputError(path + ": gzip write failed");
  });
}

}  // namespace mirage
