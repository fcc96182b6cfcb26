#pragma once
// A small typed data frame for AnnData's obs and var: an index of names and typed columns.
// Categorical columns keep their categories and integer codes (-1 = missing), as pandas does.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace marrow {

enum class ColumnKind { String, Categorical, Float, Int, Bool };
const char* column_kind_name(ColumnKind kind);

struct Column {
  std::string name;
  ColumnKind kind = ColumnKind::String;
  std::vector<std::string> strings;     // String
  std::vector<std::string> categories;  // Categorical
  std::vector<int32_t> codes;           // Categorical, -1 = missing
  bool ordered = false;                 // Categorical
  std::vector<double> floats;           // Float
  std::vector<int64_t> ints;            // Int
  std::vector<uint8_t> bools;           // Bool

  size_t size() const;
  bool is_missing(size_t row) const;
  // The value as the text a user types in a selection ("HSC", "3", "true"; "" when missing).
  std::string text(size_t row) const;
  bool is_numeric() const { return kind == ColumnKind::Float || kind == ColumnKind::Int; }
  double number(size_t row) const;  // Float/Int/Bool only
  // Distinct values with their counts, in category order for categoricals, else by first appearance.
  std::vector<std::pair<std::string, int64_t>> value_counts() const;
  // Keeps the given rows, in order.
  Column subset(const std::vector<int64_t>& rows) const;

  static Column make_strings(std::string name, std::vector<std::string> values);
  static Column make_floats(std::string name, std::vector<double> values);
  static Column make_ints(std::string name, std::vector<int64_t> values);
  static Column make_bools(std::string name, std::vector<uint8_t> values);
  // Categories in order of first appearance unless given.
  static Column make_categorical(std::string name, const std::vector<std::string>& values,
                                 std::vector<std::string> categories = {});
};

struct DataFrame {
  std::vector<std::string> index;  // obs_names / var_names
  std::vector<Column> columns;

  size_t rows() const { return index.size(); }
  const Column* find(const std::string& name) const;
  // Fails with the list of available columns when absent.
  const Column& require(const std::string& name, const std::string& what = "obs") const;
  std::vector<std::string> column_names() const;
  // Adds or replaces a column (same length as the index).
  void set(Column column);
  DataFrame subset(const std::vector<int64_t>& rows) const;
};

}  // namespace marrow
