#include "marrow/io/tenx.hpp"

#include <array>
#include <cmath>
#include <filesystem>
#include <limits>
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

// Splits a line on spaces and tabs into at most out.size() tokens; returns how many it found,
// out.size() + 1 when there are more.
template <size_t N>
size_t tokens(std::string_view line, std::array<std::string_view, N>& out) {
  size_t n = 0;
  size_t i = 0;
  while (true) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i == line.size()) return n;
    size_t end = i;
    while (end < line.size() && line[end] != ' ' && line[end] != '\t') ++end;
    if (n == N) return N + 1;
    out[n++] = line.substr(i, end - i);
    i = end;
  }
}

// The banner "%%MatrixMarket matrix coordinate FIELD SYMMETRY". Only general coordinate matrices of
// real, integer or pattern values are read: a genes x cells matrix is not square, so the symmetric
// kinds (which store half of a square matrix) are refused rather than mirrored.
struct MtxBanner {
  bool pattern = false;  // no value column: every entry is 1
  bool integer = false;  // values must be whole numbers
};

MtxBanner parse_banner(const std::string& line, const std::string& path) {
  std::array<std::string_view, 5> t;
  std::string lower = to_lower(line);
  if (lower.rfind("%%matrixmarket", 0) != 0) fail("{}: not a Matrix Market file (missing %%MatrixMarket header)", path);
  if (tokens(lower, t) != 5 || t[0] != "%%matrixmarket" || t[1] != "matrix")
    fail("{}: bad Matrix Market header '{}' (expects %%MatrixMarket matrix coordinate FIELD SYMMETRY)", path, line);
  if (t[2] != "coordinate") fail("{}: only coordinate Matrix Market files are supported, not '{}'", path, t[2]);
  MtxBanner banner;
  if (t[3] == "complex") fail("{}: complex values are not single-cell counts", path);
  if (t[3] != "real" && t[3] != "integer" && t[3] != "pattern")
    fail("{}: unknown Matrix Market field '{}' (expects real, integer or pattern)", path, t[3]);
  banner.pattern = t[3] == "pattern";
  banner.integer = t[3] == "integer";
  if (t[4] != "general")
    fail("{}: '{}' Matrix Market files are not supported: a genes x cells matrix is stored 'general'", path, t[4]);
  return banner;
}

struct MtxSize {
  int64_t rows = 0, cols = 0, entries = 0;
};

// The size line "ROWS COLS ENTRIES", checked before anything is allocated: sizes are
// non-negative, indices fit 32 bits, and entries (no duplicates) cannot exceed rows x cols.
MtxSize parse_size_line(const std::string& line, const std::string& path) {
  std::array<std::string_view, 3> t;
  MtxSize size;
  if (tokens(line, t) != 3 || !parse_int64(t[0], size.rows) || !parse_int64(t[1], size.cols) ||
      !parse_int64(t[2], size.entries))
    fail("{}: bad size line '{}' (expects three whole numbers: rows, columns, entries)", path, line);
  constexpr int64_t kMaxIndex = std::numeric_limits<int32_t>::max();
  if (size.rows < 0 || size.cols < 0 || size.entries < 0)
    fail("{}: size line '{}' declares a negative size", path, line);
  if (size.rows > kMaxIndex || size.cols > kMaxIndex)
    fail("{}: size line '{}': more than {} rows or columns is not supported", path, line, kMaxIndex);
  if (static_cast<double>(size.entries) > static_cast<double>(size.rows) * static_cast<double>(size.cols))
    fail("{}: size line '{}' declares {} entries, more than a {} x {} matrix holds", path, line, size.entries, size.rows,
         size.cols);
  return size;
}

// One value of the matrix: a whole token, finite; in an integer matrix a whole number that fits 32 bits.
float parse_value(std::string_view token, const MtxBanner& banner, bool& ok) {
  if (banner.integer) {
    int64_t v = 0;
    ok = parse_int64(token, v) && v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max();
    return static_cast<float>(v);
  }
  double v = 0;
  ok = parse_double(token, v) && std::isfinite(v) && std::abs(v) <= std::numeric_limits<float>::max();
  return static_cast<float>(v);
}

struct Triplets {
  std::vector<int32_t> gene, cell;
  std::vector<float> value;
};

