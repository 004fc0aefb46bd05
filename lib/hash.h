// lib/hash.h — SHA-256 (FIPS 180-4) of bytes and files, for reports' model and data hashes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace mirage {

std::string sha256_hex(const void* data, size_t size);
std::string sha256_hex(const std::string& bytes);
// Streams the file; an unreadable file is an InputError naming it.
std::string sha256_file(const std::string& path);

}  // namespace mirage
