#include "marrow/data/frame.hpp"

#include <cmath>
#include <unordered_map>

#include "marrow/core/error.hpp"
#include "marrow/core/strings.hpp"

namespace marrow {

const char* column_kind_name(ColumnKind kind) {
  switch (kind) {
    case ColumnKind::String: return "string";
    case ColumnKind::Categorical: return "categorical";
    case ColumnKind::Float: return "float";
    case ColumnKind::Int: return "int";
    case ColumnKind::Bool: return "bool";
  }
  return "?";
}

size_t Column::size() const {
  switch (kind) {
    case ColumnKind::String: return strings.size();
    case ColumnKind::Categorical: return codes.size();
    case ColumnKind::Float: return floats.size();
    case ColumnKind::Int: return ints.size();
    case ColumnKind::Bool: return bools.size();
  }
  return 0;
}

bool Column::is_missing(size_t row) const {
  if (kind == ColumnKind::Categorical) return codes[row] < 0;
  if (kind == ColumnKind::Float) return std::isnan(floats[row]);
  return false;
}

std::string Column::text(size_t row) const {
  switch (kind) {
    case ColumnKind::String: return strings[row];
    case ColumnKind::Categorical: return codes[row] < 0 ? "" : categories[codes[row]];
    case ColumnKind::Float: {
      double v = floats[row];
      if (std::isnan(v)) return "";
      if (v == std::floor(v) && std::abs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
      return fmt::format("{}", v);
    }
    case ColumnKind::Int: return std::to_string(ints[row]);
    case ColumnKind::Bool: return bools[row] ? "true" : "false";
  }
  return "";
}

double Column::number(size_t row) const {
  switch (kind) {
    case ColumnKind::Float: return floats[row];
    case ColumnKind::Int: return static_cast<double>(ints[row]);
    case ColumnKind::Bool: return bools[row];
    default: fail("column '{}' is {}, not numeric", name, column_kind_name(kind));
  }
}

std::vector<std::pair<std::string, int64_t>> Column::value_counts() const {
  std::vector<std::pair<std::string, int64_t>> counts;
  if (kind == ColumnKind::Categorical) {
    for (const auto& c : categories) counts.emplace_back(c, 0);
    for (int32_t code : codes)
      if (code >= 0) ++counts[code].second;
    return counts;
  }
  std::unordered_map<std::string, size_t> position;
  for (size_t i = 0; i < size(); ++i) {
    if (is_missing(i)) continue;
    std::string value = text(i);
    auto [it, inserted] = position.emplace(value, counts.size());
    if (inserted) counts.emplace_back(value, 0);
    ++counts[it->second].second;
  }
  return counts;
}

Column Column::subset(const std::vector<int64_t>& rows) const {
  Column out;
  out.name = name;
  out.kind = kind;
  out.categories = categories;
  out.ordered = ordered;
  for (int64_t r : rows) {
    switch (kind) {
      case ColumnKind::String: out.strings.push_back(strings[r]); break;
      case ColumnKind::Categorical: out.codes.push_back(codes[r]); break;
      case ColumnKind::Float: out.floats.push_back(floats[r]); break;
      case ColumnKind::Int: out.ints.push_back(ints[r]); break;
      case ColumnKind::Bool: out.bools.push_back(bools[r]); break;
    }
  }
  return out;
}

Column Column::make_strings(std::string name, std::vector<std::string> values) {
  Column c;
  c.name = std::move(name);
  c.kind = ColumnKind::String;
  c.strings = std::move(values);
  return c;
}

Column Column::make_floats(std::string name, std::vector<double> values) {
  Column c;
  c.name = std::move(name);
  c.kind = ColumnKind::Float;
  c.floats = std::move(values);
  return c;
}

Column Column::make_ints(std::string name, std::vector<int64_t> values) {
  Column c;
  c.name = std::move(name);
  c.kind = ColumnKind::Int;
  c.ints = std::move(values);
  return c;
}

Column Column::make_bools(std::string name, std::vector<uint8_t> values) {
  Column c;
  c.name = std::move(name);
  c.kind = ColumnKind::Bool;
  c.bools = std::move(values);
  return c;
}

Column Column::make_categorical(std::string name, const std::vector<std::string>& values,
                                std::vector<std::string> categories) {
  Column c;
  c.name = std::move(name);
  c.kind = ColumnKind::Categorical;
  std::unordered_map<std::string, int32_t> code_of;
  for (size_t i = 0; i < categories.size(); ++i) code_of.emplace(categories[i], static_cast<int32_t>(i));
  bool fixed = !categories.empty();
  c.codes.reserve(values.size());
  for (const auto& v : values) {
    auto it = code_of.find(v);
    if (it == code_of.end()) {
      if (fixed || v.empty()) {
        c.codes.push_back(-1);
        continue;
      }
      it = code_of.emplace(v, static_cast<int32_t>(categories.size())).first;
      categories.push_back(v);
    }
    c.codes.push_back(it->second);
  }
  c.categories = std::move(categories);
  return c;
}

const Column* DataFrame::find(const std::string& name) const {
  for (const auto& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

const Column& DataFrame::require(const std::string& name, const std::string& what) const {
  if (const Column* c = find(name)) return *c;
  fail("unknown {} column '{}'; available: {}", what, name, columns.empty() ? "(none)" : join_limited(column_names(), 40));
}

std::vector<std::string> DataFrame::column_names() const {
  std::vector<std::string> names;
  for (const auto& c : columns) names.push_back(c.name);
  return names;
}

void DataFrame::set(Column column) {
  if (column.size() != rows()) fail("internal: column '{}' has {} values for {} rows", column.name, column.size(), rows());
  for (auto& c : columns) {
    if (c.name == column.name) {
      c = std::move(column);
      return;
    }
  }
  columns.push_back(std::move(column));
}

DataFrame DataFrame::subset(const std::vector<int64_t>& rows) const {
  DataFrame out;
  out.index.reserve(rows.size());
  for (int64_t r : rows) out.index.push_back(index[r]);
  for (const auto& c : columns) out.columns.push_back(c.subset(rows));
  return out;
}

}  // namespace marrow
