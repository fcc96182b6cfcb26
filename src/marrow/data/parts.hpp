#pragma once
// Which cells of a dataset train, validate (early stopping) and test, from the command line's split
// choice: a saved split file, a new split (random, stratified:COL, group:COL), or none (all cells
// train). A validation part the split lacks is carved from the training cells at random.
// Commands that train read the training (and validation) part; commands that evaluate or apply a
// model read one Part of the same choice, so every command names its cells the same way.
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "marrow/core/enum_names.hpp"
#include "marrow/data/frame.hpp"
#include "marrow/data/split.hpp"

namespace marrow {

struct SplitChoice {
  std::string spec;            // "", random, stratified:COL, group:COL
  std::string file;            // a saved split (JSON)
  std::string stratify;        // group splits: hold out groups within each value of this column
  double test_fraction = 0.3;
  double validation_fraction = 0.0;  // of the training cells, for early stopping
  uint64_t seed = 0;
};

struct Parts {
  std::optional<Split> split;
  std::vector<int64_t> train, validation, test;  // rows of the dataset
};

enum class Part { Train, Validation, Test };

template <>
struct EnumNames<Part> {
  static constexpr const char* what = "part";
  static constexpr std::array<std::pair<Part, const char*>, 3> table{
      {{Part::Train, "train"}, {Part::Validation, "validation"}, {Part::Test, "test"}}};
};

// The split a choice names: read from its file, drawn anew from its spec, or none.
std::optional<Split> split_of(const DataFrame& obs, const SplitChoice& choice);

Parts resolve_parts(const DataFrame& obs, const SplitChoice& choice, const std::string& source);

// The rows of `obs` in one part of the chosen split; every row where the choice names no split.
// Fails (naming `source`) when the part has none of the rows.
std::vector<int64_t> part_rows(const DataFrame& obs, const SplitChoice& choice, Part part, const std::string& source);


}  // namespace marrow
