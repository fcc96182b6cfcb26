#pragma once
// One entry point for every input a user has: .h5ad, a 10x Matrix Market directory or a 10x .h5,
// optionally with a CSV/TSV of labels joined on barcode.
#include <string>

#include "marrow/data/anndata.hpp"

namespace marrow::io {

// Memory: a dataset registered by the embedding program (io/memory.hpp), path "memory:NAME".
enum class InputFormat { H5ad, TenxMtx, TenxH5, Memory };
InputFormat detect_format(const std::string& path);
const char* format_name(InputFormat format);

struct LoadOptions {
  std::string matrix = "X";  // for .h5ad: "X", "raw/X" or "layers/NAME"
  std::string labels;        // optional CSV/TSV joined on barcode
};

AnnData load_dataset(const std::string& path, const LoadOptions& options = {});

}  // namespace marrow::io
