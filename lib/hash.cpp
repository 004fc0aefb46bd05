// SHA-256 as specified in FIPS 180-4 (sections 4.1.2, 4.2.2, 5.1.1, 5.3.3, 6.2), written from
// the standard so reports can hash models and data without a crypto dependency.
#include "lib/hash.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <vector>

#include "lib/error.h"

namespace mirage {
namespace {

// FIPS 180-4 §4.2.2: first 32 bits of the fractional parts of the cube roots of the first 64
// primes.
constexpr std::array<uint32_t, 64> kRoundConstants = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

// FIPS 180-4 §5.3.3: first 32 bits of the fractional parts of the square roots of the first 8
// primes.
constexpr std::array<uint32_t, 8> kInitialHash = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

constexpr size_t kBlockBytes = 64;
constexpr size_t kFileChunkBytes = 64 * 1024;

inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

// §4.1.2, with the standard's names.
inline uint32_t ch(uint32_t x, uint32_t y, uint32_t z) { return (x & y) ^ (~x & z); }
inline uint32_t maj(uint32_t x, uint32_t y, uint32_t z) { return (x & y) ^ (x & z) ^ (y & z); }
inline uint32_t big_sigma0(uint32_t x) { return rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22); }
inline uint32_t big_sigma1(uint32_t x) { return rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25); }
inline uint32_t small_sigma0(uint32_t x) { return rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3); }
inline uint32_t small_sigma1(uint32_t x) { return rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10); }

// Incremental hasher so files can be streamed without holding them in memory.
class Sha256 {
 public:
  void update(const unsigned char* data, size_t size) {
    total_bytes_ += size;
    if (buffered_ > 0) {
      size_t take = std::min(kBlockBytes - buffered_, size);
      std::copy(data, data + take, buffer_.begin() + buffered_);
      buffered_ += take;
      data += take;
      size -= take;
      if (buffered_ < kBlockBytes) return;
      compress(buffer_.data());
      buffered_ = 0;
    }
    for (; size >= kBlockBytes; data += kBlockBytes, size -= kBlockBytes) compress(data);
    std::copy(data, data + size, buffer_.begin());
    buffered_ = size;
  }

  std::string hex_digest() {
    // §5.1.1: append bit 1, zeros up to 56 mod 64 bytes, then the message length in bits as a
    // 64-bit big-endian integer. The length must be taken before padding is fed in.
    uint64_t length_bits = total_bytes_ * 8;
    unsigned char padding[kBlockBytes + 8] = {0x80};
    size_t pad_bytes = (buffered_ < 56 ? 56 : 56 + kBlockBytes) - buffered_;
    for (int i = 0; i < 8; ++i) {
      padding[pad_bytes + i] = static_cast<unsigned char>(length_bits >> (56 - 8 * i));
    }
    update(padding, pad_bytes + 8);

    static const char kHexDigits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(64);
    for (uint32_t word : hash_) {
      for (int shift = 28; shift >= 0; shift -= 4) hex += kHexDigits[(word >> shift) & 0xf];
    }
    return hex;
  }

 private:
  // §6.2.2: one 512-bit block, words read big-endian.
  void compress(const unsigned char* block) {
    uint32_t w[64];
    for (int t = 0; t < 16; ++t) {
      w[t] = (uint32_t(block[4 * t]) << 24) | (uint32_t(block[4 * t + 1]) << 16) |
             (uint32_t(block[4 * t + 2]) << 8) | uint32_t(block[4 * t + 3]);
    }
    for (int t = 16; t < 64; ++t) {
      w[t] = small_sigma1(w[t - 2]) + w[t - 7] + small_sigma0(w[t - 15]) + w[t - 16];
    }
    uint32_t a = hash_[0], b = hash_[1], c = hash_[2], d = hash_[3];
    uint32_t e = hash_[4], f = hash_[5], g = hash_[6], h = hash_[7];
    for (int t = 0; t < 64; ++t) {
      uint32_t t1 = h + big_sigma1(e) + ch(e, f, g) + kRoundConstants[t] + w[t];
      uint32_t t2 = big_sigma0(a) + maj(a, b, c);
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    hash_[0] += a;
    hash_[1] += b;
    hash_[2] += c;
    hash_[3] += d;
    hash_[4] += e;
    hash_[5] += f;
    hash_[6] += g;
    hash_[7] += h;
  }

  std::array<uint32_t, 8> hash_ = kInitialHash;
  std::array<unsigned char, kBlockBytes> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

}  // namespace

std::string sha256_hex(const void* data, size_t size) {
  Sha256 sha;
  sha.update(static_cast<const unsigned char*>(data), size);
  return sha.hex_digest();
}

std::string sha256_hex(const std::string& bytes) { return sha256_hex(bytes.data(), bytes.size()); }

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot read");
  Sha256 sha;
  std::vector<char> chunk(kFileChunkBytes);
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    sha.update(reinterpret_cast<const unsigned char*>(chunk.data()),
               static_cast<size_t>(in.gcount()));
  }
  // Opening a directory succeeds on Linux; only the read fails, which sets badbit, not just eof.
  if (in.bad()) throw InputError(path + ": cannot read");
  return sha.hex_digest();
}

}  // namespace mirage