// The entry lines: exactly 2 (pattern) or 3 whole tokens each, indices inside the declared size.
// Storage grows with the entries actually read, so a header that lies about the count costs nothing.
Triplets read_entries(TextReader& reader, const MtxBanner& banner, const MtxSize& size) {
  const std::string& path = reader.path();
  const size_t fields = banner.pattern ? 2 : 3;
  Triplets t;
  const auto initial = static_cast<size_t>(std::min<int64_t>(size.entries, int64_t{1} << 20));
  t.gene.reserve(initial), t.cell.reserve(initial), t.value.reserve(initial);
  std::array<std::string_view, 3> tok;
  std::string line;
  int64_t k = 0;
  while (reader.next_line(line)) {
    if (line.empty() || line[0] == '%') continue;
    if (k >= size.entries) fail("{}: line {}: more entries than the {} the header declares", path, reader.line_number(), size.entries);
    int64_t g = 0, c = 0;
    bool ok = tokens(line, tok) == fields && parse_int64(tok[0], g) && parse_int64(tok[1], c);
    float v = ok && !banner.pattern ? parse_value(tok[2], banner, ok) : 1.0F;
    if (!ok)
      fail("{}: line {}: cannot parse '{}' (expects {})", path, reader.line_number(), line,
           banner.pattern ? "ROW COL" : banner.integer ? "ROW COL and a 32-bit whole number" : "ROW COL and a finite number");
    if (g < 1 || g > size.rows || c < 1 || c > size.cols)
      fail("{}: line {}: entry ({}, {}) outside the {} x {} matrix", path, reader.line_number(), g, c, size.rows, size.cols);
    t.gene.push_back(static_cast<int32_t>(g - 1));
    t.cell.push_back(static_cast<int32_t>(c - 1));
    t.value.push_back(v);
    ++k;
  }
  if (k != size.entries) fail("{}: truncated: {} entries of the {} the header declares", path, k, size.entries);
  return t;
}

// Triplets -> cells x genes CSR by counting sort on the cell. An entry given twice is refused
// (scipy would sum the two; a count matrix from Cell Ranger never repeats one, so it means damage).
CsrMatrix triplets_to_csr(const Triplets& t, const MtxSize& size, const std::string& path) {
  CsrMatrix m;
  m.rows = size.cols;
  m.cols = size.rows;
  const auto nnz = static_cast<int64_t>(t.cell.size());
  m.indptr.assign(m.rows + 1, 0);
  for (int32_t c : t.cell) ++m.indptr[c + 1];
  for (int64_t r = 0; r < m.rows; ++r) m.indptr[r + 1] += m.indptr[r];
  m.indices.resize(nnz);
  m.data.resize(nnz);
  std::vector<int64_t> cursor(m.indptr.begin(), m.indptr.end() - 1);
  for (int64_t i = 0; i < nnz; ++i) {
    int64_t dest = cursor[t.cell[i]]++;
    m.indices[dest] = t.gene[i];
    m.data[dest] = t.value[i];
  }
  m.sort_indices();
  for (int64_t r = 0; r < m.rows; ++r)
    for (int64_t k = m.indptr[r] + 1; k < m.indptr[r + 1]; ++k)
      if (m.indices[k] == m.indices[k - 1])
        fail("{}: entry ({}, {}) is given more than once", path, m.indices[k] + 1, r + 1);
  return m;
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
  if (!reader.next_line(line)) fail("{}: not a Matrix Market file (missing %%MatrixMarket header)", matrix_path);
  MtxBanner banner = parse_banner(line, matrix_path);
  do {
    if (!reader.next_line(line)) fail("{}: truncated: no size line", matrix_path);
  } while (line.empty() || line[0] == '%');
  MtxSize size = parse_size_line(line, matrix_path);
  if (size.rows != static_cast<int64_t>(features.ids.size()))
    fail("{}: matrix has {} rows but {} lists {} features", directory, size.rows, fs::path(features_path).filename().string(),
         features.ids.size());
  if (size.cols != static_cast<int64_t>(barcodes.size()))
    fail("{}: matrix has {} columns but {} lists {} barcodes", directory, size.cols, fs::path(barcodes_path).filename().string(),
         barcodes.size());
  CsrMatrix m = triplets_to_csr(read_entries(reader, banner, size), size, matrix_path);
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
