#pragma once
#include <string>

namespace marrow {

// CRC-32 of a file's bytes (zlib), as 8 hex digits: recorded with a model so that a later step can
// tell whether it sees the same input file. For a directory (10x), of its files in name order.
std::string file_crc32(const std::string& path);

}  // namespace marrow
