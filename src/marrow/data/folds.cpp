#include "marrow/data/folds.hpp"

#include <algorithm>
#include <numeric>

#include "marrow/core/error.hpp"
#include "marrow/core/random.hpp"

namespace marrow {

namespace {

std::vector<int64_t> all_rows(const DataFrame& obs) {
  std::vector<int64_t> rows(obs.rows());
  std::iota(rows.begin(), rows.end(), int64_t{0});
  return rows;
}

}  // namespace

std::vector<std::vector<std::string>> assign_group_folds(const DataFrame& obs, const FoldOptions& o) {
  const Column& column = obs.require(o.group_column);
  const Column* strata = o.stratify.empty() ? nullptr : &obs.require(o.stratify);
  const GroupMembers members = group_members(all_rows(obs), column);
  const auto n_groups = static_cast<int64_t>(members.size());
  const int64_t k = o.leave_one_group_out ? n_groups : o.folds;
  if (k < 2) fail("cross-validation needs at least 2 folds, got {}", k);
  if (n_groups < k)
    fail("cross-validation over '{}': {} folds need at least {} groups, found {}", o.group_column, k, k, n_groups);
  if (n_groups < 3) fail("cross-validation over '{}' needs at least 3 groups (test, validation, training), found {}", o.group_column, n_groups);
  // Deal each stratum's groups, shuffled, in turn; the next stratum starts where the last one
  // stopped, so fold sizes differ by at most one group.
  Rng rng(o.seed);
  std::vector<std::vector<std::string>> folds(static_cast<size_t>(k));
  size_t next = 0;
  for (auto& [stratum, groups] : groups_by_stratum(members, strata)) {
    shuffle(groups, rng);
    for (const auto& g : groups) folds[next++ % folds.size()].push_back(g);
  }
  for (auto& fold : folds) std::sort(fold.begin(), fold.end());
  return folds;
}

std::vector<Split> group_folds(const DataFrame& obs, const FoldOptions& o) {
  if (!(o.validation_fraction > 0 && o.validation_fraction < 1))
    fail("cross-validation: the validation fraction must be in (0, 1), got {}", o.validation_fraction);
  std::vector<Split> splits;
  for (const auto& test_groups : assign_group_folds(obs, o)) {
    SplitOptions s;
    s.kind = SplitKind::Group;
    s.column = o.group_column;
    s.stratify = o.stratify;
    s.test_groups = test_groups;
    s.validation_fraction = o.validation_fraction;
    s.seed = o.seed + splits.size();
    splits.push_back(make_split(obs, s));
  }
  return splits;
}

}  // namespace marrow
