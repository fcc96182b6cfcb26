// Damaged .marrow files are refused (exit 2, naming the file) instead of giving wrong embeddings:
// flipped bytes in the weights or the metadata fail their checksums, and non-finite weights are
// refused even in an older file without checksums, which otherwise still loads (with a warning).
#include <cstring>
#include <filesystem>
#include <fstream>

#include "support.hpp"

namespace marrow {
namespace {

namespace fs = std::filesystem;
using test::run_marrow;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

uint32_t le32(const std::string& b, size_t at) {
  uint32_t v = 0;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}

uint16_t le16(const std::string& b, size_t at) {
  uint16_t v = 0;
  std::memcpy(&v, b.data() + at, 2);
  return v;
}

// [offset, size) of the stored (uncompressed) zip records whose names contain `part`: in a LibTorch
// archive the tensors are the records ".../data/N". Sizes come from the central directory (the
// local headers of a streamed zip leave them 0).
std::vector<std::pair<size_t, size_t>> records(const std::string& zip, const std::string& part) {
  std::vector<std::pair<size_t, size_t>> found;
  for (size_t at = zip.find("PK\x01\x02"); at != std::string::npos && at + 46 <= zip.size(); at = zip.find("PK\x01\x02", at + 4)) {
    const size_t size = le32(zip, at + 24), name_length = le16(zip, at + 28), local = le32(zip, at + 42);
    const std::string name = zip.substr(at + 46, name_length);
    if (name.find(part) == std::string::npos || size == 0 || local + 30 > zip.size()) continue;
    found.emplace_back(local + 30 + le16(zip, local + 26) + le16(zip, local + 28), size);
  }
  return found;
}

// One small autoencoder model and its input, shared by the tests of this suite.
class ModelFileTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    ASSERT_EQ(run_marrow("-q simulate --cells 300 --genes 200 --seed 4 --out " + data()).exit_code, 0);
    ASSERT_EQ(run_marrow("-q pretrain ae --data " + data() +
                         " --epochs 1 --hidden 32 --latent 8 --batch-size 64 --out " + model()).exit_code, 0);
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string data() { return *dir_ / "sim.h5ad"; }
  static std::string model() { return *dir_ / "ae.marrow"; }
  static test::CommandResult embed(const std::string& model_path, const std::string& out) {
    return run_marrow("-q embed --model " + model_path + " --data " + data() + " --out " + out);
  }
  static test::TempDir* dir_;
};
test::TempDir* ModelFileTest::dir_ = nullptr;

TEST_F(ModelFileTest, IntactModelLoads) {
  test::TempDir dir;
  test::CommandResult r = embed(model(), dir / "e.h5ad");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("warn"), std::string::npos) << r.output;
}

TEST_F(ModelFileTest, FlippedWeightBytesRefused) {
  test::TempDir dir;
  const std::string bytes = read_bytes(model());
  auto tensors = records(bytes, "/data/");
  ASSERT_GE(tensors.size(), 4u) << "no tensor records found in the archive";
  int tried = 0;
  for (size_t t = 0; t < tensors.size(); t += std::max<size_t>(1, tensors.size() / 3)) {  // about 3 tensors
    const auto [offset, size] = tensors[t];
    for (size_t at : {offset, offset + size - 1}) {
      std::string damaged = bytes;
      damaged[at] = static_cast<char>(damaged[at] ^ 0x10);
      const std::string path = dir / "damaged.marrow";
      write_bytes(path, damaged);
      test::expect_bad_input("embed --model " + path + " --data " + data() + " --out " + (dir / "e.h5ad"), path, "damaged",
                             dir / "e.h5ad");
      ++tried;
    }
  }
  EXPECT_GE(tried, 6);
}

TEST_F(ModelFileTest, ChangedMetadataRefused) {
  test::TempDir dir;
  std::string bytes = read_bytes(model());
  size_t at = bytes.find("\"history\"");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 1] = 'H';  // a key no loader reads: only the checksum can tell
  const std::string path = dir / "damaged.marrow";
  write_bytes(path, bytes);
  test::expect_bad_input("embed --model " + path + " --data " + data() + " --out " + (dir / "e.h5ad"), path, "damaged",
                         dir / "e.h5ad");
}

// CRC-32 (zip's polynomial), for rewriting a record's checksum after a deliberate edit.
uint32_t crc32_of(const char* data, size_t n) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= static_cast<unsigned char>(data[i]);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

uint32_t u32(const std::string& b, size_t at) {
  uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}
uint16_t u16(const std::string& b, size_t at) {
  uint16_t v;
  std::memcpy(&v, b.data() + at, 2);
  return v;
}

// The archive with every stored record's CRC-32 (local header and directory) made to match its
// bytes again: an edited file that only marrow's own checks, not the zip's, can tell from a real one.
std::string with_zip_crcs(std::string b) {
  size_t end = b.rfind(std::string("PK\x05\x06", 4));
  EXPECT_NE(end, std::string::npos);
  if (end == std::string::npos) return b;
  size_t at = u32(b, end + 16);
  for (uint16_t e = 0; e < u16(b, end + 10); ++e) {
    const uint32_t size = u32(b, at + 24), local = u32(b, at + 42);
    const size_t data = local + 30 + u16(b, local + 26) + u16(b, local + 28);
    if (u16(b, at + 10) == 0) {
      const uint32_t crc = crc32_of(b.data() + data, size);
      std::memcpy(b.data() + at + 16, &crc, 4);
      std::memcpy(b.data() + local + 14, &crc, 4);
    }
    at += 46 + u16(b, at + 28) + u16(b, at + 30) + u16(b, at + 32);
  }
  return b;
}

// The same file as the older format without checksums (the tag has the same length).
std::string as_unchecked(std::string bytes) {
  size_t at = bytes.find("marrow-model/2");
  EXPECT_NE(at, std::string::npos);
  if (at != std::string::npos) bytes[at + 13] = '1';
  return with_zip_crcs(bytes);
}

TEST_F(ModelFileTest, OlderFileWithoutChecksumLoadsWithWarning) {
  test::TempDir dir;
  const std::string path = dir / "old.marrow";
  write_bytes(path, as_unchecked(read_bytes(model())));
  test::CommandResult r = run_marrow("embed --model " + path + " --data " + data() + " --out " + (dir / "e.h5ad"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("without checksums"), std::string::npos) << r.output;
}

TEST_F(ModelFileTest, NonFiniteWeightsRefusedWithoutChecksum) {
  test::TempDir dir;
  std::string bytes = as_unchecked(read_bytes(model()));
  auto tensors = records(bytes, "/data/");
  ASSERT_FALSE(tensors.empty());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(bytes.data() + tensors.front().first, &nan, sizeof nan);
  const std::string path = dir / "nan.marrow";
  write_bytes(path, with_zip_crcs(bytes));
  test::CommandResult r = run_marrow("-q embed --model " + path + " --data " + data() + " --out " + (dir / "e.h5ad"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(path), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("NaN or infinite"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "e.h5ad"));
}

}  // namespace
}  // namespace marrow
