#include "marrow/data/parts.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "marrow/core/error.hpp"
#include "marrow/core/json_util.hpp"
#include "marrow/core/random.hpp"
#include "marrow/data/selection.hpp"

namespace marrow {

std::optional<Split> split_of(const DataFrame& obs, const SplitChoice& choice) {
  if (!choice.file.empty() && !choice.spec.empty()) fail("give either a split file or a split kind, not both");
  if (!choice.file.empty()) return Split::from_json(read_json_file(choice.file));
  if (choice.spec.empty()) return std::nullopt;
  SplitOptions options = parse_split_spec(choice.spec);
  options.test_fraction = choice.test_fraction;
  options.stratify = choice.stratify;
  options.seed = choice.seed;
  return make_split(obs, options);
}

Parts resolve_parts(const DataFrame& obs, const SplitChoice& choice, const std::string& source) {
  Parts parts;
  parts.split = split_of(obs, choice);
  if (parts.split) {
    parts.train = parts.split->rows(obs, "train");
    parts.validation = parts.split->rows(obs, "validation");
    parts.test = parts.split->rows(obs, "test");
    if (parts.train.empty()) fail("{}: none of the split's training cells is among the selected cells", source);
    spdlog::info("{}", parts.split->summary());
  } else {
    parts.train = all_rows(static_cast<int64_t>(obs.rows()));
  }
  if (parts.validation.empty() && choice.validation_fraction > 0) {
    Rng rng(choice.seed + 17);
    std::vector<int64_t> order = parts.train;
    shuffle(order, rng);
    auto n = static_cast<size_t>(std::llround(choice.validation_fraction * static_cast<double>(order.size())));
    if (n > 0 && n < order.size()) {
      parts.validation.assign(order.begin(), order.begin() + n);
      parts.train.assign(order.begin() + n, order.end());
      std::sort(parts.validation.begin(), parts.validation.end());
      std::sort(parts.train.begin(), parts.train.end());
    }
  }
  return parts;
}

std::vector<int64_t> part_rows(const DataFrame& obs, const SplitChoice& choice, Part part, const std::string& source) {
  const std::optional<Split> split = split_of(obs, choice);
  if (!split) return all_rows(static_cast<int64_t>(obs.rows()));
  std::vector<int64_t> rows = split->rows(obs, enum_name(part));
  const std::string which = choice.file.empty() ? fmt::format("split {}", choice.spec) : choice.file;
  if (rows.empty()) fail("{}: no selected cell is in the {} part of {}", source, enum_name(part), which);
  return rows;
}


}  // namespace marrow
