#include "marrow/data/selection.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <fmt/ranges.h>
#include <numeric>
#include <unordered_set>

#include "marrow/core/error.hpp"
#include "marrow/core/random.hpp"
#include "marrow/core/strings.hpp"

namespace marrow {

namespace {

std::vector<std::string> split_conditions(const std::string& text) {
  std::string normalised = text;
  for (size_t pos; (pos = normalised.find(" & ")) != std::string::npos;) normalised.replace(pos, 3, ";");
  std::vector<std::string> parts;
  for (auto& part : split(normalised, ';'))
    if (!trim(part).empty()) parts.emplace_back(trim(part));
  return parts;
}

}  // namespace

CellSelection parse_selection(const std::string& text) {
  CellSelection selection;
  for (const auto& part : split_conditions(text)) {
    Condition c;
    size_t pos = std::string::npos;
    for (const char* op : {"!=", "<=", ">=", "=", "<", ">"}) {
      pos = part.find(op);
      if (pos != std::string::npos) {
        c.op = op;
        break;
      }
    }
    if (pos == std::string::npos || pos == 0)
      fail("cell selection '{}': expected COLUMN=VALUE[,VALUE...] (or !=, <, <=, >, >=)", part);
    c.column = std::string(trim(std::string_view(part).substr(0, pos)));
    std::string rest = part.substr(pos + c.op.size());
    for (auto& v : split(rest, ','))
      if (!trim(v).empty()) c.values.emplace_back(trim(v));
    if (c.values.empty()) fail("cell selection '{}': no value after '{}'", part, c.op);
    if (c.op != "=" && c.op != "!=" && c.values.size() != 1)
      fail("cell selection '{}': '{}' takes one number", part, c.op);
    selection.conditions.push_back(std::move(c));
  }
  if (selection.conditions.empty()) fail("empty cell selection");
  return selection;
}

std::string CellSelection::describe() const {
  std::vector<std::string> parts;
  for (const auto& c : conditions) parts.push_back(c.column + c.op + fmt::format("{}", fmt::join(c.values, ",")));
  return fmt::format("{}", fmt::join(parts, ";"));
}

std::vector<int64_t> select_rows(const DataFrame& obs, const CellSelection& selection, const std::string& source) {
  std::string prefix = source.empty() ? "" : source + ": ";
  std::vector<uint8_t> keep(obs.rows(), 1);
  std::vector<std::string> unseen;  // reported only when the selection as a whole matches cells
  for (const auto& condition : selection.conditions) {
    const Column* column = obs.find(condition.column);
    if (!column)
      fail("{}cell selection: unknown obs column '{}'; available: {}", prefix, condition.column,
           obs.columns.empty() ? "(none)" : join_limited(obs.column_names(), 40));
    if (condition.op == "=" || condition.op == "!=") {
      std::unordered_set<std::string> wanted(condition.values.begin(), condition.values.end());
      std::unordered_set<std::string> seen;
      for (size_t r = 0; r < obs.rows(); ++r) {
        std::string value = column->text(r);
        bool in = wanted.count(value) > 0;
        if (in) seen.insert(value);
        if (in != (condition.op == "=")) keep[r] = 0;
      }
      for (const auto& v : condition.values)
        if (!seen.count(v)) unseen.push_back(condition.column + "=" + v);
    } else {
      if (!column->is_numeric() && column->kind != ColumnKind::Bool)
        fail("{}cell selection: '{}' compares numbers but column '{}' is {}", prefix, condition.op, condition.column,
             column_kind_name(column->kind));
      double threshold = 0;
      if (!parse_double(condition.values[0], threshold))
        fail("{}cell selection: '{}' is not a number", prefix, condition.values[0]);
      for (size_t r = 0; r < obs.rows(); ++r) {
        double v = column->number(r);
        bool ok = condition.op == "<" ? v < threshold : condition.op == "<=" ? v <= threshold
                  : condition.op == ">" ? v > threshold : v >= threshold;
        if (!ok) keep[r] = 0;
      }
    }
  }
  std::vector<int64_t> rows;
  for (size_t r = 0; r < keep.size(); ++r)
    if (keep[r]) rows.push_back(static_cast<int64_t>(r));
  if (rows.empty()) fail("{}cell selection '{}' matches no cell", prefix, selection.describe());
  for (const auto& value : unseen) spdlog::warn("{}cell selection: no cell has {}", prefix, value);
  return rows;
}

std::vector<int64_t> all_rows(int64_t n) {
  std::vector<int64_t> rows(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
  return rows;
}

std::vector<int64_t> rows_with_value(const Column& column) {
  std::vector<int64_t> rows;
  for (size_t i = 0; i < column.size(); ++i)
    if (!column.is_missing(i)) rows.push_back(static_cast<int64_t>(i));
  return rows;
}

std::vector<int64_t> stratified_sample(const Column& labels, const std::vector<int64_t>& rows, double fraction, uint64_t seed) {
  std::map<std::string, std::vector<int64_t>> by_label;
  for (int64_t r : rows) by_label[labels.text(r)].push_back(r);
  Rng rng(seed + 17);
  std::vector<int64_t> kept;
  for (auto& [label, members] : by_label) {
    shuffle(members, rng);
    size_t take_n = std::max<size_t>(1, static_cast<size_t>(std::lround(fraction * static_cast<double>(members.size()))));
    kept.insert(kept.end(), members.begin(), members.begin() + static_cast<std::ptrdiff_t>(std::min(take_n, members.size())));
  }
  std::sort(kept.begin(), kept.end());
  return kept;
}

}  // namespace marrow
