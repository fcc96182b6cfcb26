#include "marrow/gil/replay.hpp"

#include <algorithm>
#include <map>

#include "marrow/core/error.hpp"

namespace marrow::gil {

ReplayBuffer::ReplayBuffer(int64_t capacity, ReplaySelection selection, uint64_t seed)
    : capacity_(capacity), selection_(selection), rng_(seed) {
  if (capacity < 0) fail("--replay-size must not be negative, got {}", capacity);
}

namespace {
// Up to `count` items of `from`, drawn without replacement, in their original order.
std::vector<ReplayItem> draw(const std::vector<ReplayItem>& from, size_t count, Rng& rng) {
  std::vector<size_t> idx(from.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  shuffle(idx, rng);
  idx.resize(std::min(count, idx.size()));
  std::sort(idx.begin(), idx.end());
  std::vector<ReplayItem> out;
  for (size_t i : idx) out.push_back(from[i]);
  return out;
}

// Shares `capacity` slots among groups of the given sizes as evenly as possible (spare slots of
// small groups go to the others).
std::vector<size_t> even_quotas(const std::vector<size_t>& sizes, size_t capacity) {
  std::vector<size_t> quota(sizes.size(), 0);
  size_t left = capacity;
  bool grew = true;
  while (left > 0 && grew) {
    grew = false;
    for (size_t g = 0; g < sizes.size() && left > 0; ++g)
      if (quota[g] < sizes[g]) ++quota[g], --left, grew = true;
  }
  return quota;
}

// `capacity` items shared evenly among the groups (stages or classes), each group's drawn at random.
std::vector<ReplayItem> draw_evenly(const std::map<int, std::vector<ReplayItem>>& groups, size_t capacity, Rng& rng) {
  std::vector<size_t> sizes;
  for (const auto& [key, items] : groups) sizes.push_back(items.size());
  std::vector<size_t> quota = even_quotas(sizes, capacity);
  std::vector<ReplayItem> out;
  size_t g = 0;
  for (const auto& [key, items] : groups) {
    auto kept = draw(items, quota[g++], rng);
    out.insert(out.end(), kept.begin(), kept.end());
  }
  return out;
}
}  // namespace

void ReplayBuffer::add_stage(int stage, int64_t n_cells, const std::vector<int>& labels) {
  if (!labels.empty() && static_cast<int64_t>(labels.size()) != n_cells) fail("replay: {} labels for {} cells", labels.size(), n_cells);
  if (selection_ == ReplaySelection::ClassBalanced && labels.empty()) fail("replay: class_balanced selection needs a label (--label)");
  ++stages_;
  std::vector<ReplayItem> offered;
  for (int64_t r = 0; r < n_cells; ++r) offered.push_back({stage, r, labels.empty() ? -1 : labels[static_cast<size_t>(r)]});
  const size_t capacity = static_cast<size_t>(capacity_);
  switch (selection_) {
    case ReplaySelection::Reservoir:
      for (const ReplayItem& item : offered) {
        if (items_.size() < capacity) {
          items_.push_back(item);
        } else if (capacity > 0) {
          uint64_t j = uniform_index(rng_, static_cast<uint64_t>(stream_position_ + 1));
          if (j < capacity) items_[j] = item;
        }
        ++stream_position_;
      }
      break;
    case ReplaySelection::Random: {
      // Equal shares per stage: what each earlier stage keeps is a random subset of what it had.
      std::map<int, std::vector<ReplayItem>> by_stage;
      for (const ReplayItem& item : items_) by_stage[item.stage].push_back(item);
      by_stage[stage] = offered;
      items_ = draw_evenly(by_stage, capacity, rng_);
      break;
    }
    case ReplaySelection::ClassBalanced: {
      seen_.insert(seen_.end(), offered.begin(), offered.end());
      std::map<int, std::vector<ReplayItem>> by_class;
      for (const ReplayItem& item : seen_) by_class[item.label].push_back(item);
      items_ = draw_evenly(by_class, capacity, rng_);
      break;
    }
  }
}

}  // namespace marrow::gil
