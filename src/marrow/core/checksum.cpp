#include "marrow/core/checksum.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include "marrow/core/error.hpp"

namespace marrow {

namespace {

uLong crc_of(const std::filesystem::path& path, uLong crc) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot read", path.string());
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(buffer.data()), static_cast<uInt>(in.gcount()));
  }
  return crc;
}

}  // namespace

std::string file_crc32(const std::string& path) {
  uLong crc = crc32(0L, Z_NULL, 0);
  if (std::filesystem::is_directory(path)) {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(path))
      if (entry.is_regular_file()) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) crc = crc_of(f, crc);
  } else {
    crc = crc_of(path, crc);
  }
  return fmt::format("{:08x}", crc);
}

}  // namespace marrow
