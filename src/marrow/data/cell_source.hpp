#pragma once
// One interface for "cells to read in blocks" (as tatami's Matrix is for matrices): how many cells,
// which genes their counts are over, and a visit of the raw counts a block of rows at a time. Cells
// held in memory and cells streamed from an .h5ad a chunk at a time are both CellSources, so every
// consumer is written once for both. Today that is the encoders (`embed`); pretraining still reads
// its in-memory and streamed inputs through two paths per model kind (see docs/architecture.md).
//
// A block carries the positions (0..n_cells()-1) of its rows, in the order of the block's rows; the
// blocks together cover every position once. How big a block is belongs to the source: memory hands
// all cells as one block (no copy), a streamed file one chunk of rows per read.
#include <functional>
#include <span>
#include <string>

#include "marrow/data/anndata.hpp"

namespace marrow {

using CellBlockVisitor = std::function<void(const CsrMatrix& counts, std::span<const int64_t> positions)>;

class CellSource {
 public:
  virtual ~CellSource() = default;
  virtual int64_t n_cells() const = 0;
  // The genes of the counts' columns (var of the file).
  virtual const DataFrame& genes() const = 0;
  // The file the cells come from, for messages.
  virtual const std::string& name() const = 0;
  // Barcode of the cell at a position, for messages.
  virtual const std::string& cell_name(int64_t position) const = 0;
  // Visits every cell's raw counts, a block of rows at a time, in ascending position order.
  virtual void for_each_block(const CellBlockVisitor& visit) const = 0;
};

// The cells of an AnnData held in memory: one block of all of them, no copy. The AnnData must
// outlive the source.
class InMemoryCells final : public CellSource {
 public:
  explicit InMemoryCells(const AnnData& data) : data_(&data) {}
  int64_t n_cells() const override { return data_->n_cells(); }
  const DataFrame& genes() const override { return data_->var; }
  const std::string& name() const override { return data_->source; }
  const std::string& cell_name(int64_t position) const override { return data_->obs.index[position]; }
  void for_each_block(const CellBlockVisitor& visit) const override;

 private:
  const AnnData* data_;
};

}  // namespace marrow
