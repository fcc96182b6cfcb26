#include "marrow/data/row_stream.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "marrow/core/error.hpp"
#include "marrow/core/random.hpp"

namespace marrow {

RowChunks RowChunks::group(std::span<const int64_t> file_rows, int64_t chunk_cells) {
  if (chunk_cells <= 0) fail("chunk size must be positive, got {}", chunk_cells);
  std::map<int64_t, std::vector<int64_t>> by_chunk;
  for (size_t i = 0; i < file_rows.size(); ++i) by_chunk[file_rows[i] / chunk_cells].push_back(static_cast<int64_t>(i));
  RowChunks chunks;
  for (auto& [index, positions] : by_chunk) {
    std::sort(positions.begin(), positions.end(), [&](int64_t a, int64_t b) { return file_rows[a] < file_rows[b]; });
    chunks.chunk_index.push_back(index);
    chunks.positions.push_back(std::move(positions));
  }
  return chunks;
}

namespace {

// One rank's stream: its cells in chunk order, through a shuffle buffer (a full buffer gives up a
// random cell for each one that comes in; what is left at the end comes out shuffled).
std::vector<int64_t> buffered(const std::vector<int64_t>& cells, int64_t capacity, Rng& rng) {
  std::vector<int64_t> out, buffer;
  out.reserve(cells.size());
  for (int64_t position : cells) {
    if (static_cast<int64_t>(buffer.size()) < capacity) {
      buffer.push_back(position);
      continue;
    }
    auto slot = uniform_index(rng, buffer.size());
    out.push_back(buffer[slot]);
    buffer[slot] = position;
  }
  shuffle(buffer, rng);
  out.insert(out.end(), buffer.begin(), buffer.end());
  return out;
}

}  // namespace

std::vector<int64_t> stream_order(const RowChunks& chunks, const StreamOptions& options, int64_t batch_size, int world,
                                  uint64_t seed) {
  if (options.shuffle_buffer <= 0) fail("shuffle buffer must be positive, got {}", options.shuffle_buffer);
  if (batch_size <= 0 || world <= 0) fail("batch size and ranks must be positive");
  Rng rng(seed);
  std::vector<size_t> visit(chunks.size());
  for (size_t i = 0; i < visit.size(); ++i) visit[i] = i;
  shuffle(visit, rng);
  int64_t total = 0;
  for (const auto& c : chunks.positions) total += static_cast<int64_t>(c.size());
  // How many cells each rank takes over the epoch (its share of every batch) ...
  std::vector<int64_t> takes(world, 0);
  for (int64_t start = 0; start < total; start += batch_size)
    for (int r = 0; r < world; ++r) {
      auto [begin, end] = rank_share(std::min(batch_size, total - start), r, world);
      takes[r] += end - begin;
    }
  // ... is how many it gets of the shuffled chunks, in one run: rank r reads its own run of chunks
  // and shares at most the two at its ends with its neighbours.
  std::vector<std::vector<int64_t>> cells(world);
  int r = 0;
  for (size_t k : visit)
    for (int64_t position : chunks.positions[k]) {
      while (static_cast<int64_t>(cells[r].size()) == takes[r]) ++r;
      cells[r].push_back(position);
    }
  const int64_t capacity = std::max<int64_t>(1, options.shuffle_buffer / world);
  std::vector<std::vector<int64_t>> streams;
  for (int q = 0; q < world; ++q) streams.push_back(buffered(cells[q], capacity, rng));
  std::vector<size_t> next(world, 0);
  std::vector<int64_t> order;
  order.reserve(static_cast<size_t>(total));
  for (int64_t start = 0; start < total; start += batch_size)
    for (int q = 0; q < world; ++q) {
      auto [begin, end] = rank_share(std::min(batch_size, total - start), q, world);
      for (int64_t i = begin; i < end; ++i) order.push_back(streams[q][next[q]++]);
    }
  return order;
}

std::vector<int64_t> rank_positions(std::span<const int64_t> order, int64_t batch_size, int rank, int world) {
  std::vector<int64_t> mine;
  const auto n = static_cast<int64_t>(order.size());
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t global = std::min(batch_size, n - start);
    auto [begin, end] = rank_share(global, rank, world);
    mine.insert(mine.end(), order.begin() + start + begin, order.begin() + start + end);
  }
  return mine;
}

double mean_over_batches(std::span<const int64_t> rows, int64_t batch_size,
                         const std::function<double(std::span<const int64_t>)>& batch_mean) {
  if (rows.empty()) return NAN;
  if (batch_size <= 0) fail("batch size must be positive, got {}", batch_size);
  double total = 0;
  for (size_t start = 0; start < rows.size(); start += static_cast<size_t>(batch_size)) {
    auto batch = rows.subspan(start, std::min(static_cast<size_t>(batch_size), rows.size() - start));
    total += batch_mean(batch) * static_cast<double>(batch.size());
  }
  return total / static_cast<double>(rows.size());
}

std::vector<size_t> rank_chunks(size_t n_chunks, int rank, int world) {
  std::vector<size_t> mine;
  for (size_t k = static_cast<size_t>(rank); k < n_chunks; k += static_cast<size_t>(world)) mine.push_back(k);
  return mine;
}

}  // namespace marrow
