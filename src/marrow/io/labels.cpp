#include "marrow/io/labels.hpp"

#include <cmath>
#include <unordered_map>

#include "marrow/core/error.hpp"
#include "marrow/core/strings.hpp"
#include "marrow/io/text_reader.hpp"

namespace marrow::io {

namespace {

std::vector<std::string> parse_delimited(const std::string& line, char delimiter) {
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == delimiter) {
      fields.push_back(std::string(trim(field)));
      field.clear();
    } else {
      field += c;
    }
  }
  fields.push_back(std::string(trim(field)));
  return fields;
}

Column typed_column(const std::string& name, const std::vector<std::string>& values) {
  std::vector<double> numbers(values.size());
  bool numeric = true;
  for (size_t i = 0; i < values.size() && numeric; ++i) {
    if (values[i].empty() || values[i] == "NA" || values[i] == "nan") numbers[i] = std::nan("");
    else numeric = parse_double(values[i], numbers[i]);
  }
  if (numeric) return Column::make_floats(name, std::move(numbers));
  return Column::make_categorical(name, values);
}

}  // namespace

DataFrame read_table(const std::string& path) {
  std::string lower = to_lower(path);
  char delimiter = ends_with(lower, ".tsv") || ends_with(lower, ".tsv.gz") || ends_with(lower, ".txt") ? '\t' : ',';
  TextReader reader(path);
  std::string line;
  if (!reader.next_line(line)) fail("{}: empty table", path);
  std::vector<std::string> header = parse_delimited(line, delimiter);
  if (header.size() < 2) fail("{}: needs a barcode column and at least one label column (delimiter '{}')", path,
                              delimiter == '\t' ? "tab" : ",");
  size_t key = 0;
  for (size_t i = 0; i < header.size(); ++i) {
    std::string h = to_lower(header[i]);
    if (h == "barcode" || h == "barcodes" || h == "cell" || h == "cell_id" || h == "obs_names" || h == "index") {
      key = i;
      break;
    }
  }
  std::vector<std::vector<std::string>> columns(header.size());
  while (reader.next_line(line)) {
    if (trim(line).empty()) continue;
    auto fields = parse_delimited(line, delimiter);
    if (fields.size() != header.size())
      fail("{}: line {} has {} fields, the header has {}", path, reader.line_number(), fields.size(), header.size());
    for (size_t i = 0; i < fields.size(); ++i) columns[i].push_back(std::move(fields[i]));
  }
  DataFrame frame;
  frame.index = columns[key];
  for (size_t i = 0; i < header.size(); ++i)
    if (i != key) frame.columns.push_back(typed_column(header[i].empty() ? "label" : header[i], columns[i]));
  return frame;
}

LabelJoinReport join_labels(AnnData& data, const std::string& table_path) {
  DataFrame table = read_table(table_path);
  std::unordered_map<std::string, int64_t> row_of;
  for (size_t i = 0; i < table.index.size(); ++i) row_of.emplace(table.index[i], static_cast<int64_t>(i));
  std::vector<int64_t> source(data.n_cells(), -1);
  LabelJoinReport report;
  for (int64_t c = 0; c < data.n_cells(); ++c) {
    auto it = row_of.find(data.obs.index[c]);
    if (it != row_of.end()) {
      source[c] = it->second;
      ++report.matched;
    }
  }
  if (report.matched == 0)
    fail("{}: no barcode matches a cell of {} (first barcodes: table '{}', data '{}')", table_path, data.source,
         table.index.empty() ? "" : table.index.front(), data.obs.index.empty() ? "" : data.obs.index.front());
  report.unmatched_cells = data.n_cells() - report.matched;
  report.unused_rows = static_cast<int64_t>(table.index.size()) - report.matched;
  for (const auto& column : table.columns) {
    Column joined;
    joined.name = column.name;
    joined.kind = column.kind;
    joined.categories = column.categories;
    for (int64_t c = 0; c < data.n_cells(); ++c) {
      int64_t r = source[c];
      if (column.kind == ColumnKind::Categorical) joined.codes.push_back(r < 0 ? -1 : column.codes[r]);
      else joined.floats.push_back(r < 0 ? std::nan("") : column.floats[r]);
    }
    data.obs.set(std::move(joined));
    report.columns.push_back(column.name);
  }
  return report;
}

}  // namespace marrow::io
