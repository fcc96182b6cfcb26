#include "marrow/report/figures.hpp"

#include <cmath>
#include <fstream>
#include <map>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/random.hpp"
#include "marrow/report/svg.hpp"
#include "marrow/report/tsne.hpp"

namespace marrow::report {

void write_training_curves(const std::vector<Curve>& curves, const std::string& title, const std::string& y_label,
                           const std::string& out_svg) {
  std::vector<Series> series;
  for (const auto& [name, path, key] : curves) {
    std::ifstream in(path);
    if (!in) fail("{}: cannot read the training metrics", path);
    Series s;
    s.name = name;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
      if (record.is_discarded() || !record.contains("epoch")) fail("{}: not a metrics file (JSON lines with 'epoch')", path);
      s.x.push_back(record["epoch"].get<double>());
      s.y.push_back(record.contains(key) && record[key].is_number() ? record[key].get<double>() : NAN);
    }
    series.push_back(std::move(s));
  }
  write_file_atomic(out_svg, line_chart_svg(title, "epoch", y_label, series));
}

void write_confusion_matrix(const nlohmann::json& metrics, const std::string& title, const std::string& out_svg) {
  // Classes: every class the model knows (predicted_fraction lists them all), in its order.
  std::vector<std::string> classes;
  for (const auto& [name, _] : metrics.at("predicted_fraction").items()) classes.push_back(name);
  std::vector<std::vector<int64_t>> counts(classes.size(), std::vector<int64_t>(classes.size(), 0));
  const nlohmann::json& confusion = metrics.at("confusion");
  for (size_t t = 0; t < classes.size(); ++t) {
    if (!confusion.contains(classes[t])) continue;
    for (size_t p = 0; p < classes.size(); ++p) counts[t][p] = confusion[classes[t]].value(classes[p], int64_t{0});
  }
  write_file_atomic(out_svg, confusion_svg(title, classes, counts));
}

void write_embedding_map(const AnnData& data, const std::string& key, const std::string& label, const std::string& title,
                         const std::string& out_svg, int64_t max_cells, uint64_t seed) {
  auto it = data.obsm.find(key);
  if (it == data.obsm.end()) fail("{}: no obsm['{}'] to map", data.source, key);
  const DenseMatrix& embedding = it->second;
  const Column& labels = data.obs.require(label);
  std::vector<int64_t> rows = sample_indices(embedding.rows, max_cells, seed);
  DenseMatrix sample;
  sample.rows = static_cast<int64_t>(rows.size());
  sample.cols = embedding.cols;
  sample.values.reserve(rows.size() * static_cast<size_t>(embedding.cols));
  for (int64_t r : rows)
    sample.values.insert(sample.values.end(), embedding.values.begin() + r * embedding.cols,
                         embedding.values.begin() + (r + 1) * embedding.cols);
  std::vector<float> xy = tsne_2d(sample);
  // Legend in order of class size, so the main populations get the first (most distinct) colours.
  std::map<std::string, int64_t> sizes;
  for (int64_t r : rows)
    if (!labels.is_missing(r)) ++sizes[labels.text(r)];
  std::vector<std::pair<std::string, int64_t>> ordered(sizes.begin(), sizes.end());
  std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> names;
  std::map<std::string, int> index;
  for (const auto& [name, n] : ordered) {
    index[name] = static_cast<int>(names.size());
    names.push_back(fmt::format("{} ({})", name, n));
  }
  std::vector<int> category;
  for (int64_t r : rows) category.push_back(labels.is_missing(r) ? -1 : index[labels.text(r)]);
  write_file_atomic(out_svg, scatter_svg(title, xy, category, names));
}

}  // namespace marrow::report
