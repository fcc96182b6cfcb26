#include "marrow/report/inspect.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <cmath>

#include "marrow/core/strings.hpp"
#include "marrow/io/h5ad_reader.hpp"
#include "marrow/io/labels.hpp"
#include "marrow/io/load.hpp"
#include "marrow/preprocess/qc.hpp"

namespace marrow::report {

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  auto mid = v.begin() + v.size() / 2;
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

nlohmann::json describe_column(const Column& column, size_t max_categories) {
  nlohmann::json j = {{"name", column.name}, {"kind", column_kind_name(column.kind)}};
  if (column.kind == ColumnKind::Float || column.kind == ColumnKind::Int) {
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    int64_t n = 0, missing = 0;
    for (size_t i = 0; i < column.size(); ++i) {
      if (column.is_missing(i)) {
        ++missing;
        continue;
      }
      double v = column.number(i);
      lo = std::min(lo, v), hi = std::max(hi, v), sum += v, ++n;
    }
    j["min"] = n ? lo : NAN;
    j["max"] = n ? hi : NAN;
    j["mean"] = n ? sum / n : NAN;
    j["missing"] = missing;
    return j;
  }
  auto counts = column.value_counts();
  int64_t missing = 0;
  for (size_t i = 0; i < column.size(); ++i) missing += column.is_missing(i);
  j["n_categories"] = counts.size();
  j["missing"] = missing;
  nlohmann::json listed = nlohmann::json::object();
  std::vector<std::pair<std::string, int64_t>> shown = counts;
  if (shown.size() > max_categories) {  // the most frequent ones
    std::stable_sort(shown.begin(), shown.end(), [](auto& a, auto& b) { return a.second > b.second; });
    shown.resize(max_categories);
  }
  nlohmann::json categories = nlohmann::json::array();
  for (auto& [value, count] : shown) categories.push_back({{"value", value}, {"count", count}});
  j["categories"] = categories;
  return j;
}

// What inspect reports about the matrix, gathered a block of rows at a time.
struct MatrixSummary {
  int64_t nnz = 0;
  float min_value = 0, max_value = 0;
  bool looks_like_counts = true;
  std::vector<double> genes_per_cell, total_per_cell;

  void add(const CsrMatrix& block) {
    if (!block.data.empty()) {
      auto [lo, hi] = std::minmax_element(block.data.begin(), block.data.end());
      min_value = nnz ? std::min(min_value, *lo) : *lo;
      max_value = nnz ? std::max(max_value, *hi) : *hi;
    }
    nnz += block.nnz();
    looks_like_counts = looks_like_counts && preprocess::looks_like_counts(block, block.rows);
    for (int64_t v : block.row_nnz_counts()) genes_per_cell.push_back(static_cast<double>(v));
    auto sums = block.row_sums();
    total_per_cell.insert(total_per_cell.end(), sums.begin(), sums.end());
  }
};

// An .h5ad's matrix in blocks of about 2^24 dense values (64 MB) or 65,536 sparse rows, so a large
// or dense matrix is summarised in bounded memory (a CSC matrix can only be read whole).
MatrixSummary summarise_h5ad(const std::string& path, const std::string& matrix) {
  io::H5adRowReader reader(path, matrix);
  int64_t block = reader.format() == "dense" ? std::max<int64_t>(1, (int64_t{1} << 24) / std::max<int64_t>(reader.n_genes(), 1))
                  : reader.format() == "csc" ? std::max<int64_t>(reader.n_cells(), 1)
                                               : 65536;
  MatrixSummary summary;
  for (int64_t begin = 0; begin < reader.n_cells(); begin += block)
    summary.add(reader.read_rows(begin, std::min(reader.n_cells(), begin + block)));
  return summary;
}

}  // namespace

