#pragma once
// A zip archive checked record by record before any other reader parses it. LibTorch's archive
// reader trusts what it reads: a flipped byte in a model file's code or constants records can crash
// its TorchScript parser (SIGSEGV), before marrow's own checksums could be read. Every record of a
// zip carries a CRC-32 in the central directory, so verifying the directory's bounds and each
// record's CRC-32 first turns any such damage into a clear error. Torch-free; reads in blocks.
#include <string>

namespace marrow {

// Throws marrow::Error "PATH: not a marrow model file (damaged: ...)" when the file is not a
// well-formed zip whose every stored or deflated record matches its CRC-32.
void check_zip_records(const std::string& path);

}  // namespace marrow
