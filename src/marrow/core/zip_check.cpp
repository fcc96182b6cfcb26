#include "marrow/core/zip_check.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <vector>

#include "marrow/core/error.hpp"

namespace marrow {

namespace {

constexpr uint32_t kEndOfDirectory = 0x06054b50, kZip64Locator = 0x07064b50, kZip64End = 0x06064b50;
constexpr uint32_t kDirectoryEntry = 0x02014b50, kLocalHeader = 0x04034b50;

[[noreturn]] void damaged(const std::string& path, const std::string& what) {
  fail("{}: not a marrow model file (damaged: {})", path, what);
}

uint64_t le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

class ZipFile {
 public:
  explicit ZipFile(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) fail("{}: cannot open", path);
    in_.seekg(0, std::ios::end);
    size_ = static_cast<uint64_t>(in_.tellg());
  }
  uint64_t size() const { return size_; }
  // `n` bytes at `offset`, refused where they run past the end of the file.
  std::vector<unsigned char> read(uint64_t offset, uint64_t n, const char* what) {
    if (offset > size_ || n > size_ - offset) damaged(path_, std::string(what) + " lies past the end of the file");
    std::vector<unsigned char> out(n);
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(n));
    if (!in_) damaged(path_, std::string("cannot read ") + what);
    return out;
  }
  uint32_t crc(uint64_t offset, uint64_t n) {
    if (offset > size_ || n > size_ - offset) damaged(path_, "a record lies past the end of the file");
    uLong crc = crc32(0L, Z_NULL, 0);
    std::vector<unsigned char> block(1 << 20);
    in_.seekg(static_cast<std::streamoff>(offset));
    while (n > 0) {
      auto take = static_cast<std::streamsize>(std::min<uint64_t>(n, block.size()));
      in_.read(reinterpret_cast<char*>(block.data()), take);
      if (!in_) damaged(path_, "cannot read a record");
      crc = crc32(crc, block.data(), static_cast<uInt>(take));
      n -= static_cast<uint64_t>(take);
    }
    return static_cast<uint32_t>(crc);
  }
  // CRC-32 of a raw-deflated record of `n` compressed bytes, failing unless it inflates to `size`.
  uint32_t inflated_crc(uint64_t offset, uint64_t n, uint64_t size) {
    std::vector<unsigned char> in = read(offset, n, "a compressed record");
    z_stream z{};
    if (inflateInit2(&z, -15) != Z_OK) damaged(path_, "cannot inflate a record");
    std::vector<unsigned char> block(1 << 16);
    uLong crc = crc32(0L, Z_NULL, 0);
    uint64_t produced = 0;
    z.next_in = in.data();
    z.avail_in = static_cast<uInt>(in.size());
    int status = Z_OK;
    while (status == Z_OK) {
      z.next_out = block.data();
      z.avail_out = static_cast<uInt>(block.size());
      status = inflate(&z, Z_NO_FLUSH);
      const uint64_t got = block.size() - z.avail_out;
      produced += got;
      crc = crc32(crc, block.data(), static_cast<uInt>(got));
      if (produced > size || (status == Z_OK && got == 0 && z.avail_in == 0)) break;
    }
    inflateEnd(&z);
    if (status != Z_STREAM_END || produced != size) damaged(path_, "a compressed record does not inflate to its size");
    return static_cast<uint32_t>(crc);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ifstream in_;
  uint64_t size_ = 0;
};

struct Directory {
  uint64_t offset = 0, size = 0, entries = 0;
};

Directory find_directory(ZipFile& zip) {
  const uint64_t tail = std::min<uint64_t>(zip.size(), 22 + 65535);
  if (tail < 22) damaged(zip.path(), "too short for a zip archive");
  std::vector<unsigned char> end = zip.read(zip.size() - tail, tail, "the end of the archive");
  for (int64_t i = static_cast<int64_t>(tail) - 22; i >= 0; --i) {
    const unsigned char* p = end.data() + i;
    if (le(p, 4) != kEndOfDirectory) continue;
    Directory d{le(p + 16, 4), le(p + 12, 4), le(p + 10, 2)};
    if (d.offset == 0xFFFFFFFF || d.size == 0xFFFFFFFF || d.entries == 0xFFFF) {
      const uint64_t at = zip.size() - tail + static_cast<uint64_t>(i);
      if (at < 20) damaged(zip.path(), "no zip64 directory locator");
      std::vector<unsigned char> locator = zip.read(at - 20, 20, "the zip64 locator");
      if (le(locator.data(), 4) != kZip64Locator) damaged(zip.path(), "no zip64 directory locator");
      std::vector<unsigned char> end64 = zip.read(le(locator.data() + 8, 8), 56, "the zip64 directory end");
      if (le(end64.data(), 4) != kZip64End) damaged(zip.path(), "bad zip64 directory end");
      d = {le(end64.data() + 48, 8), le(end64.data() + 40, 8), le(end64.data() + 32, 8)};
    }
    return d;
  }
  damaged(zip.path(), "no zip directory");
}

// Sizes and header offset of an entry, from its zip64 extra field where the 32-bit ones are full.
void read_zip64_extra(const unsigned char* extra, uint64_t length, uint64_t& size, uint64_t& compressed, uint64_t& local) {
  for (uint64_t k = 0; k + 4 <= length;) {
    const uint64_t id = le(extra + k, 2), n = le(extra + k + 2, 2);
    if (k + 4 + n > length) return;
    if (id == 0x0001) {
      const unsigned char* v = extra + k + 4;
      uint64_t used = 0;
      auto next = [&](uint64_t& field) {
        if (field == 0xFFFFFFFF && used + 8 <= n) field = le(v + used, 8), used += 8;
      };
      next(size), next(compressed), next(local);
    }
    k += 4 + n;
  }
}

}  // namespace

void check_zip_records(const std::string& path) {
  ZipFile zip(path);
  const Directory d = find_directory(zip);
  if (d.entries == 0 || d.entries > d.size / 46) damaged(path, "impossible number of records");
  std::vector<unsigned char> dir = zip.read(d.offset, d.size, "the zip directory");
  uint64_t at = 0;
  for (uint64_t e = 0; e < d.entries; ++e) {
    if (at + 46 > dir.size() || le(dir.data() + at, 4) != kDirectoryEntry) damaged(path, "bad zip directory entry");
    const unsigned char* p = dir.data() + at;
    const uint64_t method = le(p + 10, 2), crc = le(p + 16, 4);
    uint64_t compressed = le(p + 20, 4), size = le(p + 24, 4), local = le(p + 42, 4);
    const uint64_t name = le(p + 28, 2), extra = le(p + 30, 2), comment = le(p + 32, 2);
    if (at + 46 + name + extra + comment > dir.size()) damaged(path, "bad zip directory entry");
    read_zip64_extra(p + 46 + name, extra, size, compressed, local);
    if (method != 0 && method != 8) damaged(path, "a record has an unknown compression method");
    if (method == 0 && compressed != size) damaged(path, "a record's sizes disagree");
    if (method == 8 && compressed > (64u << 20)) damaged(path, "a compressed record is implausibly large");
    std::vector<unsigned char> header = zip.read(local, 30, "a record header");
    if (le(header.data(), 4) != kLocalHeader) damaged(path, "bad record header");
    const uint64_t data = local + 30 + le(header.data() + 26, 2) + le(header.data() + 28, 2);
    const uint32_t actual = method == 0 ? zip.crc(data, size) : zip.inflated_crc(data, compressed, size);
    if (actual != crc) damaged(path, "a record does not match its CRC-32");
    at += 46 + name + extra + comment;
  }
}

}  // namespace marrow