nlohmann::json inspect(const std::string& path, const InspectOptions& options) {
  io::LoadOptions load;
  load.matrix = options.matrix;
  load.labels = options.labels;
  io::InputFormat format = io::detect_format(path);
  AnnData data;
  MatrixSummary summary;
  if (format == io::InputFormat::H5ad) {
    io::H5adReadOptions read;
    read.matrix = options.matrix;
    read.read_matrix = false;
    read.read_obsm = false;
    data = io::read_h5ad(path, read);
    if (!options.labels.empty()) io::join_labels(data, options.labels);
    summary = summarise_h5ad(path, options.matrix);
  } else {
    data = io::load_dataset(path, load);
    summary.add(data.X);
  }
  nlohmann::json j;
  j["path"] = path;
  j["format"] = io::format_name(format);
  j["n_cells"] = data.n_cells();
  j["n_genes"] = data.n_genes();
  j["nnz"] = summary.nnz;
  double cells_x_genes = static_cast<double>(data.n_cells()) * static_cast<double>(data.n_genes());
  j["density"] = cells_x_genes > 0 ? static_cast<double>(summary.nnz) / cells_x_genes : 0.0;
  j["sparsity"] = 1.0 - j["density"].get<double>();
  j["matrix"] = data.matrix_source;
  if (format == io::InputFormat::H5ad) {
    io::H5adLayout layout = io::read_h5ad_layout(path);
    j["storage"] = {{"x_format", layout.x_format}, {"x_dtype", layout.x_dtype}, {"compression", layout.compression},
                    {"encoding", layout.encoding}};
    j["layers"] = layout.layers;
    j["raw"] = layout.has_raw;
    j["obsm"] = layout.obsm;
    j["varm"] = layout.varm;
    j["uns"] = layout.uns;
  }
  j["looks_like_counts"] = summary.looks_like_counts;
  j["value_range"] = {summary.min_value, summary.max_value};
  j["median_genes_per_cell"] = median(summary.genes_per_cell);
  j["median_total_per_cell"] = median(summary.total_per_cell);
  nlohmann::json obs = nlohmann::json::array();
  for (const auto& c : data.obs.columns) obs.push_back(describe_column(c, options.max_categories));
  j["obs_columns"] = obs;
  nlohmann::json var = nlohmann::json::array();
  for (const auto& c : data.var.columns) var.push_back({{"name", c.name}, {"kind", column_kind_name(c.kind)}});
  j["var_columns"] = var;
  std::vector<std::string> examples(data.gene_names().begin(), data.gene_names().begin() + std::min<int64_t>(5, data.n_genes()));
  j["gene_examples"] = examples;
  return j;
}

std::string format_inspect(const nlohmann::json& j) {
  std::string out;
  auto line = [&](const std::string& text) { out += text + "\n"; };
  line(fmt::format("{} ({})", j["path"].get<std::string>(), j["format"].get<std::string>()));
  line(fmt::format("  cells x genes   {} x {}   ({})", with_thousands(j["n_cells"].get<int64_t>()),
                   with_thousands(j["n_genes"].get<int64_t>()),
                   j["matrix"].get<std::string>()));
  line(fmt::format("  stored values   {}  (sparsity {:.2f}%)", with_thousands(j["nnz"].get<int64_t>()), 100 * j["sparsity"].get<double>()));
  if (j.contains("storage")) {
    const auto& s = j["storage"];
    line(fmt::format("  storage         {} {}, {}, compression: {}", s["x_format"].get<std::string>(),
                     s["x_dtype"].get<std::string>(), s["encoding"].get<std::string>(),
                     s["compression"].empty() ? "none" : fmt::format("{}", fmt::join(s["compression"].get<std::vector<std::string>>(), ","))));
    auto list = [](const nlohmann::json& v) {
      return v.empty() ? std::string("-") : fmt::format("{}", fmt::join(v.get<std::vector<std::string>>(), ", "));
    };
    line(fmt::format("  layers          {}{}", list(j["layers"]), j["raw"].get<bool>() ? "   (raw/X present)" : ""));
    line(fmt::format("  obsm / varm     {} / {}", list(j["obsm"]), list(j["varm"])));
  }
  line(fmt::format("  values          {} .. {}; {}", j["value_range"][0].get<double>(), j["value_range"][1].get<double>(),
                   j["looks_like_counts"].get<bool>() ? "looks like raw counts (non-negative integers)"
                                                      : "not raw counts (normalised or transformed?)"));
  line(fmt::format("  per cell        median {:g} genes, median total {:g}", j["median_genes_per_cell"].get<double>(),
                   j["median_total_per_cell"].get<double>()));
  line(fmt::format("  genes e.g.      {}", fmt::join(j["gene_examples"].get<std::vector<std::string>>(), ", ")));
  line("  obs columns:");
  for (const auto& c : j["obs_columns"]) {
    std::string kind = c["kind"].get<std::string>();
    if (kind == "float" || kind == "int") {
      line(fmt::format("    {:<18} {:<11} min {:g}, mean {:.4g}, max {:g}", c["name"].get<std::string>(), kind,
                       c["min"].get<double>(), c["mean"].get<double>(), c["max"].get<double>()));
      continue;
    }
    line(fmt::format("    {:<18} {:<11} {} values{}", c["name"].get<std::string>(), kind, c["n_categories"].get<int64_t>(),
                     c["missing"].get<int64_t>() ? fmt::format(", {} missing", c["missing"].get<int64_t>()) : ""));
    std::string values;
    for (const auto& v : c["categories"])
      values += fmt::format("{} ({}), ", v["value"].get<std::string>(), with_thousands(v["count"].get<int64_t>()));
    if (!values.empty()) values.resize(values.size() - 2);
    if (c["categories"].size() < c["n_categories"].get<size_t>()) values += ", ...";
    line("      " + values);
  }
  if (!j["var_columns"].empty()) {
    std::vector<std::string> names;
    for (const auto& c : j["var_columns"]) names.push_back(c["name"].get<std::string>());
    line(fmt::format("  var columns:    {}", fmt::join(names, ", ")));
  }
  return out;
}

}  // namespace marrow::report
