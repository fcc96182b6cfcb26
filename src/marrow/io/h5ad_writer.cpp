#include "marrow/io/h5ad_writer.hpp"
#include "marrow/io/memory.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"
#include "marrow/io/h5ad_reader.hpp"
#include "marrow/io/hdf5.hpp"

namespace marrow::io {

namespace {

void set_encoding(const h5::Location& at, const std::string& name, const std::string& type, const std::string& version) {
  h5::write_string_attribute(at, name, "encoding-type", type);
  h5::write_string_attribute(at, name, "encoding-version", version);
}

h5::Group ensure_dict_group(const h5::Location& at, const std::string& name) {
  bool existed = at.is_group(name);
  h5::Group group = h5::create_group(at, name);
  if (!existed || !h5::has_attribute(at, name, "encoding-type")) set_encoding(at, name, "dict", "0.1.0");
  return group;
}

void write_dense(const h5::Location& at, const std::string& name, const DenseMatrix& m) {
  h5::remove_link(at, name);
  h5::write_numeric(at, name, m.values, {m.rows, m.cols});
  set_encoding(at, name, "array", "0.2.0");
}

void write_string_array(const h5::Location& at, const std::string& name, const std::vector<std::string>& values) {
  h5::write_strings(at, name, values);
  set_encoding(at, name, "string-array", "0.2.0");
}

void write_column(const h5::Location& frame, const Column& column) {
  const std::string& name = column.name;
  h5::remove_link(frame, name);
  switch (column.kind) {
    case ColumnKind::String: write_string_array(frame, name, column.strings); break;
    case ColumnKind::Categorical: {
      h5::Group group = h5::create_group(frame, name);
      set_encoding(frame, name, "categorical", "0.2.0");
      h5::write_bool_attribute(frame, name, "ordered", column.ordered);
      write_string_array(group, "categories", column.categories);
      // pandas uses the smallest integer type that holds the codes.
      if (column.categories.size() < 127) {
        h5::write_numeric(group, "codes", std::vector<int8_t>(column.codes.begin(), column.codes.end()),
                          {static_cast<int64_t>(column.codes.size())});
      } else {
        h5::write_numeric(group, "codes", column.codes, {static_cast<int64_t>(column.codes.size())});
      }
      set_encoding(group, "codes", "array", "0.2.0");
      break;
    }
    case ColumnKind::Float:
      h5::write_numeric(frame, name, column.floats, {static_cast<int64_t>(column.floats.size())});
      set_encoding(frame, name, "array", "0.2.0");
      break;
    case ColumnKind::Int:
      h5::write_numeric(frame, name, column.ints, {static_cast<int64_t>(column.ints.size())});
      set_encoding(frame, name, "array", "0.2.0");
      break;
    case ColumnKind::Bool:
      h5::write_bools(frame, name, column.bools);
      set_encoding(frame, name, "array", "0.2.0");
      break;
  }
}

void write_dataframe(const h5::Location& file, const std::string& name, const DataFrame& frame) {
  h5::remove_link(file, name);
  h5::Group group = h5::create_group(file, name);
  set_encoding(file, name, "dataframe", "0.2.0");
  h5::write_string_attribute(file, name, "_index", "_index");
  write_string_array(group, "_index", frame.index);
  for (const auto& column : frame.columns) write_column(group, column);
  h5::write_string_array_attribute(file, name, "column-order", frame.column_names());
}

void write_csr(const h5::Location& file, const std::string& name, const CsrMatrix& m) {
  h5::remove_link(file, name);
  h5::Group group = h5::create_group(file, name);
  set_encoding(file, name, "csr_matrix", "0.1.0");
  h5::write_int_array_attribute(file, name, "shape", {m.rows, m.cols});
  h5::write_numeric(group, "data", m.data, {m.nnz()});
  h5::write_numeric(group, "indices", m.indices, {m.nnz()});
  h5::write_numeric(group, "indptr", m.indptr, {m.rows + 1});
}

// JSON value -> uns element, in anndata's encodings (dict, string, numeric-scalar, array, string-array).
void write_json(const h5::Location& at, const std::string& name, const nlohmann::json& value) {
  h5::remove_link(at, name);
  if (value.is_object()) {
    h5::Group group = h5::create_group(at, name);
    set_encoding(at, name, "dict", "0.1.0");
    for (const auto& [key, item] : value.items()) write_json(group, key, item);
  } else if (value.is_string()) {
    h5::write_string_scalar(at, name, value.get<std::string>());
    set_encoding(at, name, "string", "0.2.0");
  } else if (value.is_boolean()) {
    h5::write_bool_scalar(at, name, value.get<bool>());
    set_encoding(at, name, "numeric-scalar", "0.2.0");
  } else if (value.is_number_integer()) {
    h5::write_scalar<int64_t>(at, name, value.get<int64_t>());
    set_encoding(at, name, "numeric-scalar", "0.2.0");
  } else if (value.is_number()) {
    h5::write_scalar<double>(at, name, value.get<double>());
    set_encoding(at, name, "numeric-scalar", "0.2.0");
  } else if (value.is_array() && !value.empty() &&
             std::all_of(value.begin(), value.end(), [](const auto& v) { return v.is_string(); })) {
    write_string_array(at, name, value.get<std::vector<std::string>>());
  } else if (value.is_array() && !value.empty() &&
             std::all_of(value.begin(), value.end(), [](const auto& v) { return v.is_number(); })) {
    bool integral = std::all_of(value.begin(), value.end(), [](const auto& v) { return v.is_number_integer(); });
    if (integral) h5::write_numeric(at, name, value.get<std::vector<int64_t>>(), {static_cast<int64_t>(value.size())});
    else h5::write_numeric(at, name, value.get<std::vector<double>>(), {static_cast<int64_t>(value.size())});
    set_encoding(at, name, "array", "0.2.0");
  } else if (!value.is_null()) {  // mixed arrays, arrays of objects: kept as JSON text
    h5::write_string_scalar(at, name, value.dump());
    set_encoding(at, name, "string", "0.2.0");
  }
}

void check_additions(const H5adAdditions& additions, int64_t n_cells, int64_t n_genes, const std::string& path) {
  for (const auto& [key, m] : additions.obsm)
    if (m.rows != n_cells) fail("{}: obsm['{}'] has {} rows for {} cells", path, key, m.rows, n_cells);
  for (const auto& [key, m] : additions.varm)
    if (m.rows != n_genes) fail("{}: varm['{}'] has {} rows for {} genes", path, key, m.rows, n_genes);
  for (const auto& c : additions.obs_columns)
    if (static_cast<int64_t>(c.size()) != n_cells)
      fail("{}: obs column '{}' has {} values for {} cells", path, c.name, c.size(), n_cells);
}

void apply_additions(const h5::File& file, const H5adAdditions& additions) {
  h5::Group obsm = ensure_dict_group(file, "obsm");
  for (const auto& [key, m] : additions.obsm) write_dense(obsm, key, m);
  h5::Group varm = ensure_dict_group(file, "varm");
  for (const auto& [key, m] : additions.varm) write_dense(varm, key, m);
  h5::Group uns = ensure_dict_group(file, "uns");
  for (const auto& [key, value] : additions.uns.items()) write_json(uns, key, value);
  if (!additions.obs_columns.empty()) {
    h5::Group obs = h5::open_group(file, "obs");
    std::vector<std::string> order = h5::read_string_array_attribute(file, "obs", "column-order");
    for (const auto& column : additions.obs_columns) {
      write_column(obs, column);
      if (std::find(order.begin(), order.end(), column.name) == order.end()) order.push_back(column.name);
    }
    h5::write_string_array_attribute(file, "obs", "column-order", order);
  }
}

void write_new_file(const std::string& path, const AnnData& data, const H5adAdditions& additions) {
  h5::File file = h5::File::open(path, h5::Mode::Create);
  set_encoding(file, ".", "anndata", "0.1.0");
  write_csr(file, "X", data.X);
  write_dataframe(file, "obs", data.obs);
  write_dataframe(file, "var", data.var);
  for (const char* name : {"layers", "obsp", "varp"}) ensure_dict_group(file, name);
  io::H5adAdditions all = additions;
  for (const auto& [key, m] : data.obsm) all.obsm.emplace(key, m);  // additions win over existing keys
  apply_additions(file, all);
  file.flush();
}

}  // namespace

void write_h5ad(const std::string& path, const AnnData& data, const H5adAdditions& additions) {
  if (static_cast<int64_t>(data.obs.rows()) != data.n_cells() || static_cast<int64_t>(data.var.rows()) != data.n_genes())
    fail("{}: internal: X is {} x {} but obs/var have {}/{} rows", path, data.n_cells(), data.n_genes(), data.obs.rows(), data.var.rows());
  check_additions(additions, data.n_cells(), data.n_genes(), path);
  if (is_memory_path(path)) return store_memory_output(path, {additions, data.obs.index, data.var.index});
  for (const auto& [key, m] : data.obsm)
    if (m.rows != data.n_cells()) fail("{}: internal: obsm['{}'] has {} rows for {} cells", path, key, m.rows, data.n_cells());
  AtomicOutput out(path);
  out.write_with([&](const std::string& temp) { write_new_file(temp, data, additions); });
  out.commit();
}

void write_h5ad_with_additions(const std::string& input, const std::string& output, const H5adAdditions& additions) {
  if (is_memory_path(input) || is_memory_path(output)) fail("{}: internal: an in-memory dataset is not copied as a file", output);
  H5adLayout layout = read_h5ad_layout(input);
  check_additions(additions, layout.n_cells, layout.n_genes, output);
  AtomicOutput out(output);
  h5::File probe = h5::File::open(input, h5::Mode::ReadOnly);
  bool legacy = !probe.is_group("obs") || !probe.is_group("var");
  out.write_with([&](const std::string& temp) {
    if (legacy) {
      spdlog::warn("{}: legacy (anndata < 0.7) layout; writing {} in the current encoding", input, output);
      AnnData data = read_h5ad(input);
      write_new_file(temp, data, additions);
    } else {
      std::error_code ec;
      std::filesystem::copy_file(input, temp, std::filesystem::copy_options::overwrite_existing, ec);
      if (ec) fail("{}: cannot copy to {}: {}", input, output, ec.message());
      h5::File file = h5::File::open(temp, h5::Mode::ReadWrite);
      apply_additions(file, additions);
      file.flush();
    }
  });
  out.commit();
}

}  // namespace marrow::io
