#include "marrow/io/h5ad_reader.hpp"

#include <algorithm>
#include <fmt/ranges.h>
#include <cmath>

#include "marrow/core/error.hpp"
#include "marrow/io/hdf5.hpp"
#include "marrow/io/hdf5_guard.hpp"
#include "marrow/runtime/memory.hpp"

namespace marrow::io {

namespace {

std::string encoding_type(const h5::Location& at, const std::string& name) {
  return h5::read_string_attribute(at, name, "encoding-type").value_or("");
}

// anndata < 0.7 wrote raw as "raw.X" / "raw.var"; later versions as a "raw" group.
std::string resolve_path(const h5::Location& file, const std::string& path) {
  if (file.exists(path)) return path;
  if (path.rfind("raw/", 0) == 0) {
    std::string legacy = "raw." + path.substr(4);
    if (file.exists(legacy)) return legacy;
  }
  return "";
}

struct MatrixLayout {
  std::string format;  // csr, csc, dense
  int64_t rows = 0, cols = 0;
};

MatrixLayout matrix_layout(const h5::Location& file, const std::string& name) {
  MatrixLayout layout;
  if (file.is_dataset(name)) {
    auto info = h5::dataset_info(file, name);
    if (info.shape.size() != 2) fail("{}: {}: dense matrix must be 2-D, found {} dimensions", file.file(), name, info.shape.size());
    layout.format = "dense";
    layout.rows = info.shape[0];
    layout.cols = info.shape[1];
    return layout;
  }
  std::string type = encoding_type(file, name);
  std::vector<int64_t> shape = h5::read_int_array_attribute(file, name, "shape");
  if (type.empty()) {  // legacy h5sparse layout
    type = h5::read_string_attribute(file, name, "h5sparse_format").value_or("");
    if (!type.empty()) type += "_matrix";
    shape = h5::read_int_array_attribute(file, name, "h5sparse_shape");
  }
  if (type == "csr_matrix") layout.format = "csr";
  else if (type == "csc_matrix") layout.format = "csc";
  else fail("{}: {}: not a sparse matrix group (encoding-type '{}')", file.file(), name, type);
  if (shape.size() != 2) fail("{}: {}: sparse matrix has no valid 'shape' attribute", file.file(), name);
  layout.rows = shape[0];
  layout.cols = shape[1];
  return layout;
}

std::string dtype_name(const h5::DatasetInfo& info) {
  switch (info.value_class) {
    case h5::ValueClass::Float: return info.element_size == 4 ? "float32" : info.element_size == 8 ? "float64" : "float16";
    case h5::ValueClass::Integer: return (info.is_unsigned ? "uint" : "int") + std::to_string(info.element_size * 8);
    case h5::ValueClass::Bool: return "bool";
    default: return "other";
  }
}

// Appends the rows of `block` (same columns) to `into`.
void append_rows(CsrMatrix& into, const CsrMatrix& block) {
  int64_t offset = into.indptr.back();
  into.indptr.reserve(into.indptr.size() + block.rows);
  for (int64_t r = 1; r <= block.rows; ++r) into.indptr.push_back(offset + block.indptr[r]);
  into.indices.insert(into.indices.end(), block.indices.begin(), block.indices.end());
  into.data.insert(into.data.end(), block.data.begin(), block.data.end());
  into.rows += block.rows;
}

// A dense matrix is read about 64 MB at a time and kept sparse, so memory holds one dense block
// besides the result; the whole of it as float32 must still fit (downstream steps densify batches).
CsrMatrix read_dense_rows(const h5::Location& file, const std::string& name, int64_t cols, RowRange range) {
  double rows = static_cast<double>(range.end - range.begin);
  runtime::require_memory(file.file(), fmt::format("dense {} of {} x {}", name, range.end - range.begin, cols),
                          rows * static_cast<double>(cols) * sizeof(float), runtime::kStreamHint);
  int64_t block = std::max<int64_t>(1, (int64_t{1} << 24) / std::max<int64_t>(cols, 1));
  CsrMatrix out;
  out.cols = cols;
  for (int64_t begin = range.begin; begin < range.end; begin += block) {
    int64_t n = std::min(block, range.end - begin);
    auto values = h5::read_numeric<float>(file, name, begin, n);
    append_rows(out, CsrMatrix::from_dense(n, cols, values.data()));
  }
  return out;
}

// Sparse storage that will be read: values and column indices as float32 + int32, and the offsets.
void require_sparse_memory(const h5::Location& file, const std::string& name, const MatrixLayout& layout, double nnz,
                           double copies) {
  double offsets = static_cast<double>(std::max(layout.rows, layout.cols) + 1) * sizeof(int64_t);
  runtime::require_memory(file.file(), fmt::format("{} ({} x {}, {:.0f} stored values)", name, layout.rows, layout.cols, nnz),
                          copies * (nnz * (sizeof(float) + sizeof(int32_t)) + offsets), runtime::kStreamHint);
}

CsrMatrix read_matrix(const h5::Location& file, const std::string& name, std::optional<RowRange> rows) {
  MatrixLayout layout = matrix_layout(file, name);
  RowRange range = rows.value_or(RowRange{0, layout.rows});
  if (range.begin < 0 || range.end > layout.rows || range.begin > range.end)
    fail("{}: rows [{}, {}) outside the {} cells", file.file(), range.begin, range.end, layout.rows);
  int64_t n = range.end - range.begin;

  if (layout.format == "dense") return read_dense_rows(file, name, layout.cols, range);
  h5::Group group = h5::open_group(file, name);
  if (layout.format == "csc") {
    // Column-compressed: a block of rows touches every column, so the whole matrix is read.
    auto data_info = h5::dataset_info(group, "data");
    require_sparse_memory(file, name, layout, data_info.shape.empty() ? 0.0 : static_cast<double>(data_info.shape[0]), 2);
    auto indptr = h5::read_numeric<int64_t>(group, "indptr");
    auto indices = h5::read_numeric<int32_t>(group, "indices");
    auto data = h5::read_numeric<float>(group, "data");
    if (static_cast<int64_t>(indptr.size()) != layout.cols + 1)
      fail("{}: {}: indptr has {} entries for {} columns", file.file(), name, indptr.size(), layout.cols);
    CsrMatrix full = CsrMatrix::from_csc(layout.rows, layout.cols, indptr, indices, data);
    if (!rows) return full;
    std::vector<int64_t> block(n);
    for (int64_t i = 0; i < n; ++i) block[i] = range.begin + i;
    return full.select_rows(block);
  }
  auto indptr_info = h5::dataset_info(group, "indptr");
  if (indptr_info.shape.size() != 1 || indptr_info.shape[0] != layout.rows + 1)
    fail("{}: {}: indptr has {} entries, but the matrix shape says {} rows", file.file(), name,
         indptr_info.shape.empty() ? 0 : indptr_info.shape[0], layout.rows);
  CsrMatrix m;
  m.rows = n;
  m.cols = layout.cols;
  m.indptr = h5::read_numeric<int64_t>(group, "indptr", range.begin, n + 1);
  int64_t first = m.indptr.front(), last = m.indptr.back();
  auto data_info = h5::dataset_info(group, "data");
  if (data_info.shape.size() != 1 || last > data_info.shape[0] || first < 0 || first > last)
    fail("{}: {}: indptr points outside the {} stored values (file corrupt?)", file.file(), name,
         data_info.shape.empty() ? 0 : data_info.shape[0]);
  require_sparse_memory(file, name, layout, static_cast<double>(last - first), 1);
  m.data = h5::read_numeric<float>(group, "data", first, last - first);
  m.indices = h5::read_numeric<int32_t>(group, "indices", first, last - first);
  for (auto& p : m.indptr) p -= first;
  try {
    m.validate();
  } catch (const Error& e) {
    fail("{}: {}: {}", file.file(), name, e.what());
  }
  m.sort_indices();
  return m;
}

// Values of a categories dataset as text (categories may be numbers in pandas).
std::vector<std::string> read_categories(const h5::Location& at, const std::string& name) {
  auto info = h5::dataset_info(at, name);
  if (info.value_class == h5::ValueClass::String) return h5::read_strings(at, name);
  Column numbers = Column::make_floats("", h5::read_numeric<double>(at, name));
  std::vector<std::string> out;
  for (size_t i = 0; i < numbers.size(); ++i) out.push_back(numbers.text(i));
  return out;
}

Column categorical_from_codes(std::string name, std::vector<int64_t> raw_codes, std::vector<std::string> categories,
                              bool ordered, const std::string& where) {
  Column c;
  c.name = std::move(name);
  c.kind = ColumnKind::Categorical;
  c.categories = std::move(categories);
  c.ordered = ordered;
  c.codes.reserve(raw_codes.size());
  for (int64_t code : raw_codes) {
    if (code >= static_cast<int64_t>(c.categories.size()))
      fail("{}: categorical code {} but only {} categories", where, code, c.categories.size());
    c.codes.push_back(static_cast<int32_t>(code < 0 ? -1 : code));
  }
  return c;
}

// One column of a dataframe group (anndata >= 0.7, including 0.7's reference-style categoricals).
Column read_group_column(const h5::Location& frame, const std::string& name, const h5::Location& file) {
  std::string where = frame.file() + ": " + frame.child_path(name);
  if (frame.is_group(name)) {
    std::string type = encoding_type(frame, name);
    h5::Group group = h5::open_group(frame, name);
    if (type == "categorical") {
      bool ordered = h5::read_bool_attribute(frame, name, "ordered").value_or(false);
      return categorical_from_codes(name, h5::read_numeric<int64_t>(group, "codes"), read_categories(group, "categories"),
                                    ordered, where);
    }
    if (type == "nullable-integer" || type == "nullable-boolean") {
      auto values = h5::read_numeric<double>(group, "values");
      auto mask = h5::read_numeric<uint8_t>(group, "mask");
      for (size_t i = 0; i < values.size() && i < mask.size(); ++i)
        if (mask[i]) values[i] = std::nan("");
      return Column::make_floats(name, std::move(values));
    }
    fail("{}: unsupported column encoding '{}'", where, type);
  }
  auto info = h5::dataset_info(frame, name);
  if (info.shape.size() > 1) fail("{}: dataframe column must be 1-D", where);
  if (auto target = h5::read_reference_attribute_target(frame, name, "categories")) {
    return categorical_from_codes(name, h5::read_numeric<int64_t>(frame, name), read_categories(file, *target), false, where);
  }
  switch (info.value_class) {
    case h5::ValueClass::String: return Column::make_strings(name, h5::read_strings(frame, name));
    case h5::ValueClass::Bool: return Column::make_bools(name, h5::read_numeric<uint8_t>(frame, name));
    case h5::ValueClass::Integer: return Column::make_ints(name, h5::read_numeric<int64_t>(frame, name));
    case h5::ValueClass::Float: return Column::make_floats(name, h5::read_numeric<double>(frame, name));
    default: fail("{}: unsupported column type", where);
  }
}

// anndata < 0.7 kept the categories of obs/var column COL in uns/COL_categories.
std::optional<std::vector<std::string>> legacy_categories(const h5::Location& file, const std::string& column) {
  std::string path = "uns/" + column + "_categories";
  if (!file.is_dataset(path)) return std::nullopt;
  return read_categories(file, path);
}

DataFrame read_dataframe(const h5::Location& file, const std::string& name) {
  DataFrame frame;
  if (file.is_dataset(name)) {  // legacy: one compound record dataset
    auto fields = h5::compound_fields(file, name);
    std::string index_field = std::find(fields.begin(), fields.end(), "index") != fields.end() ? "index" : fields.front();
    frame.index = h5::read_compound_strings(file, name, index_field);
    for (const auto& field : fields) {
      if (field == index_field) continue;
      switch (h5::compound_field_class(file, name, field)) {
        case h5::ValueClass::String:
          frame.columns.push_back(Column::make_strings(field, h5::read_compound_strings(file, name, field)));
          break;
        case h5::ValueClass::Bool: {
          auto v = h5::read_compound_numbers(file, name, field);
          frame.columns.push_back(Column::make_bools(field, std::vector<uint8_t>(v.begin(), v.end())));
          break;
        }
        case h5::ValueClass::Integer: {
          auto v = h5::read_compound_numbers(file, name, field);
          std::vector<int64_t> ints(v.begin(), v.end());
          if (auto categories = legacy_categories(file, field))
            frame.columns.push_back(categorical_from_codes(field, ints, *categories, false, file.file() + ": " + name));
          else
            frame.columns.push_back(Column::make_ints(field, ints));
          break;
        }
        case h5::ValueClass::Float:
          frame.columns.push_back(Column::make_floats(field, h5::read_compound_numbers(file, name, field)));
          break;
        default: break;  // nothing else was ever written there
      }
    }
    return frame;
  }
  if (!file.is_group(name)) fail("{}: no '{}' dataframe", file.file(), name);
  h5::Group group = h5::open_group(file, name);
  std::string index_name = h5::read_string_attribute(file, name, "_index").value_or("_index");
  if (!group.exists(index_name)) fail("{}: {}: index dataset '{}' missing", file.file(), name, index_name);
  auto index_info = h5::dataset_info(group, index_name);
  if (index_info.value_class == h5::ValueClass::String) {
    frame.index = h5::read_strings(group, index_name);
  } else {
    Column numbers = Column::make_floats("", h5::read_numeric<double>(group, index_name));
    for (size_t i = 0; i < numbers.size(); ++i) frame.index.push_back(numbers.text(i));
  }
  std::vector<std::string> order;
  if (h5::has_attribute(file, name, "column-order")) {
    order = h5::read_string_array_attribute(file, name, "column-order");
  } else {
    for (const auto& child : group.children())
      if (child != index_name && child != "__categories") order.push_back(child);
  }
  for (const auto& column : order) {
    Column c = read_group_column(group, column, file);
    if (c.kind == ColumnKind::Int) {  // anndata 0.6.x groups with uns/<col>_categories
      if (auto categories = legacy_categories(file, column))
        c = categorical_from_codes(column, c.ints, *categories, false, file.file() + ": " + name);
    }
    if (c.size() != frame.index.size())
      fail("{}: {}/{} has {} values but the index has {}", file.file(), name, column, c.size(), frame.index.size());
    frame.columns.push_back(std::move(c));
  }
  return frame;
}

std::vector<std::string> group_children(const h5::Location& file, const std::string& name) {
  if (!file.is_group(name)) return {};
  return h5::open_group(file, name).children();
}

}  // namespace

AnnData read_h5ad(const std::string& path, const H5adReadOptions& options) {
  h5::File file = h5::File::open(path, h5::Mode::ReadOnly);
  std::string matrix = resolve_path(file, options.matrix);
  if (matrix.empty()) {
    std::vector<std::string> have;
    if (file.exists("X")) have.push_back("X");
    if (!resolve_path(file, "raw/X").empty()) have.push_back("raw/X");
    for (const auto& layer : group_children(file, "layers")) have.push_back("layers/" + layer);
    fail("{}: no matrix '{}' in this file; it has: {}", path, options.matrix, have.empty() ? "none" : fmt::format("{}", fmt::join(have, ", ")));
  }
  bool raw = options.matrix.rfind("raw/", 0) == 0;
  AnnData data;
  data.source = path;
  data.matrix_source = options.matrix;
  data.obs = read_dataframe(file, "obs");
  std::string var_path = raw ? resolve_path(file, "raw/var") : "var";
  if (var_path.empty()) fail("{}: raw/X present but raw/var missing", path);
  data.var = read_dataframe(file, var_path);

  MatrixLayout layout = matrix_layout(file, matrix);
  if (layout.rows != static_cast<int64_t>(data.obs.rows()))
    fail("{}: {} has {} rows but obs has {} cells", path, matrix, layout.rows, data.obs.rows());
  if (layout.cols != static_cast<int64_t>(data.var.rows()))
    fail("{}: {} has {} columns but {} has {} genes", path, matrix, layout.cols, var_path, data.var.rows());

  if (options.rows) {
    std::vector<int64_t> block;
    if (options.rows->begin < 0 || options.rows->end > layout.rows || options.rows->begin > options.rows->end)
      fail("{}: rows [{}, {}) outside the {} cells", path, options.rows->begin, options.rows->end, layout.rows);
    for (int64_t r = options.rows->begin; r < options.rows->end; ++r) block.push_back(r);
    data.obs = data.obs.subset(block);
  }
  if (options.read_obsm) {
    for (const auto& key : group_children(file, "obsm")) {
      if (!file.is_dataset("obsm/" + key)) continue;  // dataframes in obsm are not embeddings
      auto info = h5::dataset_info(file, "obsm/" + key);
      if (info.shape.size() != 2 || (info.value_class != h5::ValueClass::Float && info.value_class != h5::ValueClass::Integer))
        continue;
      DenseMatrix m{info.shape[0], info.shape[1], {}};
      if (options.rows) {
        m.rows = options.rows->end - options.rows->begin;
        m.values = h5::read_numeric<float>(file, "obsm/" + key, options.rows->begin, m.rows);
      } else {
        m.values = h5::read_numeric<float>(file, "obsm/" + key);
      }
      data.obsm[key] = std::move(m);
    }
  }
  if (options.read_matrix) {
    data.X = read_matrix(file, matrix, options.rows);
  } else {
    data.X.rows = static_cast<int64_t>(data.obs.rows());
    data.X.cols = layout.cols;
    data.X.indptr.assign(data.X.rows + 1, 0);
  }
  return data;
}

DenseMatrix read_obsm(const std::string& path, const std::string& key) {
  h5::File file = h5::File::open(path, h5::Mode::ReadOnly);
  std::string name = "obsm/" + key;
  if (!file.is_dataset(name)) {
    auto keys = group_children(file, "obsm");
    fail("{}: no obsm['{}']; the file has: {}", path, key, keys.empty() ? "no obsm entries" : fmt::format("{}", fmt::join(keys, ", ")));
  }
  auto info = h5::dataset_info(file, name);
  if (info.shape.size() != 2) fail("{}: obsm['{}'] is not a 2-D array", path, key);
  DenseMatrix m;
  m.rows = info.shape[0];
  m.cols = info.shape[1];
  m.values = h5::read_numeric<float>(file, name);
  return m;
}

H5adLayout read_h5ad_layout(const std::string& path) {
  h5::File file = h5::File::open(path, h5::Mode::ReadOnly);
  H5adLayout layout;
  if (!file.exists("X")) fail("{}: no X matrix (not an AnnData file?)", path);
  MatrixLayout x = matrix_layout(file, "X");
  layout.n_cells = x.rows;
  layout.n_genes = x.cols;
  layout.x_format = x.format;
  h5::DatasetInfo data_info = x.format == "dense" ? h5::dataset_info(file, "X") : h5::dataset_info(file, "X/data");
  layout.x_dtype = dtype_name(data_info);
  layout.x_stored = data_info.shape.empty() ? 0 : data_info.shape[0] * (x.format == "dense" ? x.cols : 1);
  layout.compression = data_info.filters;
  bool modern = h5::has_attribute(file, ".", "encoding-type") || h5::has_attribute(file, "obs", "encoding-type") ||
                file.is_group("obs");
  layout.encoding = modern ? "anndata>=0.7" : "legacy (<0.7)";
  layout.has_raw = !resolve_path(file, "raw/X").empty();
  layout.layers = group_children(file, "layers");
  layout.obsm = group_children(file, "obsm");
  layout.varm = group_children(file, "varm");
  layout.obsp = group_children(file, "obsp");
  layout.uns = group_children(file, "uns");
  return layout;
}

H5adRowReader::H5adRowReader(std::string path, std::string matrix) : path_(std::move(path)), matrix_(std::move(matrix)) {
  h5::File file = h5::File::open(path_, h5::Mode::ReadOnly);
  std::string resolved = resolve_path(file, matrix_);
  if (resolved.empty()) fail("{}: no matrix '{}' in this file", path_, matrix_);
  matrix_ = resolved;
  MatrixLayout layout = matrix_layout(file, matrix_);
  n_cells_ = layout.rows;
  n_genes_ = layout.cols;
  format_ = layout.format;
}

CsrMatrix H5adRowReader::read_rows(int64_t begin, int64_t end) const {
  h5::ThreadSection section;  // may run on the read-ahead thread
  h5::File file = h5::File::open(path_, h5::Mode::ReadOnly);
  return read_matrix(file, matrix_, RowRange{begin, end});
}

}  // namespace marrow::io
