#include "marrow/io/load.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "marrow/core/error.hpp"
#include "marrow/core/strings.hpp"
#include "marrow/io/h5ad_reader.hpp"
#include "marrow/io/hdf5.hpp"
#include "marrow/io/labels.hpp"
#include "marrow/io/memory.hpp"
#include "marrow/io/tenx.hpp"

namespace marrow::io {

InputFormat detect_format(const std::string& path) {
  if (is_memory_path(path)) return InputFormat::Memory;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return InputFormat::TenxMtx;
  if (!std::filesystem::exists(path, ec)) fail("{}: file not found", path);
  std::string lower = to_lower(path);
  if (ends_with(lower, ".h5ad")) return InputFormat::H5ad;
  if (ends_with(lower, ".h5") || ends_with(lower, ".hdf5")) {
    // A 10x file has a "matrix" group (or genome groups) and no "X".
    h5::File file = h5::File::open(path, h5::Mode::ReadOnly);
    return file.exists("X") ? InputFormat::H5ad : InputFormat::TenxH5;
  }
  fail("{}: unknown input format: expected .h5ad, a 10x .h5, or a 10x matrix directory", path);
}

const char* format_name(InputFormat format) {
  switch (format) {
    case InputFormat::H5ad: return "h5ad";
    case InputFormat::TenxMtx: return "10x-mtx";
    case InputFormat::TenxH5: return "10x-h5";
    case InputFormat::Memory: return "in-memory";
  }
  return "?";
}

namespace {

// A copy of a registered dataset; its matrix must be X (a layer is chosen on the Python side).
AnnData read_memory(const std::string& path, const std::string& matrix) {
  if (matrix != "X") fail("{}: an in-memory dataset has one matrix; choose the layer when passing it (layer=...)", path);
  AnnData data = *memory_dataset(path);
  data.source = path;
  return data;
}

}  // namespace

AnnData load_dataset(const std::string& path, const LoadOptions& options) {
  AnnData data;
  switch (detect_format(path)) {
    case InputFormat::H5ad: {
      H5adReadOptions read;
      read.matrix = options.matrix;
      data = read_h5ad(path, read);
      break;
    }
    case InputFormat::TenxMtx: data = read_10x_mtx(path); break;
    case InputFormat::TenxH5: data = read_10x_h5(path); break;
    case InputFormat::Memory: data = read_memory(path, options.matrix); break;
  }
  if (!options.labels.empty()) {
    LabelJoinReport report = join_labels(data, options.labels);
    spdlog::info("{}: joined {} label column(s) on barcode: {} cells matched, {} without a label, {} table rows unused",
                 options.labels, report.columns.size(), report.matched, report.unmatched_cells, report.unused_rows);
  }
  return data;
}

}  // namespace marrow::io
