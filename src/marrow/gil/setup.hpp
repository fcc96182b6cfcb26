#pragma once
// What every run of a `gil run` shares, built once from the plan and the loaded inputs (torch-free):
// the growing vocabulary (B, T0, T1, ... in order), each stage's training cells seeing B and Tk only,
// the gene sets scored after every stage with the held-out cells they are scored on, and the
// labelled probe tasks. Every strategy and seed reads the same Setup, so they are compared on the
// same cells.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "marrow/data/anndata.hpp"
#include "marrow/data/vocabulary.hpp"
#include "marrow/gil/options.hpp"
#include "marrow/gil/plan.hpp"
#include "marrow/preprocess/gene_tokens.hpp"

namespace marrow::gil {

// A gene set scored on its own: the base genes, or one stage's own genes.
struct GeneSet {
  std::string name;
  int introduced = 0;            // the stage that first trains it
  std::vector<uint8_t> member;   // per vocabulary gene
  int64_t size = 0;
};

// A labelled task tied to a stage: probe cells restricted to that stage's genes.
struct Task {
  std::string name;
  int stage = 0;
  std::vector<std::string> classes;
  preprocess::TokenCells train, test;
  std::vector<int> train_y, test_y;
};

struct Setup {
  StagePlan plan;
  std::vector<std::string> paths;                 // the inputs, in the plan's file order
  GeneVocabulary vocabulary;                      // B, T0, T1, ... in order
  std::vector<int64_t> prefix;                    // vocabulary size after stage k
  std::vector<std::vector<uint8_t>> stage_genes;  // per stage: B and Tk
  std::vector<preprocess::TokenCells> stage_cells;
  std::vector<std::vector<int>> stage_labels;     // class_balanced replay labels (-1: none)
  std::vector<GeneSet> sets;
  std::vector<Task> tasks;
};

// Called once per gene set, in order, with a seeded sample of its file's held-out cells seeing the
// genes of the stage that introduced the set (the caller masks them once, for every run).
using EvalCells = std::function<void(const GeneSet& set, const preprocess::TokenCells& cells, const std::string& path)>;

// files: the loaded inputs, checked against the plan. Fails when a probe task has too few labelled
// cells.
Setup build_setup(const RunOptions& options, const std::vector<AnnData>& files, const std::vector<std::string>& paths, StagePlan plan,
                  const EvalCells& eval_cells);

// Per gene of a vocabulary of n genes: 1 for the first `below`.
std::vector<uint8_t> first_genes(int64_t n, int64_t below);

// Cells restricted to `keep`, without the cells left with no expressed gene (their rows of `cells`
// in kept_rows when asked).
preprocess::TokenCells restricted(const preprocess::TokenCells& cells, const std::vector<uint8_t>& keep, std::vector<int64_t>* kept_rows = nullptr);

}  // namespace marrow::gil
