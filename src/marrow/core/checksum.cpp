#include "marrow/core/checksum.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
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

Crc32::Crc32() : crc_(crc32(0L, Z_NULL, 0)) {}

void Crc32::add(const void* data, size_t size) {
  const auto* bytes = static_cast<const Bytef*>(data);
  while (size > 0) {  // zlib takes at most 4 GiB at a time
    const auto piece = static_cast<uInt>(std::min<size_t>(size, size_t{1} << 30));
    crc_ = crc32(crc_, bytes, piece);
    bytes += piece;
    size -= piece;
  }
}

void Crc32::add_text(std::string_view text) {
  const uint64_t length = text.size();
  add(&length, sizeof length);
  add(text.data(), text.size());
}

std::string Crc32::hex() const { return fmt::format("{:08x}", crc_); }

}  // namespace marrow
