#include "marrow/io/tenx.hpp"

#include <charconv>
#include <filesystem>
#include <unordered_map>

#include "marrow/core/error.hpp"
#include "marrow/core/strings.hpp"
#include "marrow/io/hdf5.hpp"
#include "marrow/io/text_reader.hpp"
#include "marrow/runtime/memory.hpp"

namespace marrow::io {

namespace fs = std::filesystem;

namespace {

// The first of `names` (each tried plain and gzipped) present in `directory`.
std::string find_member(const std::string& directory, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    for (const char* suffix : {".gz", ""}) {
      fs::path p = fs::path(directory) / (std::string(name) + suffix);
      if (fs::exists(p)) return p.string();
    }
  }
  return "";
}

std::vector<std::vector<std::string>> read_tsv(const std::string& path) {
  TextReader reader(path);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  while (reader.next_line(line)) {
    if (line.empty()) continue;
    rows.push_back(split(line, '\t'));
  }
  return rows;
}

struct Features {
  std::vector<std::string> ids, names, types;
};

// Keeps "Gene Expression" features; returns new column of each feature (-1 dropped).
std::vector<int32_t> gene_expression_columns(const Features& f, int64_t& kept) {
  std::vector<int32_t> map(f.ids.size(), -1);
  kept = 0;
  for (size_t i = 0; i < f.ids.size(); ++i)
    if (f.types.empty() || f.types[i].empty() || f.types[i] == "Gene Expression") map[i] = static_cast<int32_t>(kept++);
  return map;
}

AnnData assemble(CsrMatrix matrix, const std::vector<std::string>& barcodes, const Features& features,
                 const std::string& source, const std::string& matrix_source) {
  int64_t kept = 0;
  std::vector<int32_t> map = gene_expression_columns(features, kept);
  AnnData data;
  data.source = source;
  data.matrix_source = matrix_source;
  data.X = kept == static_cast<int64_t>(map.size()) ? std::move(matrix) : matrix.remap_columns(map, kept);
  data.obs.index = barcodes;
  std::vector<std::string> names, ids, types;
  for (size_t i = 0; i < map.size(); ++i) {
    if (map[i] < 0) continue;
    names.push_back(features.names[i]);
    ids.push_back(features.ids[i]);
    types.push_back(features.types.empty() ? "Gene Expression" : features.types[i]);
  }
  make_names_unique(names);
  data.var.index = names;
  data.var.set(Column::make_strings("gene_ids", ids));
  data.var.set(Column::make_categorical("feature_types", types));
  return data;
}

template <typename T>
bool parse_field(std::string_view& rest, T& value) {
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
  if (ec != std::errc()) return false;
  rest.remove_prefix(ptr - rest.data());
  return true;
}

}  // namespace

void make_names_unique(std::vector<std::string>& names) {
  std::unordered_map<std::string, int> seen;
  for (const auto& n : names) ++seen[n];
  std::unordered_map<std::string, int> next;
  for (auto& n : names) {
    if (seen[n] < 2) continue;
    int k = next[n]++;
    if (k > 0) n += "-" + std::to_string(k);
  }
}

