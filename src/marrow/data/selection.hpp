#pragma once
// Cell selection by obs values, as typed on the command line:
//   "cell_type=HSC,Prog,GMP"                 one column, any of the values
//   "cell_type=HSC,Prog;condition=AML"       several conditions, all must hold (';' or ' & ')
//   "cell_type!=T,NK"  "n_genes>=500"        negation; comparisons on numeric columns
// Values are matched on their text (categories, strings, numbers, true/false).
#include <string>
#include <vector>

#include "marrow/data/frame.hpp"

namespace marrow {

struct Condition {
  std::string column;
  std::string op;  // "=", "!=", "<", "<=", ">", ">="
  std::vector<std::string> values;
};

struct CellSelection {
  std::vector<Condition> conditions;
  bool empty() const { return conditions.empty(); }
  std::string describe() const;
};

CellSelection parse_selection(const std::string& text);

// Every row 0..n-1, in order (no selection).
std::vector<int64_t> all_rows(int64_t n);

// Indices of the rows that satisfy every condition. Fails on an unknown column and when nothing
// matches; warns about listed values that occur nowhere (likely typos).
std::vector<int64_t> select_rows(const DataFrame& obs, const CellSelection& selection, const std::string& source = "");

// Rows whose value in `column` is not missing (the labelled cells), in order.
std::vector<int64_t> rows_with_value(const Column& column);

// A seeded share of `rows` within each value of `labels` (at least one row per value), in row
// order: a label budget, as when only a few cells are annotated.
std::vector<int64_t> stratified_sample(const Column& labels, const std::vector<int64_t>& rows, double fraction, uint64_t seed);

}  // namespace marrow
