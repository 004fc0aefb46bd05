#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "lib/error.h"
#include "lib/hash.h"

namespace fs = std::filesystem;

namespace {

// A file under the temp folder, unique per process so parallel ctest runs do not collide,
// removed when the test ends.
struct TempFile {
  explicit TempFile(const std::string& tag)
      : path((fs::temp_directory_path() /
              ("mirage_test_hash_" + std::to_string(::getpid()) + "_" + tag))
                 .string()) {}
  ~TempFile() {
    std::error_code ec;
    fs::remove(path, ec);
  }
  std::string path;
};

std::string random_bytes(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(byte(rng));
  return bytes;
}

}  // namespace

TEST_CASE("sha256 matches the FIPS 180-4 / NIST example digests", "[hash]") {
  using mirage::sha256_hex;
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                   "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu") ==
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  CHECK(sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256 pads correctly around the 56- and 64-byte block boundaries", "[hash]") {
  // 55 bytes is the longest message whose padding fits one block; 56..63 need a second block.
  // Digests from coreutils sha256sum.
  auto [length, digest] = GENERATE(table<size_t, std::string>({
      {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
      {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
      {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
      {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
      {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
      {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
  }));
  CAPTURE(length);
  CHECK(mirage::sha256_hex(std::string(length, 'a')) == digest);
}

TEST_CASE("sha256 of a pointer and size equals sha256 of the same bytes as a string", "[hash]") {
  // Embedded NULs and high bytes must be hashed as bytes, not as a C string or signed chars.
  std::string bytes = random_bytes(1000, 7);
  bytes[10] = '\0';
  CHECK(mirage::sha256_hex(bytes.data(), bytes.size()) == mirage::sha256_hex(bytes));
  CHECK(mirage::sha256_hex(bytes) != mirage::sha256_hex(bytes.substr(0, 10)));
}

TEST_CASE("sha256_file equals sha256_hex of the same bytes across the 64 KiB chunk boundary",
          "[hash]") {
  size_t size = GENERATE(size_t{0}, size_t{1}, size_t{65535}, size_t{65536}, size_t{65537},
                         size_t{200000});
  CAPTURE(size);
  std::string bytes = random_bytes(size, static_cast<uint32_t>(size) + 1);
  TempFile file("chunk_" + std::to_string(size));
  {
    std::ofstream out(file.path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
  }
  CHECK(mirage::sha256_file(file.path) == mirage::sha256_hex(bytes));
}

TEST_CASE("sha256_file of a missing file is an InputError naming the path", "[hash]") {
  TempFile missing("does_not_exist");
  REQUIRE_FALSE(fs::exists(missing.path));
  CHECK_THROWS_AS(mirage::sha256_file(missing.path), mirage::InputError);
  CHECK_THROWS_WITH(mirage::sha256_file(missing.path), Catch::Contains(missing.path));
}

TEST_CASE("sha256_file of a directory is an InputError, not the digest of nothing", "[hash]") {
  std::string dir = fs::temp_directory_path().string();
  CHECK_THROWS_AS(mirage::sha256_file(dir), mirage::InputError);
  CHECK_THROWS_WITH(mirage::sha256_file(dir), Catch::Contains(dir));
}
