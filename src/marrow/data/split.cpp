#include "marrow/data/split.hpp"

#include <algorithm>
#include <fmt/ranges.h>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

#include "marrow/core/error.hpp"
#include "marrow/core/random.hpp"

namespace marrow {

namespace {

// Draws round(fraction * n) of `rows` (shuffled with rng) into `taken`, the rest into `left`.
void draw(std::vector<int64_t> rows, double fraction, Rng& rng, std::vector<int64_t>& taken, std::vector<int64_t>& left) {
  shuffle(rows, rng);
  auto n = static_cast<size_t>(std::llround(fraction * static_cast<double>(rows.size())));
  taken.insert(taken.end(), rows.begin(), rows.begin() + n);
  left.insert(left.end(), rows.begin() + n, rows.end());
}

struct GroupDraw {
  std::vector<int64_t> taken, left;
  std::vector<std::string> groups;
};

// Whole groups held out: round(fraction x groups) of them, as scikit-learn's GroupShuffleSplit
// counts, drawn in a seeded order within each stratum (one stratum unless `strata` is given). A
// stratum with two or more groups holds out at least one and keeps at least one for training.
GroupDraw draw_groups(const std::vector<int64_t>& rows, const Column& column, double fraction, Rng& rng,
                      const std::vector<std::string>& fixed, const Column* strata) {
  const GroupMembers members = group_members(rows, column);
  if (members.size() < 2) fail("split by group '{}' needs at least 2 groups, found {}", column.name, members.size());
  GroupDraw out;
  std::unordered_set<std::string> chosen;
  if (!fixed.empty()) {
    for (const auto& g : fixed) {
      if (!members.count(g)) fail("split: group '{}' not found in column '{}'", g, column.name);
      chosen.insert(g);
      out.groups.push_back(g);
    }
  } else {
    for (auto& [stratum, groups] : groups_by_stratum(members, strata)) {
      if (groups.size() < 2) continue;  // a lone group of its kind stays in training
      shuffle(groups, rng);
      auto n = static_cast<size_t>(std::llround(fraction * static_cast<double>(groups.size())));
      n = std::clamp<size_t>(n, 1, groups.size() - 1);
      for (size_t i = 0; i < n; ++i) {
        chosen.insert(groups[i]);
        out.groups.push_back(groups[i]);
      }
    }
    if (chosen.empty()) {  // every stratum had a single group: hold out the first group drawn
      std::vector<std::string> all;
      for (const auto& [g, _] : members) all.push_back(g);
      shuffle(all, rng);
      chosen.insert(all.front());
      out.groups.push_back(all.front());
    }
    if (chosen.size() == members.size()) fail("split by group '{}': no group left for training", column.name);
  }
  for (const auto& [g, cells] : members) {
    auto& side = chosen.count(g) ? out.taken : out.left;
    side.insert(side.end(), cells.begin(), cells.end());
  }
  std::sort(out.taken.begin(), out.taken.end());
  std::sort(out.left.begin(), out.left.end());
  return out;
}

}  // namespace

GroupMembers group_members(const std::vector<int64_t>& rows, const Column& column) {
  GroupMembers members;
  for (int64_t r : rows)
    if (!column.is_missing(r)) members[column.text(r)].push_back(r);
  return members;
}

std::map<std::string, std::vector<std::string>> groups_by_stratum(const GroupMembers& members, const Column* strata) {
  std::map<std::string, std::vector<std::string>> by_stratum;
  for (const auto& [g, cells] : members) {
    std::string stratum;
    if (strata) {
      std::map<std::string, int64_t> counts;
      for (int64_t r : cells) ++counts[strata->text(r)];
      stratum = std::max_element(counts.begin(), counts.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
    }
    by_stratum[stratum].push_back(g);
  }
  return by_stratum;
}

SplitOptions parse_split_spec(const std::string& spec) {
  SplitOptions options;
  if (spec == enum_name(SplitKind::Random)) return options;
  const size_t colon = spec.find(':');
  if (colon != std::string::npos && colon + 1 < spec.size())
    for (const auto& [kind, name] : EnumNames<SplitKind>::table)
      if (kind != SplitKind::Random && spec.compare(0, colon, name) == 0) {
        options.kind = kind;
        options.column = spec.substr(colon + 1);
        return options;
      }
  fail("split '{}': expected random, stratified:COLUMN or group:COLUMN", spec);
}

Split make_split(const DataFrame& obs, const SplitOptions& options) {
  if (!(options.test_fraction > 0 && options.test_fraction < 1) && options.test_groups.empty())
    fail("test fraction must be in (0, 1), got {}", options.test_fraction);
  if (options.validation_fraction < 0 || options.validation_fraction >= 1)
    fail("validation fraction must be in [0, 1), got {}", options.validation_fraction);
  Split split;
  split.options = options;
  Rng rng(options.seed);
  std::vector<int64_t> all(obs.rows());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  std::vector<int64_t> test, rest, validation, train;

  if (options.kind == SplitKind::Group) {
    const Column& column = obs.require(options.column);
    const Column* strata = options.stratify.empty() ? nullptr : &obs.require(options.stratify);
    GroupDraw t = draw_groups(all, column, options.test_fraction, rng, options.test_groups, strata);
    test = std::move(t.taken);
    rest = std::move(t.left);
    split.test_groups = t.groups;
    if (options.validation_fraction > 0) {
      GroupDraw v = draw_groups(rest, column, options.validation_fraction, rng, {}, strata);
      validation = std::move(v.taken);
      train = std::move(v.left);
      split.validation_groups = v.groups;
    } else {
      train = std::move(rest);
    }
  } else {
    // Strata: one per label value (stratified) or a single one (random).
    std::map<std::string, std::vector<int64_t>> strata;
    if (options.kind == SplitKind::Stratified) {
      const Column& column = obs.require(options.column);
      for (int64_t r : all) strata[column.is_missing(r) ? "" : column.text(r)].push_back(r);
    } else {
      strata[""] = all;
    }
    for (auto& [_, rows] : strata) {
      std::vector<int64_t> left;
      draw(rows, options.test_fraction, rng, test, left);
      if (options.validation_fraction > 0) draw(left, options.validation_fraction, rng, validation, train);
      else train.insert(train.end(), left.begin(), left.end());
    }
    for (auto* part : {&test, &validation, &train}) std::sort(part->begin(), part->end());
  }
  if (train.empty()) fail("split leaves no training cells");
  if (test.empty()) fail("split leaves no test cells (too few cells for a {:.0f}% test part)", 100 * options.test_fraction);
  auto names = [&](const std::vector<int64_t>& rows) {
    std::vector<std::string> out;
    out.reserve(rows.size());
    for (int64_t r : rows) out.push_back(obs.index[r]);
    return out;
  };
  split.train = names(train);
  split.validation = names(validation);
  split.test = names(test);
  return split;
}

std::vector<int64_t> Split::rows(const DataFrame& obs, const std::string& part) const {
  const std::vector<std::string>* cells = part == "train" ? &train : part == "validation" ? &validation
                                          : part == "test" ? &test : nullptr;
  if (!cells) fail("unknown split part '{}' (train, validation or test)", part);
  std::unordered_set<std::string> wanted(cells->begin(), cells->end());
  std::vector<int64_t> out;
  for (size_t r = 0; r < obs.rows(); ++r)
    if (wanted.count(obs.index[r])) out.push_back(static_cast<int64_t>(r));
  return out;
}

nlohmann::json Split::to_json() const {
  return {{"kind", options.kind},
          {"column", options.column},
          {"test_fraction", options.test_fraction},
          {"validation_fraction", options.validation_fraction},
          {"seed", options.seed},
          {"stratify", options.stratify},
          {"test_groups", test_groups},
          {"validation_groups", validation_groups},
          {"train", train},
          {"validation", validation},
          {"test", test}};
}

Split Split::from_json(const nlohmann::json& json) {
  try {
    Split s;
    s.options.kind = json.at("kind");
    s.options.column = json.value("column", "");
    s.options.test_fraction = json.value("test_fraction", 0.3);
    s.options.validation_fraction = json.value("validation_fraction", 0.0);
    s.options.seed = json.value("seed", uint64_t{0});
    s.options.stratify = json.value("stratify", "");
    s.test_groups = json.value("test_groups", std::vector<std::string>{});
    s.validation_groups = json.value("validation_groups", std::vector<std::string>{});
    s.train = json.at("train").get<std::vector<std::string>>();
    s.validation = json.value("validation", std::vector<std::string>{});
    s.test = json.at("test").get<std::vector<std::string>>();
    return s;
  } catch (const nlohmann::json::exception& e) {
    fail("not a marrow split: {}", e.what());
  }
}

std::string Split::summary() const {
  std::string text = fmt::format("{} split (seed {}): {} train, {} validation, {} test cells", options.kind,
                                 options.seed, train.size(), validation.size(), test.size());
  if (!test_groups.empty()) text += fmt::format("; test {}s: {}", options.column, fmt::join(test_groups, ","));
  if (!validation_groups.empty()) text += fmt::format("; validation {}s: {}", options.column, fmt::join(validation_groups, ","));
  return text;
}

}  // namespace marrow
