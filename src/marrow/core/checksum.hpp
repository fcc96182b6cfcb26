#pragma once
// CRC-32 checksums (zlib): of input files, recorded with a model so that a later step can tell
// whether it sees the same input; and of any bytes fed piece by piece (Crc32), which the model file
// uses to detect a damaged header or damaged weights.
#include <cstddef>
#include <string>
#include <string_view>

namespace marrow {

// CRC-32 of a file's bytes, as 8 hex digits. For a directory (10x), of its files in name order.
std::string file_crc32(const std::string& path);

// A running CRC-32 of the bytes added so far.
class Crc32 {
 public:
  Crc32();
  void add(const void* data, size_t size);
  // The text's bytes and its length, so that ("ab","c") and ("a","bc") differ.
  void add_text(std::string_view text);
  std::string hex() const;  // 8 hex digits

 private:
  unsigned long crc_;
};

}  // namespace marrow
