#pragma once
// Train / validation / test splits of cells, seeded and saved with a run so that every later step
// (preprocessing statistics, pretraining, classifiers) uses the same cells. Three kinds:
//   random       cells drawn at random
//   stratified   the same fraction drawn within each label
//   group        whole groups (patients, donors) held out: the honest protocol when cells of one
//                patient resemble each other more than cells of another
// Parts are stored as cell names, so a saved split applies to the same file after any subsetting.
#include <array>
#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "marrow/core/enum_names.hpp"
#include "marrow/data/frame.hpp"

namespace marrow {

enum class SplitKind { Random, Stratified, Group };

template <>
struct EnumNames<SplitKind> {
  static constexpr const char* what = "split kind";
  static constexpr std::array<std::pair<SplitKind, const char*>, 3> table{
      {{SplitKind::Random, "random"}, {SplitKind::Stratified, "stratified"}, {SplitKind::Group, "group"}}};
};

struct SplitOptions {
  SplitKind kind = SplitKind::Random;
  std::string column;                    // label (stratified) or group column (group)
  double test_fraction = 0.3;            // of cells; of groups for the group kind
  double validation_fraction = 0.0;      // of the cells left after the test part
  uint64_t seed = 0;
  std::vector<std::string> test_groups;  // group kind: hold out exactly these (else drawn)
  // group kind: draw held-out groups within each value of this column (a group's majority value),
  // e.g. "condition", so that AML patients and healthy donors are both held out and both trained on.
  std::string stratify;
};

// "random", "stratified:COL", "group:COL"
SplitOptions parse_split_spec(const std::string& spec);

struct Split {
  SplitOptions options;
  std::vector<std::string> train, validation, test;  // cell names
  std::vector<std::string> test_groups, validation_groups;

  // Row numbers of a part's cells in `obs` (cells absent from obs are skipped).
  std::vector<int64_t> rows(const DataFrame& obs, const std::string& part) const;
  nlohmann::json to_json() const;
  static Split from_json(const nlohmann::json& json);
  std::string summary() const;
};

Split make_split(const DataFrame& obs, const SplitOptions& options);

// The rows of each group (value of `column`) among `rows`; rows with no value are left out.
using GroupMembers = std::map<std::string, std::vector<int64_t>>;
GroupMembers group_members(const std::vector<int64_t>& rows, const Column& column);
// The groups of each stratum, in name order: a group's stratum is the most common value of `strata`
// among its cells; one stratum ("") without strata.
std::map<std::string, std::vector<std::string>> groups_by_stratum(const GroupMembers& members, const Column* strata);

}  // namespace marrow
