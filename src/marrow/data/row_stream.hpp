#pragma once
// The order in which a model trains on cells it reads from disk in blocks of rows (streaming): the
// file's row chunks are visited in a seeded random order, each chunk's cells pass through a shuffle
// buffer, and batches are drawn from the buffer. At any moment a process holds at most one chunk
// plus the buffer, whatever the file's size, and reads every chunk once per epoch.
//
// With W data-parallel ranks, the epoch's shuffled chunks are dealt out in runs, each rank getting
// exactly as many cells as its shares of the epoch's batches (train/trainer's contiguous split) add
// up to; each rank shuffles its run through its own buffer (capacity / W) and a global batch is every
// rank's share taken from that rank's stream. So a rank reads only its own chunks (and shares at
// most the two at the ends of its run). Unlike the in-memory order this one depends on W (as torch's
// DistributedSampler does): streamed runs on different numbers of ranks are not bitwise equal.
#include <cstdint>
#include <functional>
#include <span>
#include <utility>
#include <vector>

namespace marrow {

struct StreamOptions {
  int64_t chunk_cells = 4096;      // rows read from the file at a time
  int64_t shuffle_buffer = 32768;  // cells held for shuffling (over all ranks)
};

// Positions [begin, end) of rank `rank`'s share of n items split over `world` ranks.
inline std::pair<int64_t, int64_t> rank_share(int64_t n, int rank, int world) {
  return {n * rank / world, n * (rank + 1) / world};
}

// Positions 0..n-1 of the selected file rows grouped by the file chunk (file_row / chunk_cells) they
// lie in: chunks in file order, positions within a chunk by file row. Empty chunks are left out.
struct RowChunks {
  std::vector<int64_t> chunk_index;            // file chunk of each group
  std::vector<std::vector<int64_t>> positions;  // positions into file_rows
  static RowChunks group(std::span<const int64_t> file_rows, int64_t chunk_cells);
  size_t size() const { return positions.size(); }
};

// The epoch's order of all positions (a permutation of 0..n-1), as above. Deterministic in the seed.
std::vector<int64_t> stream_order(const RowChunks& chunks, const StreamOptions& options, int64_t batch_size,
                                  int world, uint64_t seed);

// The positions one rank takes from a global order: its share of each batch of batch_size.
std::vector<int64_t> rank_positions(std::span<const int64_t> order, int64_t batch_size, int rank, int world);

// The mean of a per-row quantity computed batch by batch (evaluation, validation): batch_mean gives
// one batch's mean, and batches weigh by their rows. NaN without rows.
double mean_over_batches(std::span<const int64_t> rows, int64_t batch_size,
                         const std::function<double(std::span<const int64_t>)>& batch_mean);

// Chunks rank `rank` reads when every rank visits its own share of them (statistics passes).
std::vector<size_t> rank_chunks(size_t n_chunks, int rank, int world);

}  // namespace marrow
