// lib/idx.h — the IDX format of MNIST and Fashion-MNIST (LeCun et al.), raw or gzip'd.
//
// Header: two zero bytes, a type code (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32,
// 0x0E f64), the number of dimensions, then each dimension as a big-endian u32; then the data,
// big-endian, exactly prod(dims) elements. Anything else is an InputError naming the file.
#pragma once
#include <ATen/core/Tensor.h>
#include <string>

namespace mirage {

// Reads an IDX file (gzip detected by its magic bytes) into a CPU tensor of the file's type
// (u8 -> kByte, i8 -> kChar, i16 -> kShort, i32 -> kInt, f32 -> kFloat, f64 -> kDouble).
at::Tensor read_idx(const std::string& path);

// Writes a CPU tensor of one of those types as IDX, gzip'd when `gzip`; atomically.
void write_idx(const std::string& path, const at::Tensor& tensor, bool gzip);

}  // namespace mirage