AnnData read_10x_mtx(const std::string& directory) {
  if (!fs::is_directory(directory)) fail("{}: not a directory", directory);
  std::string matrix_path = find_member(directory, {"matrix.mtx"});
  std::string features_path = find_member(directory, {"features.tsv", "genes.tsv"});
  std::string barcodes_path = find_member(directory, {"barcodes.tsv"});
  if (matrix_path.empty() || features_path.empty() || barcodes_path.empty())
    fail("{}: not a 10x matrix directory: needs matrix.mtx[.gz], features.tsv[.gz] (or genes.tsv) and barcodes.tsv[.gz]",
         directory);

  Features features;
  for (auto& row : read_tsv(features_path)) {
    features.ids.push_back(row[0]);
    features.names.push_back(row.size() > 1 ? row[1] : row[0]);
    features.types.push_back(row.size() > 2 ? row[2] : "Gene Expression");
  }
  std::vector<std::string> barcodes;
  for (auto& row : read_tsv(barcodes_path)) barcodes.push_back(row[0]);

  TextReader reader(matrix_path);
  std::string line;
  if (!reader.next_line(line) || line.rfind("%%MatrixMarket", 0) != 0)
    fail("{}: not a Matrix Market file (missing %%MatrixMarket header)", matrix_path);
  std::string header = to_lower(line);
  if (header.find("coordinate") == std::string::npos) fail("{}: only coordinate Matrix Market files are supported", matrix_path);
  if (header.find("complex") != std::string::npos) fail("{}: complex values are not single-cell counts", matrix_path);
  bool pattern = header.find("pattern") != std::string::npos;
  do {
    if (!reader.next_line(line)) fail("{}: truncated: no size line", matrix_path);
  } while (line.empty() || line[0] == '%');
  int64_t n_genes = 0, n_cells = 0, nnz = 0;
  std::string_view rest = line;
  if (!parse_field(rest, n_genes) || !parse_field(rest, n_cells) || !parse_field(rest, nnz))
    fail("{}: bad size line '{}'", matrix_path, line);
  if (n_genes != static_cast<int64_t>(features.ids.size()))
    fail("{}: matrix has {} rows but {} lists {} features", directory, n_genes, fs::path(features_path).filename().string(),
         features.ids.size());
  if (n_cells != static_cast<int64_t>(barcodes.size()))
    fail("{}: matrix has {} columns but {} lists {} barcodes", directory, n_cells, fs::path(barcodes_path).filename().string(),
         barcodes.size());

  std::vector<int32_t> cell(nnz), gene(nnz);
  std::vector<float> value(nnz);
  int64_t k = 0;
  while (reader.next_line(line)) {
    if (line.empty() || line[0] == '%') continue;
    if (k >= nnz) fail("{}: more entries than the {} the header declares", matrix_path, nnz);
    rest = line;
    int64_t g = 0, c = 0;
    double v = 1.0;
    if (!parse_field(rest, g) || !parse_field(rest, c) || (!pattern && !parse_field(rest, v)))
      fail("{}: line {}: cannot parse '{}'", matrix_path, reader.line_number(), line);
    if (g < 1 || g > n_genes || c < 1 || c > n_cells)
      fail("{}: line {}: entry ({}, {}) outside the {} x {} matrix", matrix_path, reader.line_number(), g, c, n_genes, n_cells);
    gene[k] = static_cast<int32_t>(g - 1);
    cell[k] = static_cast<int32_t>(c - 1);
    value[k] = static_cast<float>(v);
    ++k;
  }
  if (k != nnz) fail("{}: truncated: {} entries of the {} the header declares", matrix_path, k, nnz);

  // Triplets -> cells x genes CSR by counting sort on the cell.
  CsrMatrix m;
  m.rows = n_cells;
  m.cols = n_genes;
  m.indptr.assign(n_cells + 1, 0);
  for (int32_t c : cell) ++m.indptr[c + 1];
  for (int64_t r = 0; r < n_cells; ++r) m.indptr[r + 1] += m.indptr[r];
  m.indices.resize(nnz);
  m.data.resize(nnz);
  std::vector<int64_t> cursor(m.indptr.begin(), m.indptr.end() - 1);
  for (int64_t i = 0; i < nnz; ++i) {
    int64_t dest = cursor[cell[i]]++;
    m.indices[dest] = gene[i];
    m.data[dest] = value[i];
  }
  m.sort_indices();
  return assemble(std::move(m), barcodes, features, directory, "matrix.mtx");
}

AnnData read_10x_h5(const std::string& path) {
  h5::File file = h5::File::open(path, h5::Mode::ReadOnly);
  std::string group_name;
  Features features;
  if (file.is_group("matrix")) {  // Cell Ranger >= 3
    group_name = "matrix";
  } else {  // Cell Ranger 2: one group per genome
    auto children = file.children();
    if (children.empty() || !file.is_group(children.front()))
      fail("{}: not a 10x HDF5 matrix (no 'matrix' group)", path);
    group_name = children.front();
  }
  h5::Group group = h5::open_group(file, group_name);
  for (const char* required : {"data", "indices", "indptr", "shape", "barcodes"})
    if (!group.exists(required)) fail("{}: not a 10x HDF5 matrix ({}/{} missing)", path, group_name, required);
  if (group.is_group("features")) {
    h5::Group f = h5::open_group(group, "features");
    features.ids = h5::read_strings(f, "id");
    features.names = h5::read_strings(f, "name");
    if (f.exists("feature_type")) features.types = h5::read_strings(f, "feature_type");
  } else {
    features.ids = h5::read_strings(group, "genes");
    features.names = h5::read_strings(group, "gene_names");
  }
  auto shape = h5::read_numeric<int64_t>(group, "shape");
  if (shape.size() != 2) fail("{}: {}/shape must hold 2 numbers", path, group_name);
  std::vector<std::string> barcodes = h5::read_strings(group, "barcodes");
  if (shape[0] != static_cast<int64_t>(features.ids.size()) || shape[1] != static_cast<int64_t>(barcodes.size()))
    fail("{}: shape {} x {} disagrees with {} features and {} barcodes", path, shape[0], shape[1], features.ids.size(),
         barcodes.size());
  // Genes x cells in CSC is cells x genes in CSR: the arrays are used as they are.
  auto stored = h5::dataset_info(group, "data").shape;
  double nnz = stored.empty() ? 0.0 : static_cast<double>(stored[0]);
  runtime::require_memory(path, fmt::format("{}/data ({:.0f} stored values)", group_name, nnz),
                          nnz * (sizeof(float) + sizeof(int32_t)) + static_cast<double>(shape[1] + 1) * sizeof(int64_t),
                          "a 10x .h5 is read whole: this one is too large for this machine, or its header is corrupt");
  CsrMatrix m;
  m.rows = shape[1];
  m.cols = shape[0];
  m.indptr = h5::read_numeric<int64_t>(group, "indptr");
  m.indices = h5::read_numeric<int32_t>(group, "indices");
  m.data = h5::read_numeric<float>(group, "data");
  try {
    m.validate();
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
  m.sort_indices();
  return assemble(std::move(m), barcodes, features, path, group_name);
}

}  // namespace marrow::io
